// The built runner's entry (dist/engine/runner-start.cjs): runs the runner's
// bundle (runner-main.cjs) from the V8 code that earlier runners left in the
// compile cache's directory (v8-code-cache.ts). A runner compiles nearly all
// of its code (each probe) while it runs, so the code is taken as it exits,
// after its runs. It is written again when it was missing or refused
// (another bundle, Node or V8 flags), and when a run asked for probes it was
// not made with: the new one holds the old one's code as well.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCachedBundle, readOrUndefined, replaceFile } from '../v8-code-cache.js';
import { RAN_EVENT } from './channel.js';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = loadCachedBundle(join(here, 'runner-main.cjs'), join(here, '..', '..'), 'runner');
const base = bundle.cacheBase;
/** The probes whose code the cache holds. */
const covered = new Set<string>(
  (bundle.fromCache &&
    readOrUndefined(() => (JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { probes: string[] }).probes)) ||
    [],
);
let stale = !bundle.fromCache;

process.on(RAN_EVENT, (names: readonly string[]) => {
  for (const name of names) {
    if (covered.has(name)) continue;
    covered.add(name);
    stale = true;
  }
});
process.once('exit', () => {
  if (!stale || !base || !bundle.writeCache()) return;
  try {
    replaceFile(`${base}.json`, JSON.stringify({ probes: [...covered].sort() }));
  } catch {
    // the code without its list: the next runner takes it for none, and writes both again
  }
});

bundle.run();
