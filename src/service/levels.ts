// Levels and verdict sentences, as criu check has them, plus the unknown state.
import type { Category, Verdict } from '../model.js';
import { reportedCategories, type Level } from '../check-args.js';
import { criuDisagreements, criuInfo, type CriuInfo, type Disagreement } from './criu.js';

export { DECIDING, LEVELS, type Level } from '../check-args.js';

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

export type LevelStatus = 'ok' | 'degraded' | 'unknown' | 'failed';

export const SENTENCE = {
  ok: 'Looks good.',
  missing:
    'Looks good but some kernel features are missing\nwhich, depending on ' +
    'your process tree, may cause\ndump or restore failure.',
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
  const outcome = rank(deciding, MUST[level]);
  const result: LevelVerdict = {
    level,
    status: outcome.status,
    sentence: SENTENCE[outcome.sentence],
    missing: deciding.filter((v) => v.status === 'unsupported').map((v) => v.name),
    unknown: deciding.filter((v) => v.status === 'unknown').map((v) => v.name),
    features,
  };
  if (reported.includes('runtime')) {
    result.criu = criuInfo(features);
    result.criuDisagreements = criuDisagreements(features);
  }
  return result;
}

interface Found {
  /** A deciding feature of the categories that must pass (MUST) is missing, or unknown. */
  requiredMissing: boolean;
  requiredUnknown: boolean;
  missing: boolean;
  unknown: boolean;
}

/**
 * The one ranking of a level's outcomes, first match wins: its status, its
 * sentence and its exit code (node-problem-detector's plugin protocol: 0
 * fine, 1 a problem, 2 could not determine) come from the same row, so the
 * sentence printed and the exit code never tell different stories.
 */
export const OUTCOMES: readonly {
  when: (f: Found) => boolean;
  status: LevelStatus;
  sentence: keyof typeof SENTENCE;
  exit: 0 | 1 | 2;
}[] = [
  { when: (f) => f.requiredMissing, status: 'failed', sentence: 'failed', exit: 1 },
  { when: (f) => f.requiredUnknown, status: 'unknown', sentence: 'uncheckedRequired', exit: 2 },
  { when: (f) => f.missing, status: 'degraded', sentence: 'missing', exit: 1 },
  { when: (f) => f.unknown, status: 'degraded', sentence: 'uncheckedOptional', exit: 2 },
  { when: () => true, status: 'ok', sentence: 'ok', exit: 0 },
];

/** The row a level's deciding verdicts fall in. */
function rank(deciding: readonly Verdict[], must: readonly Category[]): (typeof OUTCOMES)[number] {
  const found: Found = {
    requiredMissing: deciding.some((v) => must.includes(v.category) && v.status === 'unsupported'),
    requiredUnknown: deciding.some((v) => must.includes(v.category) && v.status === 'unknown'),
    missing: deciding.some((v) => v.status === 'unsupported'),
    unknown: deciding.some((v) => v.status === 'unknown'),
  };
  return OUTCOMES.find((o) => o.when(found)) as (typeof OUTCOMES)[number];
}

/** The exit code of the row the verdict's status and sentence came from. */
export function exitCode(verdict: LevelVerdict): 0 | 1 | 2 {
  return rank(
    verdict.features.filter((v) => v.category !== 'advisory'),
    MUST[verdict.level],
  ).exit;
}

/** `check --feature NAME`: 0 supported (or not applicable here), 1 unsupported, 2 unknown. */
export function featureExitCode(verdict: Verdict): 0 | 1 | 2 {
  return verdict.status === 'supported' ? 0 : verdict.status === 'unsupported' ? 1 : 2;
}

/** 200 unless a required feature is missing or unknown; with strict, any deciding feature not supported. */
export function httpStatus(verdict: LevelVerdict, strict: boolean): 200 | 503 {
  if (verdict.status === 'failed' || verdict.status === 'unknown') return 503;
  if (strict && verdict.status !== 'ok') return 503;
  return 200;
}
