// The probe engine: runs probes in a separate runner process, bounds each
// probe and the whole run in time, replaces a runner that dies or overruns,
// and leaves no process behind.
import { ownChildren, procStat } from '../native/procfs.js';
import type { Readable } from 'node:stream';
import * as libc from '../native/libc.js';
import { PR_SET_CHILD_SUBREAPER, SIGKILL, __WALL } from '../native/constants.js';
import { CHANNEL_FD, onLines, type RunCommand, type RunnerMessage } from './channel.js';
import { DEFAULT_RUNNER, spawnRunner, type RunnerChild, type RunnerProcess } from './runner-process.js';
import {
  DEFAULT_PROBE_TIMEOUT_MS,
  DEFAULT_RUN_TIMEOUT_MS,
  DEFAULT_START_TIMEOUT_MS,
  type ProbeOutcome,
  type Reason,
} from '../model.js';

export interface EngineOptions {
  /** Time one probe may take before its runner is killed (ms). */
  probeTimeoutMs?: number;
  /** Time a whole run may take (ms). */
  runTimeoutMs?: number;
  /** A module exporting CATALOGUE (name and probe) to run instead of the real one: for tests. */
  probeModule?: string;
  /** Keep the runner between runs, so a run costs the probes and not a Node start-up. */
  keepWarm?: boolean;
  /** Time a runner may take to start (ms): a Node start-up, slower on a loaded node. */
  startTimeoutMs?: number;
  /** The runner's program; for tests that need a runner that cannot start. */
  runnerPath?: string;
  /** Node options each runner is started with, before those it inherits (runnerExecArgv). */
  runnerNodeOptions?: readonly string[];
}

/** A run started early (runPrestarted): the names it is of, and its results to come. */
export interface EarlyRun {
  names: readonly string[];
  results: Promise<ProbeResult[]>;
}

export interface ProbeResult {
  name: string;
  outcome: ProbeOutcome;
  durationMs: number;
}

/**
 * What the verdict cache needs of an engine: the ProbeEngine in this process
 * (the CLI, tests), or the supervisor's over its pipe (the service).
 */
export interface Engine {
  /**
   * Run the named probes (a catalogue row marked runsFirst before the rest); runs never overlap. Every name gets a
   * result, in the order asked.
   */
  run(names: readonly string[]): Promise<ProbeResult[]>;
  /** Kill every runner now; a run under way ends as after a crash. The pids killed. */
  killRunners(): number[] | Promise<number[]>;
  /** Stop the runners and wait until they are gone. */
  close(): Promise<void>;
}

function unknownResult(name: string, reason: Reason, message: string, durationMs = 0): ProbeResult {
  return { name, outcome: { status: 'unknown', reason, message }, durationMs };
}

/** How a runner's part of a run ended. */
type Ending =
  | { kind: 'done' }
  | { kind: 'timeout'; name: string; elapsedMs: number }
  | { kind: 'deadline'; name?: string; elapsedMs: number }
  | { kind: 'crashed'; name?: string; elapsedMs: number; why: string };

/** What a runner says, and its end: one stream of events, heard through one set of listeners. */
type RunnerEvent = RunnerMessage | { type: 'closed'; why: string };

/** One runner process and the helper processes its probes started. */
class Runner {
  readonly child: RunnerChild;
  /** Tracees and other helpers the runner reported and has not reaped yet. */
  private readonly helpers = new Set<number>();
  /**
   * Who hears the events. A warm runner outlives many runs, so each run's
   * listener is removed when the run ends, never kept until the runner dies.
   */
  private readonly listeners = new Set<(event: RunnerEvent) => void>();
  private stderrTail = '';
  /** Why the runner ended, once it has. */
  private closedWhy: string | undefined;
  /** The names of the probe table it loaded, once it is ready, and their categories. */
  probes: readonly string[] = [];
  categories: readonly string[] = [];
  /**
   * The run it began by itself as it became ready (a launched runner, given
   * the CLI's arguments), and every event since, until the engine takes it.
   */
  private ownRun: { names: readonly string[]; heard: RunnerEvent[] } | undefined;

