// Where the bench writes its figures: between its Node major's markers only.
import t from 'tap';
import { replaceSection } from '../bench/sections.js';

const TEXT = [
  'Intro.',
  '<!-- bench node24 -->',
  'old 24',
  '<!-- /bench node24 -->',
  'Between.',
  '<!-- bench node20 -->',
  'old 20',
  '<!-- /bench node20 -->',
  'After.',
].join('\n');

t.test("a run replaces its own Node major's figures and keeps everything else", async (t) => {
  t.equal(replaceSection(TEXT, '20', 'new 20\n'), TEXT.replace('old 20\n', 'new 20\n'));
});

t.test("another major's figures are left as they were", async (t) => {
  t.match(replaceSection(TEXT, '24', 'new 24\n'), /old 20/);
});

t.test('a file without markers for the major is not written', async (t) => {
  t.equal(replaceSection(TEXT, '22', 'new 22\n'), undefined);
});
