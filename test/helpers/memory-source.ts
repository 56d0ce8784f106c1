// A verdict source held in memory: the routes, the metrics and the app run
// over it with no probe runner. A refresh makes a report at once from the
// outcomes a test set; publish() makes any report current.
import { EventEmitter } from 'node:events';
import type { Feature } from '../../src/catalogue.js';
import { runResult, toVerdict, type Report } from '../../src/service/check.js';
import type { VerdictSource, VerdictSourceEvents } from '../../src/service/source.js';
import type { ProbeOutcome, RunResult } from '../../src/model.js';
import { CATALOGUE as TEST_FEATURES } from '../fixtures/http-probes.js';

export { TEST_FEATURES };

export const UNSUPPORTED = (name: string): ProbeOutcome => ({
  status: 'unsupported',
  reason: 'NotInKernel',
  message: `${name} is missing`,
});
export const UNKNOWN = (name: string): ProbeOutcome => ({
  status: 'unknown',
  reason: 'PermissionDenied',
  message: `${name} needs a capability`,
});

export interface MemorySourceOptions {
  features?: readonly Feature[];
  intervalMs?: number;
  minRefreshIntervalMs?: number;
}

/** A report of `features`, each supported unless `outcomes` names it. */
export function reportOf(features: readonly Feature[], outcomes: Readonly<Record<string, ProbeOutcome>> = {}): Report {
  const verdicts = features.map((feature, i) => {
    const outcome = outcomes[feature.name] ?? {
      status: 'supported',
      reason: 'Supported',
      message: `${feature.name} works`,
    };
    return toVerdict(feature, { name: feature.name, outcome, durationMs: 0.5 + i }, undefined);
  });
  return { verdicts, finishedAt: new Date(), durationMs: 12.5 };
}

export class MemorySource extends EventEmitter<VerdictSourceEvents> implements VerdictSource {
  readonly features: readonly Feature[];
  readonly intervalMs: number;
  readonly minRefreshIntervalMs: number;
  current: Report | undefined;
  readonly runs = { ok: 0, failed: 0 };
  refreshing = false;
  /** The outcomes the next refreshes report; features not named are supported. */
  outcomes: Record<string, ProbeOutcome> = {};
  /** What refreshAllowedInMs() answers. */
  waitMs = 0;
  /** refresh() calls so far: the runs a real source would have probed. */
  refreshes = 0;

  constructor(options: MemorySourceOptions = {}) {
    super();
    this.features = options.features ?? TEST_FEATURES;
    this.intervalMs = options.intervalMs ?? 300_000;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 0;
  }

  get ready(): boolean {
    return this.current !== undefined;
  }

  refresh(): Promise<Report> {
    this.refreshes += 1;
    const report = reportOf(this.features, this.outcomes);
    this.publish(report);
    return Promise.resolve(report);
  }

  refreshAllowedInMs(): number {
    return this.waitMs;
  }

  /** Make `report` current, as the end of a run does. */
  publish(report: Report, result: RunResult = runResult(report)): void {
    this.current = report;
    this.runs[result] += 1;
    this.emit('refreshed', report, result);
  }
}
