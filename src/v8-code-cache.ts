// A CommonJS bundle run from the V8 code an earlier process of the same
// build left on disk. Node's compile cache keeps only the code compiled
// before a module runs, and Node 20 has none; code taken after the bundle has
// done its work holds every function that work compiled. The runner's entry
// and the service's HTTP image load their bundles this way.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script, constants } from 'node:vm';

/**
 * Node's compile cache directory when one is set (the CLI and the service set
 * it for the processes they start), else `packageDir`'s `.compile-cache`;
 * undefined where it cannot be made (a read-only install): the bundle then
 * compiles as Node does.
 */
export function codeCacheDirectory(packageDir: string): string | undefined {
  const dir = process.env.NODE_COMPILE_CACHE || join(packageDir, '.compile-cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  } catch {
    return undefined;
  }
}

export function readOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Write `data` to `file` whole or not at all: processes may write side by side. Nothing partial is left. */
export function replaceFile(file: string, data: string | Buffer): void {
  const partial = `${file}.${process.pid}`;
  try {
    writeFileSync(partial, data, { mode: 0o600 });
    renameSync(partial, file);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
}

export interface CachedBundle {
  /** The cache file without its `.v8`, for files kept beside it; undefined where there is no cache directory. */
  cacheBase: string | undefined;
  /** V8 took code from the cache file: false where it was missing, unreadable, of another build, or refused. */
  fromCache: boolean;
  /** Run the bundle as Node runs a CommonJS module: what it put in module.exports. */
  run(): unknown;
  /** Replace the cache file with the code compiled so far; false where it cannot be written. */
  writeCache(): boolean;
}

/**
 * Which build the code was made from. V8 checks its own version and flags,
 * but of the source only its length: code kept for another bundle of the
 * same length would be taken. The bundle's size and time of change tell
 * builds apart; the package's version, installs from npm (whose files all
 * bear one fixed time).
 */
function buildKey(bundle: string, packageDir: string): string {
  const { size, mtimeMs } = statSync(bundle);
  const version = readOrUndefined(
    () => (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version?: unknown }).version,
  );
  return `${String(version)} ${size} ${mtimeMs}\n`;
}

/**
 * Compile `bundle` (of the package in `packageDir`) from the code kept as
 * `name` in the cache directory where V8 takes it (the same build, Node and V8
 * flags); otherwise as Node would. The cache file starts with the build's key.
 */
export function loadCachedBundle(bundle: string, packageDir: string, name: string): CachedBundle {
  const dir = codeCacheDirectory(packageDir);
  const cacheBase = dir && join(dir, `${name}-${process.version}-${process.arch}`);
  const key = Buffer.from(buildKey(bundle, packageDir));
  const kept = cacheBase ? readOrUndefined(() => readFileSync(`${cacheBase}.v8`)) : undefined;
  const code = kept?.subarray(0, key.length).equals(key) ? kept.subarray(key.length) : undefined;
  // The wrapper Node gives a CommonJS module, on the same line as the first of the bundle's, so line numbers hold.
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`,
    {
      filename: bundle,
      cachedData: code,
      // A bundle may import what it does not hold (the runner's probe table in tests).
      importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    },
  );
  return {
    cacheBase,
    fromCache: code !== undefined && !script.cachedDataRejected,
    run() {
      const wrapper = script.runInThisContext() as (
        exports: unknown,
        require: NodeRequire,
        module: { exports: unknown },
        filename: string,
        dirname: string,
      ) => void;
      const bundleModule: { exports: unknown } = { exports: {} };
      wrapper(bundleModule.exports, createRequire(bundle), bundleModule, bundle, dirname(bundle));
      return bundleModule.exports;
    },
    writeCache() {
      if (!cacheBase) return false;
      try {
        replaceFile(`${cacheBase}.v8`, Buffer.concat([key, script.createCachedData()]));
        return true;
      } catch {
        return false;
      }
    },
  };
}
