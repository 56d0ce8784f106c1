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

/**
 * Run `path` with `argv` (argv[0] included) until it ends or `timeoutMs`
 * passes, keeping what it prints on stdout and stderr.
 */
export function runProgram(
  path: string,
  argv: string[],
  timeoutMs: number,
  options: ProgramOptions = {},
): ProgramResult {
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
  try {
    if (spawned.error !== 0) return { kind: 'failed', errno: spawned.error };
    return collect(spawned.pid, readEnds, timeoutMs);
  } finally {
    for (const fd of readEnds) libc.close(fd);
  }
}

/** Wait for `pid` under the deadline, reading stdout and stderr (non-blocking) as it goes; each bounded. */
function collect(pid: number, readEnds: number[], timeoutMs: number): ProgramResult {
  const chunks: Buffer[][] = readEnds.map(() => []);
  const kept = readEnds.map(() => 0);
  const buffer = Buffer.alloc(4096);
  const drain = () => {
    readEnds.forEach((fd, i) => {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buffer);
        } catch {
          return; // EAGAIN: nothing more for now
        }
        if (n === 0) return;
        if (kept[i] < MAX_OUTPUT_BYTES) chunks[i].push(Buffer.from(buffer.subarray(0, n)));
        kept[i] += n;
      }
    });
  };
  const state = libc.waitWithDeadline(pid, 0, timeoutMs, drain);
  if (state.kind === 'exited' || state.kind === 'killed') {
    childReaped(pid);
    drain();
    if (state.kind === 'killed') return state;
    const [stdout, stderr] = chunks.map((c) => Buffer.concat(c).toString('latin1'));
    return { kind: 'exited', code: state.code, stdout, stderr };
  }
  // Out of time, or no answer from waitpid: the program ends here (if it
  // cannot be killed, the engine, told of it, kills it with the runner).
  if (libc.killAndWait(pid, timeoutMs).gone) childReaped(pid);
  return { kind: 'timeout' };
}
