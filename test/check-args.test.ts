// check's arguments as a runner the launcher started reads them, to begin
// the CLI's run before the CLI asks: the same probes the CLI will ask for, or
// none where the CLI asks for no run.
import t from 'tap';
import { probesForCheck, reportedCategories, LEVELS } from '../src/check-args.js';
import { CATALOGUE } from '../src/catalogue.js';

const table = CATALOGUE.map((f) => ({ name: f.name, category: f.category }));

const LEVEL_ARGS: Record<(typeof LEVELS)[number], string[]> = {
  required: [],
  extra: ['--extra'],
  experimental: ['--experimental'],
  checkpoint: ['--checkpoint'],
  all: ['--all', '--json'],
};

t.test("each level's run is the table's probes of the categories it reports, in the table's order", async (t) => {
  for (const level of LEVELS) {
    const expected = table.filter((f) => reportedCategories(level).includes(f.category)).map((f) => f.name);
    t.same(probesForCheck(LEVEL_ARGS[level], table), expected, level);
  }
});

t.test('--feature runs the one feature it names, in either spelling', async (t) => {
  t.same(probesForCheck(['--feature', 'tcp_repair'], table), ['tcp_repair']);
  t.same(probesForCheck(['--format=npd', '--feature=uffd'], table), ['uffd']);
});

t.test('arguments that ask for no run, or that check refuses, begin none', async (t) => {
  for (const args of [
    ['--help'],
    ['--all', '-h'],
    ['--feature', 'list'],
    ['--feature=list'],
    ['--feature', 'no_such_feature'],
    ['--feature'],
    ['--format', 'yaml'],
    ['--ms'],
    ['--everything'],
  ])
    t.same(probesForCheck(args, table), [], args.join(' '));
});