  constructor({ child, startFailure }: RunnerProcess) {
    this.child = child;
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000);
    });
    // A spawn that failed outright (EMFILE) has no pipes: startFailure reports it.
    const channel = this.child.stdio?.[CHANNEL_FD] as Readable | undefined;
    if (channel) onLines(channel, (line) => this.receive(line));
    // A command written as the runner dies meets a closed pipe; its death is reported by 'close'.
    this.child.stdin?.on('error', () => undefined);
    // Heard at once, before 'close' (which follows a failed spawn with a made-up exit code);
    // startFailure covers a runner that failed before it was handed to us.
    const failedToStart = (err: Error) => this.close(`could not start the runner: ${err.message}`);
    this.child.once('error', failedToStart);
    void startFailure.then(failedToStart);
    this.child.once('close', (code, signal) => {
      this.reapHelpers();
      const last = lastErrorLine(this.stderrTail);
      this.close(`runner exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`);
    });
  }

  private close(why: string): void {
    if (this.closedWhy !== undefined) return;
    this.closedWhy = why;
    this.emit({ type: 'closed', why });
    this.listeners.clear();
  }

  private emit(event: RunnerEvent): void {
    this.ownRun?.heard.push(event);
    for (const listen of this.listeners) listen(event);
  }

  private receive(line: string): void {
    let message: RunnerMessage;
    try {
      message = JSON.parse(line) as RunnerMessage;
    } catch {
      // A launched runner's stderr shares its channel; anything else is a torn line from a dying runner.
      if (!line.startsWith('{')) this.stderrTail = (this.stderrTail + line + '\n').slice(-2000);
      return;
    }
    if (message.type === 'spawned') this.helpers.add(message.pid);
    if (message.type === 'reaped') this.helpers.delete(message.pid);
    if (message.type === 'ready') {
      this.probes = message.probes;
      this.categories = message.categories;
    }
    this.emit(message);
    if (message.type === 'ready' && message.running) this.ownRun = { names: message.running, heard: [] };
  }

  /**
   * The run it began by itself, taken once: what it has said of it so far,
   * if that run is of exactly `names`; 'other' if it is of other probes;
   * undefined if it began none, or that run was taken.
   */
  takeOwnRun(names: readonly string[]): RunnerEvent[] | 'other' | undefined {
    const own = this.ownRun;
    this.ownRun = undefined;
    if (!own) return undefined;
    return sameNames(own.names, names) ? own.heard : 'other';
  }

  /**
   * Hear every event until unsubscribed; the last is always 'closed' (at
   * once, in a microtask, for a runner already ended).
   */
  listen(listen: (event: RunnerEvent) => void): () => void {
    const why = this.closedWhy;
    if (why !== undefined) {
      queueMicrotask(() => listen({ type: 'closed', why }));
      return () => undefined;
    }
    this.listeners.add(listen);
    return () => this.listeners.delete(listen);
  }

  /** The first event `pick` gives a value for; the listener goes with it. */
  private next<T>(pick: (event: RunnerEvent) => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const unsubscribe = this.listen((event) => {
        const value = pick(event);
        if (value === undefined) return;
        unsubscribe();
        resolve(value);
      });
    });
  }

  /** Wait for the first message of a kind (true), or for the runner to close (false). */
  waitFor(type: RunnerMessage['type']): Promise<boolean> {
    return this.next((event) => (event.type === type ? true : event.type === 'closed' ? false : undefined));
  }

  /** Why the runner ended, once it has. */
  closed(): Promise<string> {
    return this.next((event) => (event.type === 'closed' ? event.why : undefined));
  }

  /** Not yet exited: a warm runner may have died while idle (the OOM killer). */
  get alive(): boolean {
    return this.closedWhy === undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  send(command: RunCommand): void {
    this.child.stdin?.write(JSON.stringify(command) + '\n');
  }

  kill(): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.alive) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }

  /** Ask a warm runner to finish; kill it if it does not within `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.closed();
    clearTimeout(timer);
  }

  /**
   * Processes a runner left when it ended: every process of its group (it
   * leads one) that was handed to us, since the engine is a child subreaper,
   * and every helper it reported. Each is killed and, if it is our child,
   * reaped, so neither a zombie nor a stopped tracee survives the runner.
   */
  private reapHelpers(): void {
    const group = this.child.pid;
    const orphans = ownChildren().filter((pid) => procStat(pid)?.pgrp === group);
    for (const pid of new Set([...orphans, ...this.helpers])) {
      const stat = procStat(pid);
      if (!stat || (stat.ppid !== process.pid && stat.pgrp !== group)) continue; // gone, or a pid now reused
      libc.kill(pid, SIGKILL);
      if (stat.ppid === process.pid) libc.waitpid(pid, [0], __WALL);
    }
    this.helpers.clear();
  }
}

/** The line of a dead runner's stderr that says why: an error line, not Node's closing version banner. */
function lastErrorLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Node\.js v\d/.test(l));
  return lines.findLast((l) => /Error\b/.test(l)) ?? lines.at(-1);
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

let subreaper = false;

/**
 * Helpers of a runner that dies are handed to us rather than to init, so we
 * can reap them: init in a container may not. Done once the first command is
 * sent (a runner starts helpers only for a run), so that loading koffi here
 * overlaps the runner's work rather than delaying the command.
 */
function becomeSubreaper(): void {
  if (subreaper) return;
  libc.prctl(PR_SET_CHILD_SUBREAPER, ['long', 1]);
  subreaper = true;
}

