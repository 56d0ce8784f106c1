// Node's compile cache (module.enableCompileCache, Node 22.1 and later): the
// bytecode V8 made of our modules and packages, kept on disk, so that each
// later process loads them without compiling them again. Every `check`
// starts two Node processes (the CLI and its runner) and `serve` four.
import { mkdirSync, statSync } from 'node:fs';
import nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Beside dist/, in the package's own directory: as trusted as the code
 * (whoever can write there can change the code), unlike a shared temporary
 * directory, and never packed (package.json's files). The image makes it at
 * build time; where it cannot be made (a read-only or foreign install), there
 * is no cache and nothing else changes.
 */
const COMPILE_CACHE_DIR = fileURLToPath(new URL('../.compile-cache', import.meta.url));

/** Node's answer to enableCompileCache: ENABLED (1) is the only one that means the cache is in use. */
type EnableCompileCache = (directory: string) => { status: number; message?: string };
const ENABLED = 1;

const nodeEnable = (nodeModule as { enableCompileCache?: EnableCompileCache }).enableCompileCache;

/**
 * Use the compile cache in `directory` (made if missing) for this process and,
 * through NODE_COMPILE_CACHE, for every Node process it starts. The
 * directory used, or undefined: this Node has no compile cache (Node 20),
 * the environment already names one (Node then uses it by itself), or the
 * directory cannot be made or used. Never throws.
 */
export function useCompileCache(
  directory = COMPILE_CACHE_DIR,
  env: NodeJS.ProcessEnv = process.env,
  /** null: this Node has none. */
  enable: EnableCompileCache | null = nodeEnable ?? null,
): string | undefined {
  if (!enable || env.NODE_COMPILE_CACHE !== undefined) return undefined;
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch {
    // There already, or not to be made here: only an existing directory is used.
  }
  try {
    // Node makes its own version's directory in it, as mkdir -p does; given a
    // path it cannot make (under /proc), Node 24 retries for ever.
    if (!statSync(directory).isDirectory()) return undefined;
    if (enable(directory).status !== ENABLED) return undefined;
  } catch {
    return undefined;
  }
  env.NODE_COMPILE_CACHE = directory;
  return directory;
}
