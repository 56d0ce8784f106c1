// Run probes in a separate process, as root or as an unprivileged user.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProbeResult } from '../../src/engine/engine.js';
import { TS_LOADER } from './node.js';

const probeOnce = fileURLToPath(new URL('../fixtures/probe-once.ts', import.meta.url));

/** setpriv arguments that drop to nobody with no capabilities at all. */
export const UNPRIVILEGED = [
  'setpriv',
  '--reuid=65534',
  '--regid=65534',
  '--clear-groups',
  '--inh-caps=-all',
  '--bounding-set=-all',
];

interface RunAs {
  /** As nobody, with no capabilities at all. */
  unprivileged?: boolean;
  /** As root without these capabilities (setpriv's names: sys_chroot). */
  without?: readonly string[];
}

/** setpriv arguments that take `caps` away from root, as a user would. */
function withoutCapabilities(caps: readonly string[]): string[] {
  const list = caps.map((cap) => `-${cap}`).join(',');
  return ['setpriv', `--inh-caps=${list}`, `--bounding-set=${list}`];
}

export function runProbes(names: string[], opts: RunAs = {}): ProbeResult[] {
  const confined = opts.unprivileged ? UNPRIVILEGED : opts.without ? withoutCapabilities(opts.without) : [];
  const command = [...confined, process.execPath, ...TS_LOADER, probeOnce, ...names];
  // tap's coverage hooks (NODE_OPTIONS) cannot write their files as nobody: leave them out there.
  const env = opts.unprivileged ? { ...process.env, NODE_OPTIONS: '' } : process.env;
  const out = execFileSync(command[0], command.slice(1), { encoding: 'utf8', timeout: 120_000, env });
  return JSON.parse(out) as ProbeResult[];
}

export function runProbe(name: string, opts: RunAs = {}): ProbeResult {
  return runProbes([name], opts)[0];
}
