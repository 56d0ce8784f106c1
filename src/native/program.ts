// Running a short external program and reading what it prints, for the few
// checks CRIU makes by running one (iptables-save -V). posix_spawn, not
// child_process: Node forks its whole large process for a child,
// posix_spawn does not. The child is reported on the
// runner's channel like any helper, and never outlives the call.
import { readSync } from 'node:fs';
import { childReaped, childSpawned } from './children.js';
import { F_SETFL, O_CLOEXEC, O_NONBLOCK, O_RDWR } from './constants.js';
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
  const result = collectAll(pid, [readEnd], timeoutMs);
  return result.kind === 'exited' ? { kind: 'exited', code: result.code, stdout: result.outputs[0] } : result;
}

type Collected = { kind: 'exited'; code: number; outputs: string[] } | { kind: 'killed'; signal: number } | { kind: 'timeout' };

/** Wait for `pid` under the deadline, reading each of `readEnds` (non-blocking) as it goes; each output bounded. */
function collectAll(pid: number, readEnds: number[], timeoutMs: number): Collected {
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
    return state.kind === 'exited' ? { kind: 'exited', code: state.code, outputs: chunks.map((c) => Buffer.concat(c).toString('latin1')) } : state;
  }
  // Out of time, or no answer from waitpid: the program ends here (if it
  // cannot be killed, the engine, told of it, kills it with the runner).
  if (libc.killAndWait(pid, timeoutMs).gone) childReaped(pid);
  return { kind: 'timeout' };
}

// ---------------------------------------------------------------------------
// Programs that need more than runProgram gives: their stderr, an
// environment, a working directory, a session of their own. Same contract:
// posix_spawn, bounded in time, reaped, announced through children.ts.

/** How to start a program: environment ("NAME=value" entries; none by default), working directory, own session. */
export interface SpawnOptions {
  env?: string[];
  /** Working directory of the program (posix_spawn_file_actions_addchdir_np, glibc 2.29). */
  cwd?: string;
  /** Start it in a session (and process group) of its own: POSIX_SPAWN_SETSID. */
  setsid?: boolean;
}

export type FullProgramResult =
  | { kind: 'exited'; code: number; stdout: string; stderr: string }
  | { kind: 'killed'; signal: number }
  | { kind: 'timeout' }
  | { kind: 'failed'; errno: number };

/** glibc's POSIX_SPAWN_SETSID (<spawn.h>). */
const POSIX_SPAWN_SETSID = 0x80;
/** glibc's posix_spawnattr_t is 336 bytes on x86-64; room to spare. */
const SPAWN_ATTR_SIZE = 512;
const SPAWN_FILE_ACTIONS_SIZE = 128;

const spawnFull = libc.libcFunction(
  'int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)',
);
const actionsInit = libc.libcFunction('int posix_spawn_file_actions_init(void *actions)');
const actionsOpen = libc.libcFunction('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, int mode)');
const actionsDup2 = libc.libcFunction('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
const actionsChdir = libc.libcFunction('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)');
const actionsDestroy = libc.libcFunction('int posix_spawn_file_actions_destroy(void *actions)');
const attrInit = libc.libcFunction('int posix_spawnattr_init(void *attr)');
const attrSetFlags = libc.libcFunction('int posix_spawnattr_setflags(void *attr, short flags)');
const attrDestroy = libc.libcFunction('int posix_spawnattr_destroy(void *attr)');

/**
 * posix_spawn with stdin on /dev/null, stdout and stderr on the descriptors
 * given (else /dev/null), the options' environment, directory and session.
 * The child is announced (children.ts); the caller must reap it and say so
 * (childReaped). Returns the pid, or posix_spawn's error number.
 */
export function spawnProgram(path: string, argv: string[], options: SpawnOptions & { stdout?: number; stderr?: number } = {}): { pid: number; error: number } {
  const actions = Buffer.alloc(SPAWN_FILE_ACTIONS_SIZE);
  const attr = Buffer.alloc(SPAWN_ATTR_SIZE);
  actionsInit(actions);
  attrInit(attr);
  try {
    for (const fd of [0, 1, 2]) actionsOpen(actions, fd, '/dev/null', O_RDWR, 0);
    if (options.stdout !== undefined) actionsDup2(actions, options.stdout, 1);
    if (options.stderr !== undefined) actionsDup2(actions, options.stderr, 2);
    if (options.cwd !== undefined) actionsChdir(actions, options.cwd);
    if (options.setsid) attrSetFlags(attr, POSIX_SPAWN_SETSID);
    const pid = [0];
    const error = spawnFull(pid, path, actions, attr, [...argv, null], [...(options.env ?? []), null]) as number;
    if (error === 0) childSpawned(pid[0]);
    return { pid: error === 0 ? pid[0] : -1, error };
  } finally {
    attrDestroy(attr);
    actionsDestroy(actions);
  }
}

/** runProgram, with stderr kept too and the options' environment, directory and session. */
export function runProgramFull(path: string, argv: string[], timeoutMs: number, options: SpawnOptions = {}): FullProgramResult {
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
    const result = collectAll(spawned.pid, readEnds, timeoutMs);
    return result.kind === 'exited' ? { kind: 'exited', code: result.code, stdout: result.outputs[0], stderr: result.outputs[1] } : result;
  } finally {
    for (const fd of readEnds) libc.close(fd);
  }
}
