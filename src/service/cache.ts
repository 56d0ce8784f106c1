// The verdict cache: probes at start-up, then in the background on an
// interval, and serves the last verdicts while a run is under way. Requests
// never wait for a probe run once one has finished.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { Logger } from 'pino';
import { CATALOGUE, type Feature } from '../catalogue.js';
import { runCheck, runResult, type Report } from './check.js';
import type { Engine } from '../engine/engine.js';
import { errorMessage, type RunResult, type Verdict } from '../model.js';
import type { VerdictSource, VerdictSourceEvents } from './source.js';

/** After a failed run the next comes at this fraction of the interval (30 s of the default 5 minutes). */
const FAILED_RUN_RETRY_DIVISOR = 10;

/** What the verdicts depend on besides the kernel's code: a change of any of them invalidates them. */
export interface CacheKey {
  bootId: string;
  kernelRelease: string;
  /** Effective capabilities, as /proc/self/status's CapEff (hex). */
  capEff: string;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Where the key is read; the service reads the capabilities of the process that starts the runners. */
export interface KeyFiles {
  /** A /proc/PID/status: its CapEff are the capabilities the probes run with. */
  status: string;
  bootId: string;
}

const OWN_KEY_FILES: KeyFiles = { status: '/proc/self/status', bootId: '/proc/sys/kernel/random/boot_id' };

/**
 * The key now. A file that cannot be read (a descriptor limit, a process
 * being replaced) keeps that part of `previous`: a failed read says nothing
 * changed, and must not drop the cached verdicts.
 */
export function readCacheKey(previous?: CacheKey, files: KeyFiles = OWN_KEY_FILES): CacheKey {
  const status = readOr(files.status);
  const capEff = status === undefined ? undefined : /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return {
    bootId: readOr(files.bootId)?.trim() || (previous?.bootId ?? 'unknown'),
    kernelRelease: release(),
    capEff: capEff ?? previous?.capEff ?? 'unknown',
  };
}

function sameKey(a: CacheKey, b: CacheKey): boolean {
  return a.bootId === b.bootId && a.kernelRelease === b.kernelRelease && a.capEff === b.capEff;
}

export interface StopOptions {
  /** Time a run under way may take to finish before its runners are killed (default: no limit). */
  graceMs?: number;
  /** Told each runner killed. */
  onKilled?: (pid: number) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export interface VerdictCacheOptions {
  engine: Engine;
  /** The features to probe, in order (default: the whole catalogue). */
  features?: readonly Feature[];
  /** Time between background refreshes (ms). */
  intervalMs: number;
  /** Least time between the end of one run and a forced refresh (ms). */
  minRefreshIntervalMs: number;
  logger?: Logger;
  /** Reads the cache key (given the last one); tests replace it to simulate a reboot or a capability change. */
  readKey?: (previous: CacheKey | undefined) => CacheKey;
}

export class VerdictCache extends EventEmitter<VerdictSourceEvents> implements VerdictSource {
  readonly features: readonly Feature[];
  readonly intervalMs: number;
  readonly minRefreshIntervalMs: number;
  /** The verdicts of the last finished run whose key is still the current one. */
  current: Report | undefined;
  /** The key the current verdicts were made under (or the last one read). */
  key: CacheKey | undefined;
  readonly runs = { ok: 0, failed: 0 };

  private readonly engine: Engine;
  private readonly logger: Logger | undefined;
  private readonly readKey: (previous: CacheKey | undefined) => CacheKey;
  private inFlight: Promise<Report> | undefined;
  private lastFinished = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Set when stop() killed the run under way: its report is not published. */
  private cutShort = false;

  constructor(options: VerdictCacheOptions) {
    super();
    this.engine = options.engine;
    this.features = options.features ?? CATALOGUE;
    this.intervalMs = options.intervalMs;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs;
    this.logger = options.logger;
    this.readKey = options.readKey ?? ((previous) => readCacheKey(previous));
  }

  /** True once a run has finished (and its key has not changed since). */
  get ready(): boolean {
    return this.current !== undefined;
  }

  /** Whether a run is under way. */
  get refreshing(): boolean {
    return this.inFlight !== undefined;
  }

  /** Start the first run and the background refreshes. Resolves when the first run finished. */
  start(): Promise<Report> {
    return this.refresh();
  }

  /** Probe now; callers during a run share it (also while stopping). Never rejects while the cache runs. */
  refresh(): Promise<Report> {
    if (this.stopped) return this.inFlight ?? Promise.reject(new Error('the verdict cache is stopped'));
    this.inFlight ??= this.runOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Milliseconds until a forced refresh is allowed: 0 when allowed now or a run is under way (callers join it). */
  refreshAllowedInMs(): number {
    if (this.inFlight) return 0;
    return Math.max(0, Math.ceil(this.lastFinished + this.minRefreshIntervalMs - performance.now()));
  }

  /**
   * Stop the background refreshes, let a run under way finish within
   * `graceMs` (else kill its runners until it gives up: the engine hands the
   * probes left to new runners), and stop the runner. A run cut short is not
   * published: no 'refreshed', `current` stays the last whole run.
   */
  async stop({ graceMs = Infinity, onKilled }: StopOptions = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const running = this.inFlight;
    if (running) {
      let done = false;
      const finished = running.then(
        () => (done = true),
        () => (done = true),
      );
      if (Number.isFinite(graceMs)) await Promise.race([finished, sleep(graceMs)]);
      else await finished;
      if (!done) this.cutShort = true;
      while (!done) {
        for (const pid of await this.engine.killRunners()) onKilled?.(pid);
        await Promise.race([finished, sleep(100)]);
      }
    }
    await this.engine.close();
  }

  private async runOnce(): Promise<Report> {
    clearTimeout(this.timer);
    const key = this.readKey(this.key);
    if (this.key && !sameKey(this.key, key)) {
      this.logger?.info(
        { previous: this.key, key },
        'boot, kernel or capabilities changed: dropping the cached verdicts',
      );
      this.current = undefined;
    }
    this.key = key;

    const report = await this.check();
    if (this.cutShort) return report;
    const result = runResult(report);
    this.lastFinished = performance.now();
    this.current = report;
    this.runs[result] += 1;
    this.schedule(result);
    this.emit('refreshed', report, result);
    return report;
  }

  /** One check run; an error outside the probes makes every feature unknown for this run. */
  private async check(): Promise<Report> {
    const started = performance.now();
    try {
      return await runCheck(this.engine, this.features);
    } catch (err) {
      const message = `check run failed: ${errorMessage(err)}`;
      this.logger?.error({ err }, message);
      const verdicts: Verdict[] = this.features.map((f) => ({
        name: f.name,
        category: f.category,
        status: 'unknown',
        reason: 'ProbeError',
        message,
        hint: f.hint,
        kconfig: [],
        durationMs: 0,
      }));
      return { verdicts, finishedAt: new Date(), durationMs: performance.now() - started };
    }
  }

  /**
   * The next background run: after the interval; after a failed run (a
   * crashed runner, a probe timeout) sooner, at a tenth of it but never
   * closer than forced refreshes may be, so that a passing fault does not
   * hold the node unready for a whole interval.
   */
  private schedule(result: RunResult): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay =
      result === 'failed'
        ? Math.min(this.intervalMs, Math.max(this.minRefreshIntervalMs, this.intervalMs / FAILED_RUN_RETRY_DIVISOR))
        : this.intervalMs;
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), delay);
    // The timer alone never keeps the process alive.
    this.timer.unref();
  }
}
