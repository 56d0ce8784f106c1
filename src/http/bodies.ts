// The JSON bodies of the verdicts, shaped once for the service and the CLI's
// --json alike (schemas.ts describes them). They hold the verdicts only: no
// time, no duration, so equal verdicts give equal bytes. Free of zod, so the
// CLI loads little.
import type { Feature } from '../catalogue.js';
import type { CriuInfo, Disagreement } from '../service/criu.js';
import type { LevelVerdict } from '../service/levels.js';
import type { Verdict } from '../model.js';

interface VerdictBody {
  name: string;
  category: string;
  status: string;
  reason: string;
  message: string;
  hint: string;
  kconfig: { option: string; value: string }[];
}

export interface CheckBody {
  level: string;
  status: string;
  sentence: string;
  missing: string[];
  unknown: string[];
  features: VerdictBody[];
  /** Levels with the runtime chain: the criu found, and where its verdicts differ from ours. */
  criu?: CriuInfo | null;
  criuDisagreements?: Disagreement[];
}

export interface FeatureBody extends Omit<VerdictBody, 'kconfig'> {
  summary: string;
  needs?: string;
  differsFromCriu?: string;
  kconfig: VerdictBody['kconfig'];
}

export interface FeaturesBody {
  kconfigSource?: string;
  features: FeatureBody[];
}

function kconfigOf(v: Verdict): VerdictBody['kconfig'] {
  return v.kconfig.map(({ option, value }) => ({ option, value }));
}

export function checkBody(lv: LevelVerdict): CheckBody {
  return {
    level: lv.level,
    status: lv.status,
    // CRIU prints the sentence over several lines; a JSON field has it as one.
    sentence: lv.sentence.replaceAll('\n', ' '),
    missing: lv.missing,
    unknown: lv.unknown,
    features: lv.features.map((v) => ({
      name: v.name,
      category: v.category,
      status: v.status,
      reason: v.reason,
      message: v.message,
      hint: v.hint,
      kconfig: kconfigOf(v),
    })),
    ...(lv.criu === undefined ? {} : { criu: lv.criu, criuDisagreements: lv.criuDisagreements }),
  };
}

export function featureBody(feature: Feature, v: Verdict): FeatureBody {
  return {
    name: v.name,
    category: v.category,
    summary: feature.summary,
    status: v.status,
    reason: v.reason,
    message: v.message,
    hint: v.hint,
    needs: feature.needs,
    differsFromCriu: feature.differsFromCriu,
    kconfig: kconfigOf(v),
  };
}
