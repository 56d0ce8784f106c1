// Running a short external program and reading what it prints: iptables-save
// -V, criu, runc and the other runtime programs. posix_spawn, not
// child_process: Node forks its whole large process for a child, posix_spawn
// does not. The child is announced (children.ts) like any helper, and never
// outlives the call.
import { readSync } from 'node:fs';
import { childReaped, childSpawned } from './children.js';
import { F_SETFL, O_CLOEXEC, O_NONBLOCK } from './constants.js';
import * as libc from './libc.js';

export type ProgramResult =
  | { kind: 'exited'; code: number; stdout: string; stderr: string }
  | { kind: 'killed'; signal: number }
  | { kind: 'timeout' }
  /** posix_spawn's error number: the program could not be started. */
  | { kind: 'failed'; errno: number };

/** How to start a program: its environment (none by default), working directory and session. */
export type ProgramOptions = Pick<libc.SpawnOptions, 'env' | 'cwd' | 'setsid'>;

/** What is kept of each output: these programs print a few lines. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * posix_spawn with stdin on /dev/null, stdout and stderr on the descriptors
 * given (else /dev/null). The child is announced; the caller must reap it
 * and say so (childReaped). Returns the pid, or posix_spawn's error number.
 */
export function spawnProgram(
  path: string,
  argv: string[],
  options: libc.SpawnOptions = {},
): { pid: number; error: number } {
  const spawned = libc.spawn(path, argv, { ...options, stdin: undefined });
  if (spawned.error === 0) childSpawned(spawned.pid);
  return spawned;
}

/** A program started with its stdout and stderr piped to us: what it printed so far, bounded. */
interface Started {
  pid: number;
  /** Our (non-blocking) read ends of its stdout and stderr. */
  readEnds: number[];
  chunks: Buffer[][];
  kept: number[];
}

/** Start `path` with stdout and stderr on pipes of ours, or posix_spawn's (or pipe2's) error number. */
function start(path: string, argv: string[], options: ProgramOptions): Started | { kind: 'failed'; errno: number } {
  const out = [-1, -1];
  const err = [-1, -1];
  const pipedOut = libc.pipe2(out, O_CLOEXEC);
  if (pipedOut.ret < 0) return { kind: 'failed', errno: pipedOut.errno };
  const pipedErr = libc.pipe2(err, O_CLOEXEC);
  if (pipedErr.ret < 0) {
    libc.close(out[0]);
    libc.close(out[1]);
    return { kind: 'failed', errno: pipedErr.errno };
  }
  const readEnds = [out[0], err[0]];
  // Only our ends are non-blocking: the program's writes must wait for us, not fail.
  for (const fd of readEnds) libc.fcntlInt(fd, F_SETFL, O_NONBLOCK);
  let spawned: { pid: number; error: number };
  try {
    spawned = spawnProgram(path, argv, { ...options, stdout: out[1], stderr: err[1] });
  } finally {
    libc.close(out[1]);
    libc.close(err[1]);
  }
  if (spawned.error !== 0) {
    for (const fd of readEnds) libc.close(fd);
    return { kind: 'failed', errno: spawned.error };
  }
  return { pid: spawned.pid, readEnds, chunks: [[], []], kept: [0, 0] };
}

const readBuffer = Buffer.alloc(4096);

/** Read what the program printed so far (non-blocking), keeping at most MAX_OUTPUT_BYTES of each. */
function drain(program: Started): void {
  program.readEnds.forEach((fd, i) => {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, readBuffer);
      } catch {
        return; // EAGAIN: nothing more for now
      }
      if (n === 0) return;
      if (program.kept[i] < MAX_OUTPUT_BYTES) program.chunks[i].push(Buffer.from(readBuffer.subarray(0, n)));
      program.kept[i] += n;
    }
  });
}

/** The result of a program that ended (and was reaped): the rest of its output read. */
function ended(program: Started, state: libc.WaitState & { kind: 'exited' | 'killed' }): ProgramResult {
  childReaped(program.pid);
  drain(program);
  if (state.kind === 'killed') return state;
  const [stdout, stderr] = program.chunks.map((c) => Buffer.concat(c).toString('latin1'));
  return { kind: 'exited', code: state.code, stdout, stderr };
}

/**
 * Out of time, or no answer from waitpid: the program ends here (if it
 * cannot be killed, the engine, told of it, kills it with the runner).
 */
function cutShort(program: Started, refusedTimeoutMs: number): ProgramResult {
  if (libc.killAndWait(program.pid, refusedTimeoutMs).gone) childReaped(program.pid);
  return { kind: 'timeout' };
}

