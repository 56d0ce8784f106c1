// The lines criu check prints, for the CLI and for text/plain answers.
import { MUST, SENTENCE, type LevelVerdict } from './levels.js';
import type { Category, Verdict } from '../model.js';

/**
 * CRIU's prefixes: "Error (where): " and "Warn  (where): " (two spaces after
 * Warn); Error for a missing feature of the categories that fail the level.
 */
export function problemLine(v: Verdict, must: readonly Category[] = ['required']): string {
  const prefix = must.includes(v.category) && v.status === 'unsupported' ? 'Error' : 'Warn ';
  const detail = v.status === 'unknown' ? `could not check (${v.reason}): ${v.message}` : v.message;
  return `${prefix} (${v.name}): ${detail}${v.hint ? ` [hint: ${v.hint}]` : ''}`;
}

export interface TextOutput {
  /** Warnings and errors, one per feature that is not supported (stderr in the CLI). */
  problems: string[];
  /** The verdict sentence's lines (stdout in the CLI). */
  verdict: string[];
}

/** A feature that does not apply here: supported with reason NotApplicable, never a problem, said as such. */
function notApplicableLine(v: Verdict): string {
  return `Info  (${v.name}): not applicable: ${v.message}`;
}

/** The criu status line of levels with the runtime chain. */
function criuLine(verdict: LevelVerdict): string | null {
  if (verdict.criu === undefined) return null;
  const disagreements = verdict.criuDisagreements?.length ?? 0;
  const differs =
    disagreements > 0
      ? `; criu's own verdict differs from ours on ${disagreements} feature${disagreements === 1 ? '' : 's'}`
      : '';
  if (verdict.criu) return `criu ${verdict.criu.version} at ${verdict.criu.path}${differs}`;
  const binary = verdict.features.find((v) => v.name === 'criu_binary');
  return binary?.status === 'unsupported' ? 'criu: not installed' : 'criu: no version read (see criu_version)';
}

export function levelText(verdict: LevelVerdict): TextOutput {
  const must = MUST[verdict.level];
  const problems = verdict.features.flatMap((v) => {
    if (v.status !== 'supported') return [problemLine(v, must)];
    return v.reason === 'NotApplicable' ? [notApplicableLine(v)] : [];
  });
  const disagreements = (verdict.criuDisagreements ?? []).map(
    (d) => `Warn  (${d.feature}): criu says ${d.criu}, we say ${d.ours}: ${d.message}`,
  );
  const criu = criuLine(verdict);
  return {
    problems: [...problems, ...disagreements],
    verdict: [...verdict.sentence.split('\n'), ...(criu ? [criu] : [])],
  };
}

/** `criu check --feature NAME`: "NAME is supported", or the warning. */
export function featureText(v: Verdict): TextOutput {
  if (v.status !== 'supported') return { problems: [problemLine(v)], verdict: [] };
  return {
    problems: [],
    verdict: [v.reason === 'NotApplicable' ? `${v.name} is not applicable: ${v.message}` : `${v.name} is supported`],
  };
}

/** What node-problem-detector keeps of a plugin's output: the first 80 bytes. */
export const NPD_MAX_LENGTH = 80;

/** NPD cuts bytes: anything but printable ASCII could be cut in half, or break the line. */
function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/**
 * node-problem-detector's one line: the deciding features that are missing
 * and those that could not be checked (`missing: a, b; unknown: c`), or
 * "Looks good." when there are none. Never more than NPD keeps: names that
 * do not fit become `+N more`, the unknown ones first (missing is the worse news).
 */
export function npdLine(verdict: Pick<LevelVerdict, 'missing' | 'unknown'>): string {
  const lists = [
    { label: 'missing', names: verdict.missing.map(ascii), kept: verdict.missing.length },
    { label: 'unknown', names: verdict.unknown.map(ascii), kept: verdict.unknown.length },
  ].filter((l) => l.names.length > 0);
  if (lists.length === 0) return SENTENCE.ok;
  const render = () =>
    lists
      .map(({ label, names, kept }) => {
        const dropped = names.length - kept;
        return `${label}: ${[...names.slice(0, kept), ...(dropped > 0 ? [`+${dropped} more`] : [])].join(', ')}`;
      })
      .join('; ');
  let line = render();
  while (line.length > NPD_MAX_LENGTH) {
    const shrinking = [...lists].reverse().find((l) => l.kept > 0);
    // Nothing left to drop: both lists are counts alone, a few dozen characters.
    if (!shrinking) break;
    shrinking.kept--;
    line = render();
  }
  return line;
}
