// A userspace library the checks load is not the kernel: where it is missing
// (an image built without it) the node may still have it, so the answer is
// unknown/MissingDependency, never unsupported. The library is hidden in a
// private mount namespace (/dev/null bound over it) for one CLI run.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { TS_LOADER } from './helpers/node.js';
import { ROOT } from './helpers/deploy.js';

/** Where the dynamic loader finds `name`, by ldconfig's cache. */
function libraryPath(name: string): string | undefined {
  const listed = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  const found = listed.split('\n').find((line) => line.trim().startsWith(`${name} `) && line.includes('x86-64'));
  return found ? realpathSync(found.slice(found.indexOf('=>') + 2).trim()) : undefined;
}

const library = libraryPath('libnftables.so.1');
const skip =
  process.getuid?.() !== 0
    ? 'needs root to bind-mount over a library in a private mount namespace'
    : library === undefined
      ? 'libnftables.so.1 is not installed here: nothing to hide'
      : false;

interface Answer {
  name: string;
  status: string;
  reason: string;
  message: string;
}

/** `check --feature NAME --json` with libnftables hidden. */
function withoutLibnftables(feature: string): Answer {
  const cli = [process.execPath, ...TS_LOADER, join(ROOT, 'src', 'cli.ts'), 'check', '--feature', feature, '--json'];
  const script = 'mount --bind /dev/null "$0" && exec "$@"';
  const run = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, library!, ...cli], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (![0, 1, 2].includes(run.status ?? -1)) throw new Error(`check exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Answer;
}

t.test('nftables without libnftables is unknown/MissingDependency, not unsupported', { skip }, async (t) => {
  t.match(withoutLibnftables('nftables'), {
    status: 'unknown',
    reason: 'MissingDependency',
    message: /libnftables\.so\.1 is not installed/,
  });
});

t.test('network_lock_nftables without libnftables is unknown/MissingDependency', { skip }, async (t) => {
  t.match(withoutLibnftables('network_lock_nftables'), { status: 'unknown', reason: 'MissingDependency' });
});
