// Assertions shared by the probe-family tests: what a probe run as root must
// answer, and what a kernel of a given release and config must support.
import type { Test } from 'tap';
import { release } from 'node:os';
import type { ProbeResult } from '../../src/engine/engine.js';
import type { ProbeOutcome } from '../../src/model.js';
import { readKernelConfig } from '../../src/service/kconfig.js';
import { findFeature } from '../../src/catalogue.js';

const ERRNO_IN_MESSAGE = /\bE[A-Z0-9]+\b/;

export function byName(results: ProbeResult[]): Map<string, ProbeOutcome> {
  return new Map(results.map((r) => [r.name, r.outcome]));
}

/**
 * As root each probe gets a kernel answer: supported, or unsupported with a
 * message saying what the kernel did (an errno, or what `saidOtherwise` matches).
 */
export function assertKernelAnswers(
  t: Test,
  outcomes: Map<string, ProbeOutcome>,
  names: string[],
  saidOtherwise?: RegExp,
): void {
  for (const name of names) {
    const outcome = outcomes.get(name);
    t.ok(outcome, `${name} ran`);
    if (!outcome) continue;
    t.comment(`${name}: ${outcome.status} (${outcome.reason}) ${outcome.message}`);
    if (outcome.status === 'supported') {
      t.equal(outcome.reason, 'Supported', `${name} reason`);
      continue;
    }
    t.equal(outcome.status, 'unsupported', `${name} is not unknown as root: ${outcome.message}`);
    const said = ERRNO_IN_MESSAGE.test(outcome.message) || (saidOtherwise?.test(outcome.message) ?? false);
    t.ok(said, `${name} says what the kernel did: ${outcome.message}`);
  }
}

/** Is the running kernel at least `version` ('5.6')? */
export function kernelAtLeast(version: string): boolean {
  const [major, minor] = release().split('.').map(Number);
  const [wantMajor, wantMinor] = version.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

/** The catalogue's minimum kernel of a feature; a test that needs one fails when the row has none. */
export function minKernelOf(name: string): string {
  const version = findFeature(name)?.minKernel;
  if (!version) throw new Error(`the catalogue gives no minKernel for ${name}`);
  return version;
}

/** The config options that bring each feature (its kernel release is the catalogue's minKernel). */
export type Brought = Record<string, string[]>;

/** On a kernel at least that new with those options built in (or as modules), the probe must say supported. */
export function assertSupportedWhereBrought(t: Test, outcomes: Map<string, ProbeOutcome>, brought: Brought): void {
  const config = readKernelConfig();
  if (!config) {
    t.comment('no kernel config readable: nothing to expect');
    return;
  }
  t.comment(`kernel ${release()}, config from ${config.source}`);
  for (const [name, options] of Object.entries(brought)) {
    const since = minKernelOf(name);
    const configured = options.every((option) => ['y', 'm'].includes(config.get(option)));
    if (!kernelAtLeast(since) || !configured) {
      t.comment(`${name}: not expected here (needs ${since} and ${options.join(', ') || 'nothing'})`);
      continue;
    }
    t.equal(outcomes.get(name)?.status, 'supported', `${name}: ${outcomes.get(name)?.message}`);
  }
}

/** Under a refusal that mimics a kernel without each feature, every named probe says unsupported/NotInKernel. */
export function assertFoundMissing(t: Test, refused: Map<string, ProbeOutcome>, names: string[]): void {
  for (const name of names) {
    const outcome = refused.get(name);
    t.comment(`${name}: ${outcome?.status} (${outcome?.reason}) ${outcome?.message}`);
    t.equal(outcome?.status, 'unsupported', `${name}: ${outcome?.message}`);
    t.equal(outcome?.reason, 'NotInKernel', name);
  }
}

/**
 * Under a seccomp filter, a missing system call (ENOSYS) may be the filter's
 * answer, not the kernel's: each named probe says it could not tell, and why.
 */
export function assertFilterSuspected(t: Test, refused: Map<string, ProbeOutcome>, names: string[]): void {
  for (const name of names) {
    const outcome = refused.get(name);
    t.match(
      outcome,
      { status: 'unknown', reason: 'PermissionDenied', message: /ENOSYS.*seccomp filter/ },
      `${name}: ${outcome?.message}`,
    );
  }
}

/** Probes that need no privilege: as nobody each gives the status it gives as root. */
export function assertSameAsRoot(
  t: Test,
  asNobody: Map<string, ProbeOutcome>,
  asRoot: Map<string, ProbeOutcome>,
  names: readonly string[],
): void {
  for (const name of names) {
    t.equal(asNobody.get(name)?.status, asRoot.get(name)?.status, `${name}: ${asNobody.get(name)?.message}`);
  }
}
