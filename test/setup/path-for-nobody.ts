// The unprivileged tests run node as nobody (uid 65534) on this checkout, so
// every directory above it must let others pass through (search, x). A clone
// made under a private directory (`mktemp -d` makes it 0700) would fail those
// tests for want of a path, not for anything they test. For the run, others
// get search (not read) on the ancestors that lack it; afterwards each gets
// its own mode back.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const checkout = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
/** What was changed, for the restore: in the checkout's own (ignored) .tap directory. */
const record = `${checkout}/.tap/search-granted.json`;
const OTHERS_SEARCH = 0o001;
const MODE_BITS = 0o7777;

interface Granted {
  dir: string;
  mode: number;
}

export function grantSearch(): void {
  if (process.getuid?.() !== 0) return; // only root runs the unprivileged tests
  const granted: Granted[] = [];
  for (let dir = checkout; ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & MODE_BITS;
    if (!(mode & OTHERS_SEARCH)) {
      chmodSync(dir, mode | OTHERS_SEARCH);
      granted.push({ dir, mode });
    }
    if (dir === dirname(dir)) break;
  }
  if (granted.length === 0) return;
  mkdirSync(dirname(record), { recursive: true });
  writeFileSync(record, JSON.stringify(granted));
  process.stderr.write(
    `test setup: others may pass through ${granted.map((g) => g.dir).join(', ')} for this run (the unprivileged tests run as nobody)\n`,
  );
}

export function restoreSearch(): void {
  if (!existsSync(record)) return;
  for (const { dir, mode } of JSON.parse(readFileSync(record, 'utf8')) as Granted[]) chmodSync(dir, mode);
  rmSync(record);
}
