// What the layers above the service (routes, metrics, the NFD file) need of
// the verdicts: the last report, whether a run is under way, and a way to ask
// for one. VerdictCache is the real source; tests serve fixed verdicts.
import type { Feature } from '../catalogue.js';
import type { RunResult } from '../model.js';
import type { Report } from './check.js';

export interface VerdictSourceEvents {
  /** A run finished and its report is now current. */
  refreshed: [report: Report, result: RunResult];
}

export interface VerdictSource {
  /** The features the reports hold, in order. */
  readonly features: readonly Feature[];
  /** The last report whose verdicts still hold; undefined before the first run. */
  readonly current: Report | undefined;
  /** True once a run has finished (and its verdicts still hold). */
  readonly ready: boolean;
  /** Whether a run is under way. */
  readonly refreshing: boolean;
  /** Time between background refreshes (ms). */
  readonly intervalMs: number;
  /** Least time between the end of one run and a forced refresh (ms). */
  readonly minRefreshIntervalMs: number;
  /** Runs finished so far, by result. */
  readonly runs: { readonly [R in RunResult]: number };
  /** Probe now; callers during a run share it. */
  refresh(): Promise<Report>;
  /** Milliseconds until a forced refresh is allowed: 0 when allowed now or a run is under way. */
  refreshAllowedInMs(): number;
  on<E extends keyof VerdictSourceEvents>(event: E, listener: (...args: VerdictSourceEvents[E]) => void): unknown;
}
