// The lines criu check prints, for the CLI and for text/plain answers.
import type { LevelVerdict } from './levels.js';
import type { Verdict } from '../model.js';

/** CRIU's prefixes: "Error (where): " and "Warn  (where): " (two spaces after Warn). */
export function problemLine(v: Verdict): string {
  const prefix = v.category === 'required' && v.status === 'unsupported' ? 'Error' : 'Warn ';
  const detail = v.status === 'unknown' ? `could not check (${v.reason}): ${v.message}` : v.message;
  return `${prefix} (${v.name}): ${detail}${v.hint ? ` [hint: ${v.hint}]` : ''}`;
}

export interface TextOutput {
  /** Warnings and errors, one per feature that is not supported (stderr in the CLI). */
  problems: string[];
  /** The verdict sentence's lines (stdout in the CLI). */
  verdict: string[];
}

/** "NAME is not applicable: why", for a feature that does not apply on this host (reported, never a problem). */
export function notApplicableLine(v: Verdict): string {
  return `${v.name} is not applicable: ${v.message}`;
}

const notApplicable = (v: Verdict): boolean => v.status === 'supported' && v.reason === 'NotApplicable';

export function levelText(verdict: LevelVerdict): TextOutput {
  return {
    problems: verdict.features
      .filter((v) => v.status !== 'supported' || notApplicable(v))
      .map((v) => (notApplicable(v) ? `Info  (${v.name}): not applicable: ${v.message}` : problemLine(v))),
    verdict: verdict.sentence.split('\n'),
  };
}

/** `criu check --feature NAME`: "NAME is supported", or the warning. */
export function featureText(v: Verdict): TextOutput {
  if (notApplicable(v)) return { problems: [], verdict: [notApplicableLine(v)] };
  return v.status === 'supported' ? { problems: [], verdict: [`${v.name} is supported`] } : { problems: [problemLine(v)], verdict: [] };
}
