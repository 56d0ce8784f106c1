// Levels and verdict sentences, as criu check has them, plus the unknown state.
import type { Category, Verdict } from '../model.js';

export const LEVELS = ['required', 'extra', 'experimental', 'all'] as const;
export type Level = (typeof LEVELS)[number];

/** The categories that decide a level (advisory never does). */
export const DECIDING: Record<Level, readonly Category[]> = {
  required: ['required'],
  extra: ['required', 'extra'],
  // As in CRIU: experimental means required + experimental, without extra.
  experimental: ['required', 'experimental'],
  all: ['required', 'extra', 'experimental'],
};

/** The categories a level reports: its deciding ones and the advisory checks, which CRIU always runs. */
export function reportedCategories(level: Level): readonly Category[] {
  return [...DECIDING[level], 'advisory'];
}

export type LevelStatus = 'ok' | 'degraded' | 'unknown' | 'failed';

export const SENTENCE = {
  ok: 'Looks good.',
  missing: 'Looks good but some kernel features are missing\nwhich, depending on your process tree, may cause\ndump or restore failure.',
  uncheckedOptional: 'Looks good, but some kernel features could not be checked.',
  uncheckedRequired: 'Cannot tell: some required kernel features could not be checked.',
  failed: 'Does not look good.',
} as const;

export interface LevelVerdict {
  level: Level;
  status: LevelStatus;
  /** CRIU's verdict sentence (may span lines, as CRIU prints it). */
  sentence: string;
  /** Deciding features the kernel lacks. */
  missing: string[];
  /** Deciding features that could not be checked. */
  unknown: string[];
  /** Every reported feature of the level, in catalogue order. */
  features: Verdict[];
}

export function evaluate(verdicts: readonly Verdict[], level: Level): LevelVerdict {
  const reported = reportedCategories(level);
  const features = verdicts.filter((v) => reported.includes(v.category));
  const deciding = features.filter((v) => v.category !== 'advisory');
  const missing = deciding.filter((v) => v.status === 'unsupported');
  const unknown = deciding.filter((v) => v.status === 'unknown');
  const requiredMissing = missing.some((v) => v.category === 'required');
  const requiredUnknown = unknown.some((v) => v.category === 'required');

  let status: LevelStatus;
  let sentence: string;
  if (requiredMissing) [status, sentence] = ['failed', SENTENCE.failed];
  else if (requiredUnknown) [status, sentence] = ['unknown', SENTENCE.uncheckedRequired];
  else if (missing.length > 0) [status, sentence] = ['degraded', SENTENCE.missing];
  else if (unknown.length > 0) [status, sentence] = ['degraded', SENTENCE.uncheckedOptional];
  else [status, sentence] = ['ok', SENTENCE.ok];

  return { level, status, sentence, missing: missing.map((v) => v.name), unknown: unknown.map((v) => v.name), features };
}

/**
 * node-problem-detector's custom plugin protocol: 0 fine, 1 a problem,
 * 2 could not determine. A feature the kernel lacks outranks one we could not check.
 */
export function exitCode(verdict: LevelVerdict): 0 | 1 | 2 {
  if (verdict.missing.length > 0) return 1;
  if (verdict.unknown.length > 0) return 2;
  return 0;
}

/** 200 unless a required feature is missing or unknown; with strict, any deciding feature not supported. */
export function httpStatus(verdict: LevelVerdict, strict: boolean): 200 | 503 {
  if (verdict.status === 'failed' || verdict.status === 'unknown') return 503;
  if (strict && verdict.status !== 'ok') return 503;
  return 200;
}
