// One check run: probes through the engine, turned into verdicts with their
// kernel config values and hints.
import type { Feature } from '../catalogue.js';
import { cachedKernelConfig, kconfigHint, kconfigValues } from './kconfig.js';
import type { Engine, ProbeResult } from '../engine/engine.js';
import { FAILED_RUN_REASONS, STATUSES, type RunResult, type Status, type Verdict } from '../model.js';

export interface Report {
  verdicts: Verdict[];
  /** When the run finished. */
  finishedAt: Date;
  durationMs: number;
  /** Which kernel config file was read, if any. */
  kconfigSource?: string;
}

export function toVerdict(feature: Feature, result: ProbeResult, config = cachedKernelConfig()): Verdict {
  const { outcome } = result;
  const kconfig = kconfigValues(config, feature.kconfig);
  let hint = '';
  if (outcome.status === 'unsupported') hint = kconfigHint(kconfig) ?? feature.hint;
  else if (outcome.status === 'unknown') {
    hint = outcome.reason === 'PermissionDenied' && feature.needs ? `needs ${feature.needs}` : feature.hint;
  }
  return { name: feature.name, category: feature.category, ...outcome, hint, kconfig, durationMs: result.durationMs };
}

/** Probe the given features (in order) and return their verdicts. */
export async function runCheck(engine: Engine, features: readonly Feature[]): Promise<Report> {
  const started = performance.now();
  const running = engine.run(features.map((f) => f.name));
  // Read while the probes run, rather than after them.
  const config = cachedKernelConfig();
  const results = await running;
  const verdicts = features.map((feature, i) => toVerdict(feature, results[i], config));
  return { verdicts, finishedAt: new Date(), durationMs: performance.now() - started, kconfigSource: config?.source };
}

/** failed when the run itself went wrong for some feature, whatever the kernel answered for the others. */
export function runResult(report: Report): RunResult {
  return report.verdicts.some((v) => FAILED_RUN_REASONS.includes(v.reason)) ? 'failed' : 'ok';
}

/** How many verdicts have each status. */
export function statusCounts(verdicts: readonly { status: Status }[]): Record<Status, number> {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const v of verdicts) counts[v.status] += 1;
  return counts;
}
