// The service's privileged half, seen from its unprivileged HTTP process: a
// supervisor child process that hosts the ProbeEngine (it starts, times out,
// replaces and reaps the runners) and keeps the capabilities the probes
// need, while the HTTP process gives all of them up. The two talk over one
// socket, newline-delimited JSON: a command in, its answer out.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Engine, EngineOptions, ProbeResult } from './engine.js';
import { runnerExecArgv } from './runner-process.js';
import { onLines } from './channel.js';

/**
 * The Node options of the service's runners: a runner lives for one run
 * (unless --keep-runner) and little of what it allocates outlives a probe,
 * so a small young generation serves it, where V8 would grow one for
 * throughput. Its heap is bounded as the HTTP process's is.
 */
export const SERVICE_RUNNER_NODE_OPTIONS = ['--max-semi-space-size=1', '--max-old-space-size=64'] as const;

/**
 * The supervisor's Node options. It relays commands and results and reaps
 * runners: little JavaScript, seldom run, which V8's interpreter serves as
 * well as compiled code would, without the memory its compilers and their
 * code take (not --jitless: that also takes WebAssembly away, and Node 20
 * says so on stderr). Its heap is bounded as a runner's is.
 */
export const SUPERVISOR_NODE_OPTIONS = [
  '--no-opt',
  '--no-maglev',
  '--no-sparkplug',
  ...SERVICE_RUNNER_NODE_OPTIONS,
] as const;

/** The descriptor the supervisor has its channel on. */
export const SUPERVISOR_FD = 3;
/** The engine's options, as JSON, in the supervisor's environment. */
export const SUPERVISOR_OPTIONS_ENV = 'CRIU_READINESS_SUPERVISOR';

export type SupervisorOptions = Pick<EngineOptions, 'probeTimeoutMs' | 'runTimeoutMs' | 'keepWarm' | 'probeModule'> & {
  /** The process it serves: it exits rather than outlive it. */
  parentPid: number;
  /**
   * Run the whole probe table as soon as the first runner is ready, before
   * anyone asks: a first command for those probes, in that order, is answered
   * with that run. The service's first run (the catalogue) then overlaps the
   * HTTP process's start-up instead of waiting for it.
   */
  runFirst?: boolean;
};

export type SupervisorCommand = { id: number } & ({ run: string[] } | { kill: true } | { close: true });
export type SupervisorAnswer = { id: number } & ({ results: ProbeResult[] } | { killed: number[] } | { closed: true });

/**
 * From source (tests), the TypeScript module; built, the CommonJS bundle
 * (scripts/bundle.mjs), or tsc's ES module where only tsc ran: without a
 * supervisor the service cannot probe at all.
 */
function supervisorPath(): string {
  if (import.meta.url.endsWith('.ts')) return fileURLToPath(new URL('./supervisor-main.ts', import.meta.url));
  const bundled = fileURLToPath(new URL('./supervisor-main.cjs', import.meta.url));
  return existsSync(bundled) ? bundled : fileURLToPath(new URL('./supervisor-main.js', import.meta.url));
}
const DEFAULT_SUPERVISOR = supervisorPath();

/**
 * Start the supervisor: its channel on fd 3 (a socket pair: libuv makes one
 * for a 'pipe'), stderr shared, a session of its own so that a terminal's
 * ^C reaches only the HTTP process, which owns the shutdown.
 */
export function spawnSupervisor(
  options: Omit<SupervisorOptions, 'parentPid'>,
  path = DEFAULT_SUPERVISOR,
): ChildProcess {
  const env = {
    ...process.env,
    [SUPERVISOR_OPTIONS_ENV]: JSON.stringify({ ...options, parentPid: process.pid } satisfies SupervisorOptions),
  };
  return spawn(process.execPath, [...SUPERVISOR_NODE_OPTIONS, ...runnerExecArgv(process.execArgv), path], {
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    detached: true,
    env,
  });
}

interface Pending {
  resolve(answer: SupervisorAnswer | undefined): void;
}

/** The supervisor's engine, driven over its channel. */
export class SupervisedEngine extends EventEmitter<{ gone: [why: string] }> implements Engine {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private goneWhy: string | undefined;

  constructor(
    private readonly channel: Duplex,
    /** The supervisor's pid, for messages. */
    readonly pid: number,
  ) {
    super();
    onLines(channel, (line) => this.receive(line));
    // A reset channel (the supervisor killed) is reported by 'close'.
    channel.on('error', () => undefined);
    channel.once('close', () =>
      this.lost(`the probe supervisor (pid ${pid}) exited; probes cannot run until the service is restarted`),
    );
  }

  /** Why the supervisor is gone, once it is. */
  get gone(): string | undefined {
    return this.goneWhy;
  }

  private receive(line: string): void {
    let answer: SupervisorAnswer;
    try {
      answer = JSON.parse(line) as SupervisorAnswer;
    } catch {
      return;
    }
    this.pending.get(answer.id)?.resolve(answer);
    this.pending.delete(answer.id);
  }

  private lost(why: string): void {
    if (this.goneWhy !== undefined) return;
    this.goneWhy = why;
    for (const waiting of this.pending.values()) waiting.resolve(undefined);
    this.pending.clear();
    this.emit('gone', why);
  }

  /** Send a command; its answer, or undefined once the supervisor is gone. */
  private ask(command: SupervisorCommand): Promise<SupervisorAnswer | undefined> {
    if (this.goneWhy !== undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.pending.set(command.id, { resolve });
      this.channel.write(JSON.stringify(command) + '\n');
    });
  }

  async run(names: readonly string[]): Promise<ProbeResult[]> {
    const answer = await this.ask({ id: this.nextId++, run: [...names] });
    if (answer && 'results' in answer) return answer.results;
    const message = this.goneWhy ?? 'the probe supervisor gave no results';
    return names.map((name) => ({
      name,
      outcome: { status: 'unknown', reason: 'RunnerUnavailable', message },
      durationMs: 0,
    }));
  }

  async killRunners(): Promise<number[]> {
    const answer = await this.ask({ id: this.nextId++, kill: true });
    return answer && 'killed' in answer ? answer.killed : [];
  }

  /** Stop the supervisor's runners, then let it go: it exits when its channel ends. */
  async close(): Promise<void> {
    await this.ask({ id: this.nextId++, close: true });
    if (this.goneWhy !== undefined) return;
    const closed = new Promise<void>((resolve) => this.channel.once('close', () => resolve()));
    // Its end is expected now, not a loss to report.
    this.goneWhy = 'the probe supervisor was stopped';
    this.channel.end();
    await closed;
  }
}