function closeEnds(program: Started): void {
  for (const fd of program.readEnds) libc.close(fd);
}

/** The same program, arguments, environment and directory: the same run. */
function runKey(path: string, argv: readonly string[], options: ProgramOptions): string {
  return JSON.stringify([path, argv, options.env ?? null, options.cwd ?? null, options.setsid ?? false]);
}

/** Programs started ahead of the probe that will read them (startAhead), by runKey, with when each started. */
const ahead = new Map<string, { started: Started | { kind: 'failed'; errno: number }; at: number }>();

/**
 * Start a program now that a probe will run later with the same arguments:
 * it runs while the probes before that one do, and runProgram then only
 * collects it, still bounded by its time limit counted from here. Whatever
 * no probe collects, endAhead ends.
 */
export function startAhead(path: string, argv: string[], options: ProgramOptions = {}): void {
  const key = runKey(path, argv, options);
  if (!ahead.has(key)) ahead.set(key, { started: start(path, argv, options), at: performance.now() });
}

/** Kill and reap every program started ahead that no probe collected: nothing outlives a run. */
export function endAhead(): void {
  for (const { started } of ahead.values()) {
    if (!('pid' in started)) continue;
    cutShort(started, 0);
    closeEnds(started);
  }
  ahead.clear();
}

/**
 * Run `path` with `argv` (argv[0] included) until it ends or `timeoutMs`
 * passes, keeping what it prints on stdout and stderr. A run started ahead
 * with the same arguments is collected instead of started again.
 */
export function runProgram(
  path: string,
  argv: string[],
  timeoutMs: number,
  options: ProgramOptions = {},
): ProgramResult {
  const key = runKey(path, argv, options);
  const early = ahead.get(key);
  ahead.delete(key);
  const program = early?.started ?? start(path, argv, options);
  if (!('pid' in program)) return program;
  const remainingMs = early ? Math.max(0, early.at + timeoutMs - performance.now()) : timeoutMs;
  try {
    const state = libc.waitWithDeadline(program.pid, 0, remainingMs, () => drain(program));
    if (state.kind === 'exited' || state.kind === 'killed') return ended(program, state);
    return cutShort(program, timeoutMs);
  } finally {
    closeEnds(program);
  }
}

/** One program for runPrograms: its path, argv (argv[0] included) and time limit from its start. */
export interface ProgramJob {
  path: string;
  argv: string[];
  timeoutMs: number;
}

/** How long runPrograms sleeps between looks when none of its programs has ended. */
const POOL_STEP_MS = 0.25;

/**
 * Run `jobs`, up to `parallel` at a time: programs that mostly wait (criu
 * asking the kernel, one feature each) overlap rather than queue. Each is
 * bounded by its own time limit, as runProgram bounds one, and by `until`
 * (a performance.now() time), after which none is started: its result is
 * undefined. Results are in the order of `jobs`; none outlives the call.
 */
export function runPrograms(
  jobs: readonly ProgramJob[],
  parallel: number,
  { until = Infinity, ...options }: ProgramOptions & { until?: number } = {},
): (ProgramResult | undefined)[] {
  const results: (ProgramResult | undefined)[] = jobs.map(() => undefined);
  const running = new Map<number, { program: Started; deadline: number; timeoutMs: number }>();
  let next = 0;
  try {
    while (next < jobs.length || running.size > 0) {
      while (running.size < Math.max(1, parallel) && next < jobs.length) {
        const now = performance.now();
        if (now >= until) {
          next = jobs.length;
          break;
        }
        const index = next++;
        const { path, argv, timeoutMs } = jobs[index];
        const program = start(path, argv, options);
        const deadline = Math.min(now + timeoutMs, until);
        if ('pid' in program) running.set(index, { program, deadline, timeoutMs });
        else results[index] = program;
      }
      let finished = false;
      for (const [index, { program, deadline, timeoutMs }] of running) {
        drain(program);
        const state = libc.pollChild(program.pid, 0);
        let result: ProgramResult | undefined;
        if (state?.kind === 'exited' || state?.kind === 'killed') result = ended(program, state);
        else if (state?.kind === 'failed' || (state === undefined && performance.now() > deadline))
          result = cutShort(program, timeoutMs);
        if (result === undefined) continue;
        results[index] = result;
        closeEnds(program);
        running.delete(index);
        finished = true;
      }
      if (!finished && running.size > 0) libc.sleepMs(POOL_STEP_MS);
    }
  } finally {
    // Left only by a throw: nothing started here outlives the call.
    for (const { program } of running.values()) {
      cutShort(program, 0);
      closeEnds(program);
    }
  }
  return results;
}
