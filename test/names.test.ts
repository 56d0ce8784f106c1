// Suggestions for a mistyped feature name, and what a search may cost.
import t from 'tap';
import { FEATURE_NAMES } from '../src/catalogue.js';
import { closestName, type NameSearchWork } from '../src/service/names.js';

t.test('a typo or a part of a name suggests the name', async (t) => {
  t.equal(closestName('tcp_repiar', FEATURE_NAMES), 'tcp_repair');
  t.equal(closestName('KCMP', FEATURE_NAMES), 'kcmp');
  t.equal(closestName('tcp_rep', FEATURE_NAMES), 'tcp_repair');
  t.equal(closestName('zzzzzzzz', FEATURE_NAMES), undefined);
});

t.test('an input longer than any name could be a typo of costs no distance computation at all', async (t) => {
  const work: NameSearchWork = { cells: 0 };
  t.equal(closestName('x'.repeat(100), FEATURE_NAMES, work), undefined);
  t.equal(work.cells, 0);
});

t.test('any input costs at most what a name-length input does', async (t) => {
  const longest = Math.max(...FEATURE_NAMES.map((n) => n.length));
  const typo: NameSearchWork = { cells: 0 };
  closestName('y'.repeat(longest), FEATURE_NAMES, typo);
  for (const length of [longest + 5, 1000, 100_000]) {
    const work: NameSearchWork = { cells: 0 };
    closestName('y'.repeat(length), FEATURE_NAMES, work);
    t.ok(work.cells <= typo.cells, `${length} characters: ${work.cells} cells (a name-length input: ${typo.cells})`);
  }
});
