// What criu said of itself, read from the runtime checks' verdicts: its
// version and path (criu_version), and where its own feature verdicts
// (criu_runs) differ from ours.
import type { Verdict } from '../model.js';

export interface CriuInfo {
  /** As criu prints it: "4.2", "3.17.1". */
  version: string;
  /** The host's path to it. */
  path: string;
}

/** criu's version and path, when criu_version read them; else null. */
export function criuInfo(verdicts: readonly Verdict[]): CriuInfo | null {
  const said = verdicts.find((v) => v.name === 'criu_version')?.criu;
  return said?.version && said.path ? { version: said.version, path: said.path } : null;
}

/** An answer, as opposed to unknown. */
type Answer = 'supported' | 'unsupported';

/** A feature both of us answered, differently. */
export interface Disagreement {
  feature: string;
  ours: Answer;
  criu: Answer;
  /** criu's words for its answer. */
  message: string;
}

/**
 * Where criu's `criu check --feature NAME` and our verdict differ, for the
 * features among `verdicts`. Only answers on both sides count: an unknown on
 * either side is no disagreement. A supported NotApplicable of ours against
 * criu's unsupported is one (the catalogue's differsFromCriu says why).
 */
export function criuDisagreements(verdicts: readonly Verdict[]): Disagreement[] {
  const answers = verdicts.find((v) => v.name === 'criu_runs')?.criu?.features ?? [];
  const ours = new Map(verdicts.map((v) => [v.name, v]));
  const found: Disagreement[] = [];
  for (const answer of answers) {
    const mine = ours.get(answer.feature);
    if (!mine || mine.status === 'unknown' || answer.status === 'unknown' || mine.status === answer.status) continue;
    found.push({ feature: answer.feature, ours: mine.status, criu: answer.status, message: answer.message });
  }
  // Catalogue order, whatever order criu was asked in.
  const order = verdicts.map((v) => v.name);
  return found.sort((a, b) => order.indexOf(a.feature) - order.indexOf(b.feature));
}

/** Where a warning goes with its fields (pino's logger is one). */
export interface WarningLog {
  warn(fields: object, message: string): void;
}

/** Each disagreement as a warning of its own, with both answers and criu's words. */
export function logCriuDisagreements(log: WarningLog, verdicts: readonly Verdict[]): void {
  for (const d of criuDisagreements(verdicts))
    log.warn(
      { feature: d.feature, ours: d.ours, criu: d.criu, criuSays: d.message },
      "criu's own verdict differs from ours",
    );
}
