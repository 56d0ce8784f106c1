// The runner's channel to the engine: newline-delimited JSON written with
// synchronous writes on a dedicated pipe, so a message is in the engine's
// hands before the next line of a probe runs, even if that line hangs or
// kills the process.
import { writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ProbeOutcome } from '../model.js';

/** The descriptor number the engine hands the runner its channel on. */
export const CHANNEL_FD = 3;
export const CHANNEL_ENV = 'CRIU_READINESS_RUNNER_CHANNEL';

/**
 * A runner started beside the CLI (bin/with-runner, which the launcher
 * bin/criu-readiness reads): this variable gives the CLI the runner's pid,
 * its channel being the CLI's descriptor 3 and its stdin the CLI's
 * descriptor 4 (launched-runner.ts).
 */
export const LAUNCHED_RUNNER_ENV = 'CRIU_READINESS_LAUNCHED_RUNNER';
export const LAUNCHED_CHANNEL_FD = 3;
export const LAUNCHED_COMMAND_FD = 4;
/** The pid a launched runner's parent must have: if it has another, the CLI is gone already. */
export const RUNNER_PARENT_ENV = 'CRIU_READINESS_RUNNER_PARENT';
/**
 * A launched runner's CLI arguments, one per line: it begins the run they
 * ask for as soon as it is ready, rather than wait for the CLI to load and
 * ask. Its 'ready' names that run; the engine takes it if it asks for
 * exactly those probes (engine.ts), and starts another runner if not.
 */
export const FIRST_CHECK_ENV = 'CRIU_READINESS_FIRST_CHECK';

export type RunnerMessage =
  /**
   * Ready for commands; `probes`: the names of the table it loaded, in its
   * order, and `categories` theirs; `running`: the run it began by itself
   * (FIRST_CHECK_ENV), which it exits after.
   */
  | { type: 'ready'; probes: string[]; categories: string[]; running?: string[] }
  | { type: 'start'; name: string }
  | { type: 'result'; name: string; outcome: ProbeOutcome; durationMs: number }
  | { type: 'done' }
  /** A helper process a probe started (a tracee): the engine kills and reaps it if the runner dies. */
  | { type: 'spawned'; pid: number }
  | { type: 'reaped'; pid: number };

/** Commands the engine writes to the runner's stdin. */
export interface RunCommand {
  run: string[];
  /** Exit right after 'done', rather than when stdin ends: the engine keeps no runner warm. */
  exitWhenDone?: boolean;
}

/**
 * The event a runner emits on `process` after each command, with the probe
 * names it ran: its entry (runner-start.ts) keeps V8's code for them.
 */
export const RAN_EVENT = 'criu-readiness:ran';

const inRunner = process.env[CHANNEL_ENV] === String(CHANNEL_FD);

/** Messages told with tellLater and not yet written: they go with the next tell(). */
let held = '';

/**
 * Send a message to the engine now, with any held before it; outside a
 * runner (a probe called directly), nothing happens.
 */
export function tell(message: RunnerMessage): void {
  if (!inRunner) return;
  const lines = held + JSON.stringify(message) + '\n';
  held = '';
  writeSync(CHANNEL_FD, lines);
}

/**
 * Send a message with the next tell(), in the same write. For a message that
 * nothing risky follows before that next one (a probe's result, before the
 * next start or 'done'; a helper reaped): each write wakes the engine, and
 * halving them takes a good part of a run's time off.
 */
export function tellLater(message: RunnerMessage): void {
  if (inRunner) held += JSON.stringify(message) + '\n';
}

/**
 * Each line a stream carries, to `line`, and an unfinished last one when the
 * stream ends (a dying writer's). The one way this project reads its
 * channels: the engine a runner's, the supervisor its commands, the HTTP
 * process the supervisor's answers (without node:readline, which each of
 * them would otherwise load).
 */
export function onLines(stream: Readable, line: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      line(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
  stream.on('end', () => {
    if (pending) line(pending);
  });
}
