// A CommonJS bundle run from V8's code kept on disk (src/v8-code-cache.ts):
// the runner's entry and the service's HTTP side load their bundles so.
import t, { type Test } from 'tap';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { codeCacheDirectory } from '../src/v8-code-cache.js';
import { TS_LOADER } from './helpers/node.js';

/**
 * A package directory with a small bundle in it, its code cache in a
 * directory of its own (NODE_COMPILE_CACHE, as the CLI sets it), both removed
 * at the end of the test.
 */
function withBundle(t: Test): { pkg: string; bundle: string; cache: string } {
  const pkg = mkdtempSync(join(tmpdir(), 'criu-readiness-bundle-'));
  const before = process.env.NODE_COMPILE_CACHE;
  process.env.NODE_COMPILE_CACHE = join(pkg, 'cache');
  t.teardown(() => {
    if (before === undefined) delete process.env.NODE_COMPILE_CACHE;
    else process.env.NODE_COMPILE_CACHE = before;
    rmSync(pkg, { recursive: true, force: true });
  });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ version: '1.0.0' }));
  const bundle = join(pkg, 'bundle.cjs');
  writeFileSync(
    bundle,
    "'use strict';\nconst { basename } = require('node:path');\n" +
      'function twice(n) { return 2 * n; }\n' +
      'module.exports = { answer: twice(21), file: basename(__filename), dir: __dirname };\n',
  );
  return { pkg, bundle, cache: join(pkg, 'cache', `test-${process.version}-${process.arch}.v8`) };
}

const loader = fileURLToPath(new URL('./fixtures/load-cached-bundle.ts', import.meta.url));

/** Load the bundle of `pkg`, its cache named `test`, in a process of its own; `write` the cache after the run. */
function load(pkg: string, write = false): { fromCache: boolean; exports: unknown; written?: boolean } {
  const r = spawnSync(process.execPath, [...TS_LOADER, loader, pkg, write ? 'write' : ''], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the loader failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { fromCache: boolean; exports: unknown; written?: boolean };
}

t.test('a bundle runs as a CommonJS module: its require, __filename, __dirname and module.exports', async (t) => {
  const { pkg } = withBundle(t);
  t.same(load(pkg).exports, { answer: 42, file: 'bundle.cjs', dir: pkg });
});

t.test('the code written after a run is taken by the next load of the same build', async (t) => {
  const { pkg, cache } = withBundle(t);
  const first = load(pkg, true);
  t.equal(first.fromCache, false, 'no cache yet');
  t.equal(first.written, true);
  t.ok(statSync(cache).size > 0);
  const second = load(pkg);
  t.equal(second.fromCache, true, 'V8 took it');
  t.same(second.exports, { answer: 42, file: 'bundle.cjs', dir: pkg });
});

t.test('a damaged cache is refused, and the bundle runs all the same', async (t) => {
  const { pkg, cache } = withBundle(t);
  load(pkg, true);
  const kept = readFileSync(cache);
  // The build's key kept, the code after it not V8's.
  writeFileSync(cache, Buffer.concat([kept.subarray(0, kept.indexOf('\n') + 1), Buffer.from('not V8 code')]));
  const loaded = load(pkg);
  t.equal(loaded.fromCache, false);
  t.match(loaded.exports, { answer: 42 });
});

t.test('code kept for another build of the same length is not taken (V8 compares only lengths)', async (t) => {
  const { pkg, bundle } = withBundle(t);
  load(pkg, true);
  const source = readFileSync(bundle, 'utf8');
  writeFileSync(bundle, source.replace('2 * n', '3 * n'));
  utimesSync(bundle, new Date(), new Date(Date.now() + 10_000));
  const rebuilt = load(pkg);
  t.equal(rebuilt.fromCache, false);
  t.match(rebuilt.exports, { answer: 63 }, 'the new code runs');
});

t.test('code kept for another version of the package is not taken, even where the bundle looks the same', async (t) => {
  const { pkg, bundle } = withBundle(t);
  load(pkg, true);
  const { mtime } = statSync(bundle);
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replace('2 * n', '3 * n'));
  // npm gives every file of a package one fixed time: only the version tells them apart.
  utimesSync(bundle, mtime, mtime);
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ version: '1.0.1' }));
  const upgraded = load(pkg);
  t.equal(upgraded.fromCache, false);
  t.match(upgraded.exports, { answer: 63 });
});

t.test('a cache that cannot be written leaves no partial file and says so', async (t) => {
  const { pkg, cache } = withBundle(t);
  // The cache file's place taken by a directory: the rename fails.
  mkdirSync(cache, { recursive: true });
  t.equal(load(pkg, true).written, false);
  t.same(readdirSync(join(cache, '..')), [basename(cache)], 'nothing beside it');
});

t.test("the cache directory: NODE_COMPILE_CACHE's where it is set, else the package's .compile-cache", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-dir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const before = process.env.NODE_COMPILE_CACHE;
  t.teardown(() => {
    if (before === undefined) delete process.env.NODE_COMPILE_CACHE;
    else process.env.NODE_COMPILE_CACHE = before;
  });
  process.env.NODE_COMPILE_CACHE = join(dir, 'named');
  t.equal(codeCacheDirectory(join(dir, 'package')), join(dir, 'named'));
  t.ok(statSync(join(dir, 'named')).isDirectory(), 'made');
  delete process.env.NODE_COMPILE_CACHE;
  t.equal(codeCacheDirectory(join(dir, 'package')), join(dir, 'package', '.compile-cache'));
  writeFileSync(join(dir, 'a-file'), '');
  t.equal(codeCacheDirectory(join(dir, 'a-file')), undefined, 'where it cannot be made: none');
});
