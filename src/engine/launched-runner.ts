// A runner the launcher (bin/criu-readiness, through bin/with-runner)
// started beside the CLI, so that the two Node start-ups run side by side
// instead of one after the other. A shell starts the runner, then becomes
// the CLI (exec): the runner is this process's child, its commands on
// descriptor 4 and its channel, stderr included, on descriptor 3. Here it is
// made to look to the engine like a runner the engine spawned: commands in,
// messages out, one 'close' when it has exited, and killed with its process
// group.
import { EventEmitter } from 'node:events';
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import * as libc from '../native/libc.js';
import { procStat } from '../native/procfs.js';
import { SIGKILL, __WALL, errno } from '../native/constants.js';
import { LAUNCHED_COMMAND_FD, LAUNCHED_CHANNEL_FD, LAUNCHED_RUNNER_ENV } from './channel.js';
import type { RunnerChild, RunnerProcess } from './runner-process.js';

/** How often a runner whose channel has ended is looked at until it has exited. */
const EXIT_POLL_MS = 1;
/** How long a runner that closed its channel may take to exit before it is killed. */
const EXIT_GRACE_MS = 2_000;

class LaunchedRunner extends EventEmitter implements RunnerChild {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdin: Writable;
  /** Its stderr comes on the channel, as lines that are not messages. */
  readonly stderr = null;
  readonly stdio: readonly (Readable | Writable | null)[];

  constructor(
    readonly pid: number,
    channelFd: number,
    commandFd: number,
  ) {
    super();
    const channel = new Socket({ fd: channelFd, readable: true, writable: false });
    const commands = new Socket({ fd: commandFd, readable: false, writable: true });
    // Not close-on-exec: a runner spawned later inherits them, but only once this one has ended
    // (the engine runs one runner at a time), when they hold nothing open that matters.
    this.stdin = commands;
    this.stdio = [commands, null, null, channel];
    channel.on('error', () => undefined);
    channel.once('close', () => this.awaitExit(performance.now() + EXIT_GRACE_MS));
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Its channel has ended: reap it (our child), as soon as it has exited. */
  private awaitExit(deadline: number): void {
    const state = libc.pollChild(this.pid, __WALL);
    if (state === undefined) {
      if (performance.now() > deadline) libc.kill(this.pid, SIGKILL);
      setTimeout(() => this.awaitExit(deadline), EXIT_POLL_MS);
      return;
    }
    if (state.kind === 'stopped') return this.awaitExit(deadline);
    if (state.kind === 'exited') this.exitCode = state.code;
    else if (state.kind === 'killed') this.signalCode = signalName(state.signal);
    // 'failed': not ours to reap (ECHILD): gone all the same, its status unknown.
    else if (state.errno !== errno.ECHILD) this.exitCode = -1;
    this.emit('exit', this.exitCode, this.signalCode);
    this.emit('close', this.exitCode, this.signalCode);
  }
}

function signalName(signal: number): NodeJS.Signals | null {
  const found = Object.entries(constants.signals).find(([, n]) => n === signal);
  return found ? (found[0] as NodeJS.Signals) : null;
}

function isPipe(fd: number): boolean {
  try {
    return fstatSync(fd).isFIFO();
  } catch {
    return false;
  }
}

/**
 * The runner the launcher started, taken once: the variable naming it is
 * removed, so no process started later takes it for its own. Undefined when
 * none was started, or when what the variable names is not a runner of ours
 * (not our child, or its descriptors are not pipes): the caller spawns one.
 */
export function takeLaunchedRunner(env: NodeJS.ProcessEnv = process.env): RunnerProcess | undefined {
  const value = env[LAUNCHED_RUNNER_ENV];
  if (value === undefined) return undefined;
  delete env[LAUNCHED_RUNNER_ENV];
  const pid = Number(value);
  if (!/^[1-9][0-9]*$/.test(value) || procStat(pid)?.ppid !== process.pid) return undefined;
  if (!isPipe(LAUNCHED_CHANNEL_FD) || !isPipe(LAUNCHED_COMMAND_FD)) return undefined;
  // Never settles: a runner already running cannot fail to start.
  const startFailure = new Promise<Error>(() => undefined);
  return { child: new LaunchedRunner(pid, LAUNCHED_CHANNEL_FD, LAUNCHED_COMMAND_FD), startFailure };
}
