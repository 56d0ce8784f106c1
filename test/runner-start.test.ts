// The built runner's entry keeps V8's code of the probes it ran beside Node's
// compile cache (src/engine/runner-start.ts), and the next runner starts from it.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const notBuilt = !existsSync(built) && 'dist/cli.js is not built (npm test builds it first)';
const base = `runner-${process.version}-${process.arch}`;

/** A directory for the cache, removed at the end of the test. */
function cacheDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-code-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `check --feature NAME` with the built CLI, its compile cache (and so its runner's code) in `dir`. */
function check(feature: string, dir: string): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [built, 'check', '--feature', feature], {
    encoding: 'utf8',
    env: { ...process.env, NODE_COMPILE_CACHE: dir },
  });
  return { status: r.status, stdout: r.stdout };
}

const probesHeld = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, `${base}.json`), 'utf8')) as { probes: string[] }).probes;
const written = (dir: string) => statSync(join(dir, `${base}.v8`)).mtimeMs;

t.test("a runner leaves V8's code for the probes it ran, named for this Node", { skip: notBuilt }, async (t) => {
  const dir = cacheDir(t);
  t.equal(check('proc_stat', dir).stdout, 'proc_stat is supported\n');
  t.ok(statSync(join(dir, `${base}.v8`)).size > 0, 'the code is written');
  t.same(probesHeld(dir), ['proc_stat']);
});

t.test(
  'a runner that ran only probes the code holds starts from it and leaves it as it is',
  { skip: notBuilt },
  async (t) => {
    const dir = cacheDir(t);
    check('proc_stat', dir);
    const first = written(dir);
    t.equal(check('proc_stat', dir).stdout, 'proc_stat is supported\n');
    t.equal(written(dir), first, 'not written again: V8 took it, and it held the probe');
  },
);

t.test('a run of another probe writes the code again, holding both', { skip: notBuilt }, async (t) => {
  const dir = cacheDir(t);
  check('proc_stat', dir);
  t.equal(check('kcmp', dir).stdout, 'kcmp is supported\n');
  t.same(probesHeld(dir), ['kcmp', 'proc_stat']);
});

t.test(
  'code V8 refuses (damaged, or another Node) is made again, and the answer is the same',
  { skip: notBuilt },
  async (t) => {
    const dir = cacheDir(t);
    writeFileSync(join(dir, `${base}.v8`), 'not V8 code');
    writeFileSync(join(dir, `${base}.json`), JSON.stringify({ probes: ['proc_stat'] }));
    t.equal(check('proc_stat', dir).stdout, 'proc_stat is supported\n');
    t.ok(statSync(join(dir, `${base}.v8`)).size > 100, 'replaced by real code');
  },
);

t.test('a cache that cannot be put in place leaves no partial file behind', { skip: notBuilt }, async (t) => {
  const dir = cacheDir(t);
  // A directory, not empty, where the code would go: the rename over it fails.
  mkdirSync(join(dir, `${base}.v8`));
  writeFileSync(join(dir, `${base}.v8`, 'keep'), '');
  t.equal(check('proc_stat', dir).stdout, 'proc_stat is supported\n');
  t.same(
    readdirSync(dir).filter((name) => name.startsWith(`${base}.v8.`)),
    [],
  );
});

t.test('where no cache can be kept, the runner runs all the same and writes nothing', { skip: notBuilt }, async (t) => {
  const dir = cacheDir(t);
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const r = check('proc_stat', join(file, 'cache'));
  t.equal(r.stdout, 'proc_stat is supported\n');
  t.equal(r.status, 0);
});
