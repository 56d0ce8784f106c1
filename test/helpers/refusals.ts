// Run probes through the real engine under a seccomp filter that makes the
// kernel answer each named feature as a kernel without it would
// (see fixtures/seccomp-probe-once.ts).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProbeResult } from '../../src/engine/engine.js';
import type { ProbeOutcome } from '../../src/model.js';
import { TS_LOADER } from './node.js';

const refusingKernel = fileURLToPath(new URL('../fixtures/seccomp-probe-once.ts', import.meta.url));

/** Each named probe meets its refusal; a name given as '+name' runs unrefused, as a control. */
export function underRefusals(args: string[]): Map<string, ProbeOutcome> {
  const out = execFileSync(process.execPath, [...TS_LOADER, refusingKernel, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return new Map((JSON.parse(out) as ProbeResult[]).map((r) => [r.name, r.outcome]));
}
