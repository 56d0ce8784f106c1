// Levels and verdict sentences, as criu check has them, plus the unknown state.
import type { Category, Verdict } from '../model.js';
import { criuDisagreements, criuInfo, type CriuInfo, type Disagreement } from './criu.js';

export const LEVELS = ['required', 'extra', 'experimental', 'checkpoint', 'all'] as const;
export type Level = (typeof LEVELS)[number];

/** The categories that decide a level (advisory never does). */
export const DECIDING: Record<Level, readonly Category[]> = {
  required: ['required'],
  extra: ['required', 'extra'],
  // As in CRIU: experimental means required + experimental, without extra.
  experimental: ['required', 'experimental'],
  // Can this node checkpoint a container: the kernel's required features and the runtime chain.
  checkpoint: ['required', 'runtime'],
  // Everything checked: CRIU's --all and the runtime chain.
  all: ['required', 'extra', 'experimental', 'runtime'],
};

/**
 * The categories whose missing or unknown features fail the level (failed,
 * unknown); the others only degrade it. The runtime chain is a must for
 * checkpoint, whose question it is, and optional within all, as extra is.
 */
export const MUST: Record<Level, readonly Category[]> = {
  required: ['required'],
  extra: ['required'],
  experimental: ['required'],
  checkpoint: ['required', 'runtime'],
  all: ['required'],
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
  uncheckedRequired: 'Cannot tell: some required features could not be checked.',
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
  /** Levels with the runtime chain: the criu found (null: none that says its version). */
  criu?: CriuInfo | null;
  /** Levels with the runtime chain: the level's features on which criu's own verdict differs from ours. */
  criuDisagreements?: Disagreement[];
}

export function evaluate(verdicts: readonly Verdict[], level: Level): LevelVerdict {
  const reported = reportedCategories(level);
  const features = verdicts.filter((v) => reported.includes(v.category));
  const deciding = features.filter((v) => v.category !== 'advisory');
  const missing = deciding.filter((v) => v.status === 'unsupported');
  const unknown = deciding.filter((v) => v.status === 'unknown');
  const requiredMissing = missing.some((v) => MUST[level].includes(v.category));
  const requiredUnknown = unknown.some((v) => MUST[level].includes(v.category));

  let status: LevelStatus;
  let sentence: string;
  if (requiredMissing) [status, sentence] = ['failed', SENTENCE.failed];
  else if (requiredUnknown) [status, sentence] = ['unknown', SENTENCE.uncheckedRequired];
  else if (missing.length > 0) [status, sentence] = ['degraded', SENTENCE.missing];
  else if (unknown.length > 0) [status, sentence] = ['degraded', SENTENCE.uncheckedOptional];
  else [status, sentence] = ['ok', SENTENCE.ok];

  const result: LevelVerdict = { level, status, sentence, missing: missing.map((v) => v.name), unknown: unknown.map((v) => v.name), features };
  if (reported.includes('runtime')) {
    result.criu = criuInfo(features);
    result.criuDisagreements = criuDisagreements(features);
  }
  return result;
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
