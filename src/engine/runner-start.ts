// The built runner's entry (dist/engine/runner-start.cjs): runs the runner's
// bundle (runner-main.cjs) from the V8 code that earlier runners left in the
// compile cache's directory. Node's own compile cache keeps only the code
// compiled before a module runs, and a runner compiles nearly all of its own
// (each probe) while it runs; Node 20 has no compile cache at all. This code
// is taken after the runs, as the runner exits, so it holds every function
// they compiled. It is written again when it was missing or refused (another
// bundle, Node or V8 flags), and when a run asked for probes it was not made
// with: the new one holds the old one's code as well.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script, constants } from 'node:vm';
import { RAN_EVENT } from './channel.js';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, 'runner-main.cjs');

/**
 * Node's compile cache directory when one is set (the CLI and the service set
 * it for their runners), else the package's own; undefined where it cannot
 * be made (a read-only install): the runner then compiles as Node does.
 */
function cacheDirectory(): string | undefined {
  const dir = process.env.NODE_COMPILE_CACHE || join(here, '..', '..', '.compile-cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  } catch {
    return undefined;
  }
}

function readOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Write `data` to `file` whole or not at all: runners may exit side by side. Nothing partial is left. */
function replaceFile(file: string, data: string | Buffer): void {
  const partial = `${file}.${process.pid}`;
  try {
    writeFileSync(partial, data, { mode: 0o600 });
    renameSync(partial, file);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
}

const dir = cacheDirectory();
const base = dir && join(dir, `runner-${process.version}-${process.arch}`);
const code = base ? readOrUndefined(() => readFileSync(`${base}.v8`)) : undefined;
// The wrapper Node gives a CommonJS module, on the same line as the first of the bundle's, so line numbers hold.
const script = new Script(
  `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`,
  {
    filename: bundle,
    cachedData: code,
    // The bundle imports a probe table given on its command line (tests).
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  },
);
const usable = code !== undefined && !script.cachedDataRejected;
/** The probes whose code the cache holds. */
const covered = new Set<string>(
  (usable &&
    readOrUndefined(() => (JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { probes: string[] }).probes)) ||
    [],
);
let stale = !usable;

process.on(RAN_EVENT, (names: readonly string[]) => {
  for (const name of names) {
    if (covered.has(name)) continue;
    covered.add(name);
    stale = true;
  }
});
process.once('exit', () => {
  if (!stale || !base) return;
  try {
    replaceFile(`${base}.v8`, script.createCachedData());
    replaceFile(`${base}.json`, JSON.stringify({ probes: [...covered].sort() }));
  } catch {
    // no cache this time; the next runner tries again
  }
});

const run = script.runInThisContext() as (
  exports: object,
  require: NodeRequire,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;
const bundleModule = { exports: {} };
run(bundleModule.exports, createRequire(bundle), bundleModule, bundle, here);