export class ProbeEngine implements Engine {
  private readonly probeTimeoutMs: number;
  private readonly runTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly keepWarm: boolean;
  private readonly runnerPath: string;
  private readonly probeModule: string | undefined;
  private readonly runnerNodeOptions: readonly string[];
  private warm: Runner | undefined;
  /** A runner started ahead of the first run (prestart), not yet ready or not yet used. */
  private starting: Promise<Runner | string> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Runners told to stop and not yet gone. */
  private readonly stopping = new Set<Promise<void>>();
  /** Every runner started and not yet ended: busy, warm, starting or stopping. */
  private readonly live = new Set<Runner>();

  constructor(options: EngineOptions = {}) {
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.runTimeoutMs = options.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    this.startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.keepWarm = options.keepWarm ?? false;
    this.runnerPath = options.runnerPath ?? DEFAULT_RUNNER;
    this.probeModule = options.probeModule;
    this.runnerNodeOptions = options.runnerNodeOptions ?? [];
  }

  /** Run the named probes; every name gets a result, in the order asked (see Engine.run). */
  run(names: readonly string[]): Promise<ProbeResult[]> {
    const result = this.queue.then(() => this.runNow(names));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Start a runner now, so its Node start-up overlaps whatever the caller
   * does before the first run (the CLI loads the catalogue meanwhile); or
   * take over one the caller started itself with spawnRunner(), for this
   * engine's runner and probes.
   */
  prestart(started?: RunnerProcess): void {
    if (!this.warm && !this.starting) this.starting = this.startRunner(started);
    else started?.child.kill('SIGKILL');
  }

  /**
   * Run, as soon as the runner started ahead (prestart) is ready, the probes
   * of its table that `pick` chooses, in its order: a caller need not have
   * loaded a catalogue to ask. Undefined when none was started ahead or it
   * could not start. resultsOf() takes the run for the names it was of.
   */
  async runPrestarted(pick: (probe: { name: string; category: string }) => boolean): Promise<EarlyRun | undefined> {
    const runner = await this.starting;
    if (typeof runner !== 'object') return undefined;
    const names = runner.probes.filter((name, i) => pick({ name, category: runner.categories[i] ?? '' }));
    return { names, results: this.run(names) };
  }

  /** The results for `names`: those of `early` if it ran exactly these, in this order; else a run now. */
  resultsOf(names: readonly string[], early: EarlyRun | undefined): Promise<ProbeResult[]> {
    return early && sameNames(early.names, names) ? early.results : this.run(names);
  }

  /** A runner done with: the results need not wait for its exit, close() does. */
  private stopInBackground(runner: Runner): void {
    const stopped = runner.stop(this.probeTimeoutMs).finally(() => this.stopping.delete(stopped));
    this.stopping.add(stopped);
  }

  /** Stop the warm runner, if any, and wait for every runner to be gone. */
  async close(): Promise<void> {
    await this.queue;
    await Promise.all(this.stopping);
    const started = await this.starting;
    this.starting = undefined;
    const runner = this.warm ?? (typeof started === 'object' ? started : undefined);
    this.warm = undefined;
    await runner?.stop(this.probeTimeoutMs);
  }

  /**
   * Kill every runner now, with its process group (each helper it started):
   * a run under way ends as after a crash, its probes left go to a new
   * runner, which the next call kills too. The pids of the runners killed.
   */
  killRunners(): number[] {
    const killed: number[] = [];
    for (const runner of this.live) {
      if (runner.alive && runner.child.pid !== undefined) killed.push(runner.child.pid);
      runner.kill();
    }
    return killed;
  }

  private async startRunner(started?: RunnerProcess): Promise<Runner | string> {
    const runner = new Runner(started ?? spawnRunner(this.runnerPath, this.probeModule, this.runnerNodeOptions));
    this.live.add(runner);
    void runner.closed().then(() => this.live.delete(runner));
    const timer = setTimeout(() => runner.kill(), this.startTimeoutMs);
    const ready = await runner.waitFor('ready');
    clearTimeout(timer);
    if (ready) return runner;
    return runner.closed();
  }

  private async runNow(names: readonly string[]): Promise<ProbeResult[]> {
    const results = new Map<string, ProbeResult>();
    const deadline = Date.now() + this.runTimeoutMs;
    let pending = [...names];
    while (pending.length > 0) {
      const prestarted = this.starting;
      this.starting = undefined;
      // A warm runner that died while idle is not handed the run.
      const reused = this.warm?.alive ? this.warm : undefined;
      this.warm = undefined;
      let runner = reused ?? (await (prestarted ?? this.startRunner()));
      // One started ahead that never became ready (the launcher's could not start): one of ours is tried.
      if (typeof runner === 'string' && prestarted) runner = await this.startRunner();
      if (typeof runner === 'string') {
        for (const name of pending) results.set(name, unknownResult(name, 'RunnerUnavailable', runner));
        break;
      }
      const own = runner.takeOwnRun(pending);
      if (own === 'other') {
        // It is running probes nobody asked for, and exits after them: a runner of ours takes the run.
        runner.kill();
        continue;
      }
      const before = pending.length;
      const ending = await this.drive(runner, pending, deadline, (r) => results.set(r.name, r), own);
      pending = pending.filter((name) => !results.has(name));
      const progressed = pending.length < before;
      if (ending.kind === 'done') {
        if (this.keepWarm) this.warm = runner;
        else this.stopInBackground(runner);
        continue;
      }
      if (ending.kind === 'timeout') {
        results.set(
          ending.name,
          unknownResult(
            ending.name,
            'Timeout',
            `probe did not finish within ${this.probeTimeoutMs} ms`,
            ending.elapsedMs,
          ),
        );
      } else if (ending.kind === 'deadline') {
        const message = `the run did not finish within ${this.runTimeoutMs} ms`;
        for (const name of pending)
          results.set(name, unknownResult(name, 'Timeout', message, name === ending.name ? ending.elapsedMs : 0));
      } else if (ending.name) {
        results.set(ending.name, unknownResult(ending.name, 'ProbeCrashed', ending.why, ending.elapsedMs));
      } else if (!progressed && !reused) {
        // A fresh runner that died before starting any probe cannot serve this run.
        for (const name of pending) results.set(name, unknownResult(name, 'RunnerUnavailable', ending.why));
      }
      // Otherwise it died between two probes, or was a warm one that died
      // just as it was handed the run: the rest go to a new runner.
      pending = pending.filter((name) => !results.has(name));
    }
    return names.map((name) => results.get(name) ?? unknownResult(name, 'ProbeError', 'no result'));
  }

  /**
   * Hand `names` to one runner and watch it until it is done, dies, or
   * overruns. Every message is awaited no longer than the probe timeout: a
   * probe's result after its start, and equally the first start after the
   * command or the next one after a result, so that a runner that stopped
   * answering (SIGSTOPped while warm, swapped out) is replaced at once
   * rather than holding the run until its deadline. `heard`: the runner
   * began this run by itself, and has said this of it so far; it is taken
   * from there, counted from now, rather than asked for.
   */
  private drive(
    runner: Runner,
    names: string[],
    deadline: number,
    record: (r: ProbeResult) => void,
    heard?: readonly RunnerEvent[],
  ): Promise<Ending> {
    return new Promise((resolve) => {
      let current: { name: string; started: number } | undefined;
      let killedFor: Ending | undefined;
      let ended = false;
      let silence: NodeJS.Timeout | undefined;
      const elapsed = () => (current ? performance.now() - current.started : 0);
      const killFor = (ending: Ending) => {
        killedFor ??= ending;
        runner.kill();
      };
      const expectWithin = (ending: () => Ending) => {
        clearTimeout(silence);
        silence = setTimeout(() => killFor(ending()), this.probeTimeoutMs);
      };
      const silent = (): Ending => ({
        kind: 'crashed',
        elapsedMs: 0,
        why: `the runner did not answer within ${this.probeTimeoutMs} ms`,
      });
      const runTimer = setTimeout(
        () => killFor({ kind: 'deadline', name: current?.name, elapsedMs: elapsed() }),
        Math.max(0, deadline - Date.now()),
      );
      let unsubscribe: () => unknown = () => undefined;
      const finish = (ending: Ending) => {
        ended = true;
        clearTimeout(runTimer);
        clearTimeout(silence);
        unsubscribe();
        resolve(ending);
      };
      const hear = (m: RunnerEvent) => {
        if (ended) return;
        if (m.type === 'closed') {
          finish(killedFor ?? { kind: 'crashed', name: current?.name, elapsedMs: elapsed(), why: m.why });
          return;
        }
        if (killedFor) return;
        if (m.type === 'start') {
          current = { name: m.name, started: performance.now() };
          const name = m.name;
          expectWithin(() => ({ kind: 'timeout', name, elapsedMs: elapsed() }));
        } else if (m.type === 'result') {
          current = undefined;
          record({ name: m.name, outcome: m.outcome, durationMs: m.durationMs });
          expectWithin(silent);
        } else if (m.type === 'done') {
          finish({ kind: 'done' });
        }
      };
      if (heard) heard.forEach(hear);
      else runner.send({ run: names, exitWhenDone: !this.keepWarm });
      if (ended) return;
      unsubscribe = runner.listen(hear);
      becomeSubreaper();
      // Counted from here: the runner's silence, not this process's own work above (or what it said before).
      if (!heard?.length) expectWithin(silent);
    });
  }
}
