// Running the built CLI many times under some confinement (a seccomp filter,
// a dropped capability), a few at a time, and reading what it answered.
import { execFile } from 'node:child_process';
import type { LevelVerdict } from '../../src/service/levels.js';

export interface SweepRun {
  label: string;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The run was killed at the bound. */
  timedOut: boolean;
  /** The JSON printed, when it parsed. */
  verdict?: LevelVerdict;
}

/** Far above a check --all on a loaded machine: a run past it is a hang. */
export const RUN_BOUND_MS = 60_000;

export function runOnce(label: string, command: string, args: readonly string[]): Promise<SweepRun> {
  return new Promise((resolve) => {
    // Without the test runner's instrumentation, as a user runs it: tap puts
    // it back in NODE_OPTIONS of whatever is spawned, so env takes it out.
    const options = { timeout: RUN_BOUND_MS, killSignal: 'SIGKILL' as const, maxBuffer: 16 << 20 };
    execFile('env', ['-u', 'NODE_OPTIONS', command, ...args], options, (err, stdout, stderr) => {
      const failure = err as
        (NodeJS.ErrnoException & { code?: number | string; signal?: string; killed?: boolean }) | null;
      const code = failure ? (typeof failure.code === 'number' ? failure.code : null) : 0;
      let verdict: LevelVerdict | undefined;
      try {
        verdict = JSON.parse(stdout) as LevelVerdict;
      } catch {
        verdict = undefined;
      }
      resolve({
        label,
        code,
        signal: failure?.signal ?? null,
        stdout,
        stderr,
        timedOut: Boolean(failure?.killed),
        verdict,
      });
    });
  });
}

/** Run every job, `width` at a time, in order of the answers' labels. */
export async function runAll<T>(jobs: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

/** A JavaScript stack trace's frames ("    at f (file:1:2)"). */
export const STACK_FRAME = /^\s+at .+:\d+/m;
/** A frame in a file of ours (not one of Node's own node: modules). */
export const OUR_FRAME = /^\s+at (?:.*\()?(?!node:)[^()\s]+:\d+:\d+\)?\s*$/m;
