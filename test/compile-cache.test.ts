// The compile cache: used where Node has one and its directory can be made or
// is there; anywhere else nothing changes, and nothing throws.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { useCompileCache } from '../src/compile-cache.js';
import { TS_LOADER } from './helpers/node.js';

const ENABLED = 1;
const FAILED = 0;

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A stand-in for module.enableCompileCache that answers `status` and records what it was asked. */
function fakeEnable(status: number): { enable: (dir: string) => { status: number }; asked: string[] } {
  const asked: string[] = [];
  return { enable: (dir) => (asked.push(dir), { status }), asked };
}

t.test(
  'a missing directory is made (for this user only), used, and named to the processes started later',
  async (t) => {
    const dir = join(scratch(t), '.compile-cache');
    const env: NodeJS.ProcessEnv = {};
    const { enable, asked } = fakeEnable(ENABLED);
    t.equal(useCompileCache(dir, env, enable), dir);
    t.same(asked, [dir]);
    t.equal(statSync(dir).mode & 0o777, 0o700);
    t.equal(env.NODE_COMPILE_CACHE, dir);
  },
);

t.test('a directory already there (made at image build, on a read-only root) is used as it is', async (t) => {
  const dir = scratch(t);
  const env: NodeJS.ProcessEnv = {};
  t.equal(useCompileCache(dir, env, fakeEnable(ENABLED).enable), dir);
  t.equal(env.NODE_COMPILE_CACHE, dir);
});

t.test('a directory that cannot be made changes nothing: Node is not asked, the environment stays', async (t) => {
  const file = join(scratch(t), 'a-file');
  writeFileSync(file, '');
  for (const dir of [join(file, '.compile-cache'), file]) {
    const env: NodeJS.ProcessEnv = {};
    const { enable, asked } = fakeEnable(ENABLED);
    t.equal(useCompileCache(dir, env, enable), undefined, dir);
    t.same(asked, []);
    t.same(env, {});
  }
});

t.test(
  'a path no directory can be made at (under /proc, where Node 24 would retry for ever) is not given to Node',
  async (t) => {
    const env: NodeJS.ProcessEnv = {};
    const { enable, asked } = fakeEnable(ENABLED);
    t.equal(useCompileCache('/proc/self/no-such-directory/.compile-cache', env, enable), undefined);
    t.same(asked, []);
    t.same(env, {});
  },
);

t.test('a cache Node refuses (its answer is not ENABLED) is not named to later processes', async (t) => {
  const env: NodeJS.ProcessEnv = {};
  t.equal(useCompileCache(scratch(t), env, fakeEnable(FAILED).enable), undefined);
  t.same(env, {});
});

t.test('a Node without a compile cache (Node 20) changes nothing and makes no directory', async (t) => {
  const dir = join(scratch(t), '.compile-cache');
  const env: NodeJS.ProcessEnv = {};
  t.equal(useCompileCache(dir, env, null), undefined);
  t.notOk(existsSync(dir));
  t.same(env, {});
});

t.test('a cache the environment already names is left to Node, which uses it by itself', async (t) => {
  const env: NodeJS.ProcessEnv = { NODE_COMPILE_CACHE: '/elsewhere' };
  const { enable, asked } = fakeEnable(ENABLED);
  t.equal(useCompileCache(join(scratch(t), '.compile-cache'), env, enable), undefined);
  t.same(asked, []);
  t.equal(env.NODE_COMPILE_CACHE, '/elsewhere');
});

/** A Node process that calls useCompileCache(dir), then loads a module: what it returned and the variable it left. */
function inChild(dir: string): { used: string | null; variable: string | null } {
  const script = `
    const { useCompileCache } = await import(${JSON.stringify(new URL('../src/compile-cache.ts', import.meta.url).href)});
    const used = useCompileCache(${JSON.stringify(dir)}) ?? null;
    await import('node:zlib');
    await import(${JSON.stringify(new URL('../src/model.ts', import.meta.url).href)});
    console.log(JSON.stringify({ used, variable: process.env.NODE_COMPILE_CACHE ?? null }));`;
  const env = { ...process.env };
  delete env.NODE_COMPILE_CACHE;
  const out = execFileSync(process.execPath, [...TS_LOADER, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { used: string | null; variable: string | null };
}

t.test(
  "with this Node's own compile cache: the directory is used and filled; a path that cannot be one is passed over",
  {
    skip:
      !('enableCompileCache' in nodeModule) &&
      `Node ${process.version} has no compile cache (module.enableCompileCache, Node >= 22.1)`,
  },
  async (t) => {
    const dir = join(scratch(t), '.compile-cache');
    t.same(inChild(dir), { used: dir, variable: dir });
    t.ok(readdirSync(dir).length > 0, 'Node wrote its cache there');
    const file = join(scratch(t), 'a-file');
    writeFileSync(file, '');
    t.same(inChild(file), { used: null, variable: null });
  },
);
