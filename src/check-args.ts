// The levels and the options of `check`, and which features they report:
// read by the CLI, and by a runner the launcher started beside it, which
// begins the CLI's run from the same arguments before the CLI has loaded
// (engine/runner-main.ts). Vocabulary only, so both can import it.
import type { Category } from './model.js';

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

/** The categories a level reports: its deciding ones and the advisory checks, which CRIU always runs. */
export function reportedCategories(level: Level): readonly Category[] {
  return [...DECIDING[level], 'advisory'];
}

export class UsageError extends Error {}

const LEVEL_FLAGS: Record<string, Level> = {
  '--extra': 'extra',
  '--experimental': 'experimental',
  '--checkpoint': 'checkpoint',
  '--all': 'all',
};

const FORMATS = ['text', 'json', 'npd'] as const;
type Format = (typeof FORMATS)[number];

export interface CheckArgs {
  level: Level;
  feature?: string;
  format: Format;
}

function isFormat(value: string): value is Format {
  return (FORMATS as readonly string[]).includes(value);
}

/** The options of `check`, read without the catalogue, so that the run can start before it loads. */
export function parseCheckArgs(args: readonly string[]): CheckArgs {
  const parsed: CheckArgs = { level: 'required', format: 'text' };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg in LEVEL_FLAGS) parsed.level = LEVEL_FLAGS[arg];
    else if (arg === '--json') parsed.format = 'json';
    else if (arg === '--format' || arg.startsWith('--format=')) {
      const value = arg === '--format' ? args[++i] : arg.slice('--format='.length);
      if (!value || !isFormat(value)) throw new UsageError(`--format needs one of ${FORMATS.join(', ')}`);
      parsed.format = value;
    } else if (arg === '--ms') {
      throw new UsageError(
        '--ms is deprecated and no longer supported: use the levels instead ' +
          '(check, check --extra, check --experimental, check --all)',
      );
    } else if (arg === '--feature' || arg.startsWith('--feature=')) {
      const value = arg === '--feature' ? args[++i] : arg.slice('--feature='.length);
      if (!value) throw new UsageError('--feature needs a feature name, or "list"');
      parsed.feature = value;
    } else throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
  }
  return parsed;
}

/** Wants a probe run: neither --feature list nor help. */
export function runsProbes(args: readonly string[]): boolean {
  const listing = args.some((a, i) => a === '--feature=list' || (a === '--feature' && args[i + 1] === 'list'));
  return !listing && !args.includes('--help') && !args.includes('-h');
}

/** What `check` reports: the feature --feature names, or the level's categories. */
export function wantedBy(args: CheckArgs): readonly string[] {
  return args.feature ? [args.feature] : reportedCategories(args.level);
}

/** A feature `check` reports: named by --feature, or of one of the level's categories. */
export function isWanted(feature: { name: string; category: string }, wanted: readonly string[]): boolean {
  return wanted.includes(feature.name) || wanted.includes(feature.category);
}

/**
 * The probes, of a table's names and categories, that `check` with these
 * arguments runs, in the table's order; none for arguments that ask for no
 * run or that `check` refuses (it says why itself).
 */
export function probesForCheck(
  args: readonly string[],
  table: readonly { name: string; category: string }[],
): string[] {
  if (!runsProbes(args)) return [];
  let parsed: CheckArgs;
  try {
    parsed = parseCheckArgs(args);
  } catch {
    return [];
  }
  const wanted = wantedBy(parsed);
  return table.filter((probe) => isWanted(probe, wanted)).map((probe) => probe.name);
}
