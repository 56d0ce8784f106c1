// README's tables of checks are made from the catalogue, and stay so.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { GENERATED, README, withGeneratedTables } from '../scripts/readme.js';
import { CATALOGUE } from '../src/catalogue.js';

const readme = readFileSync(README, 'utf8');

t.test('README holds every generated table', async (t) => {
  for (const name of Object.keys(GENERATED)) {
    t.ok(readme.includes(`<!-- generated:${name} -->`) && readme.includes(`<!-- /generated:${name} -->`), name);
  }
});

t.test("README's generated tables are what the catalogue makes today", async (t) => {
  t.equal(readme, withGeneratedTables(readme), 'run `node --import tsx scripts/readme.ts` to write them');
});

t.test('the table of checks names every check of the catalogue once', async (t) => {
  const block = withGeneratedTables('<!-- generated:checks -->\n<!-- /generated:checks -->');
  for (const f of CATALOGUE) t.equal(block.split(`| \`${f.name}\` |`).length - 1, 1, f.name);
});

t.test('a cell never breaks its table: pipes are escaped and lines joined', async (t) => {
  const [first] = CATALOGUE;
  const odd = { ...first, differsFromCriu: 'one | two\nthree' };
  const block = withGeneratedTables('<!-- generated:differs-from-criu -->\n<!-- /generated:differs-from-criu -->', [
    odd,
  ]);
  t.match(block, /\| one \\\| two three \|/);
});

t.test('a generated block without its end is an error, not a silent cut', async (t) => {
  t.throws(() => withGeneratedTables('<!-- generated:checks -->\nno end'), /has no/);
});
