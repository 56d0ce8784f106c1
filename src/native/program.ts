// Running a short external program and reading what it prints, for the few
// checks CRIU makes by running one (iptables-save -V). posix_spawn, not
// child_process: Node forks its whole large process for a child,
// posix_spawn does not. The child is reported on the
// runner's channel like any helper, and never outlives the call.
import { readSync } from 'node:fs';
import { childReaped, childSpawned } from './children.js';
import { F_SETFL, O_CLOEXEC, O_NONBLOCK } from './constants.js';
import * as libc from './libc.js';

export type ProgramResult =
  | { kind: 'exited'; code: number; stdout: string }
  | { kind: 'killed'; signal: number }
  | { kind: 'timeout' }
  /** posix_spawn's error number: the program could not be started. */
  | { kind: 'failed'; errno: number };

/** What is kept of the output: these programs print a line. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/** Run `path` with `argv` (argv[0] included), empty environment and stdin, until it ends or `timeoutMs` passes. */
export function runProgram(path: string, argv: string[], timeoutMs: number): ProgramResult {
  const pipe = [-1, -1];
  const piped = libc.pipe2(pipe, O_CLOEXEC);
  if (piped.ret < 0) return { kind: 'failed', errno: piped.errno };
  const [readEnd, writeEnd] = pipe;
  // Only our end is non-blocking: the program's writes must wait for us, not fail.
  libc.fcntlInt(readEnd, F_SETFL, O_NONBLOCK);
  let spawned: { pid: number; error: number };
  try {
    spawned = libc.spawnQuiet(path, argv, { stdout: writeEnd });
  } finally {
    libc.close(writeEnd);
  }
  try {
    if (spawned.error !== 0) return { kind: 'failed', errno: spawned.error };
    childSpawned(spawned.pid);
    return collect(spawned.pid, readEnd, timeoutMs);
  } finally {
    libc.close(readEnd);
  }
}

function collect(pid: number, readEnd: number, timeoutMs: number): ProgramResult {
  const chunks: Buffer[] = [];
  let kept = 0;
  const buffer = Buffer.alloc(4096);
  const drain = () => {
    for (;;) {
      let n: number;
      try {
        n = readSync(readEnd, buffer);
      } catch {
        return; // EAGAIN: nothing more for now
      }
      if (n === 0) return;
      if (kept < MAX_OUTPUT_BYTES) chunks.push(Buffer.from(buffer.subarray(0, n)));
      kept += n;
    }
  };
  const state = libc.waitWithDeadline(pid, 0, timeoutMs, drain);
  if (state.kind === 'exited' || state.kind === 'killed') {
    childReaped(pid);
    drain();
    return state.kind === 'exited' ? { kind: 'exited', code: state.code, stdout: Buffer.concat(chunks).toString('latin1') } : state;
  }
  // Out of time, or no answer from waitpid: the program ends here (if it
  // cannot be killed, the engine, told of it, kills it with the runner).
  if (libc.killAndWait(pid, timeoutMs).gone) childReaped(pid);
  return { kind: 'timeout' };
}
