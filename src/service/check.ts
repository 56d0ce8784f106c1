// One check run: probes through the engine, turned into verdicts with their
// kernel config values and hints.
import type { Feature } from '../catalogue.js';
import { cachedKernelConfig, kconfigHint, kconfigValues } from './kconfig.js';
import type { Engine, ProbeResult } from '../engine/engine.js';
import { effectiveCapabilities, seccompMode } from '../native/procfs.js';
import { CAPABILITIES } from '../native/constants.js';
import {
  FAILED_RUN_REASONS,
  STATUSES,
  unknown,
  type KconfigValue,
  type RunResult,
  type Status,
  type Verdict,
} from '../model.js';

export interface Report {
  verdicts: Verdict[];
  /** When the run finished. */
  finishedAt: Date;
  durationMs: number;
  /** Which kernel config file was read, if any. */
  kconfigSource?: string;
}

/** What the probes ran under, apart from the kernel: it decides which cause a hint names. */
export interface Confinement {
  /** A seccomp filter guards this process (and so the runner it starts). */
  seccompFiltered: boolean;
  /** The effective capability set. */
  capabilities: bigint;
}

/** This process's confinement; the runner inherits both its filter and its capabilities. */
function currentConfinement(): Confinement {
  return { seccompFiltered: seccompMode() === '2', capabilities: effectiveCapabilities('self') };
}

export const SECCOMP_HINT =
  'a seccomp filter guards this process and may have refused the call: ' +
  'run it seccomp unconfined (or with a profile that allows the call) to ' +
  'check';

/** Capabilities a `needs` text names, all of them held? False when it names none. */
function holdsAll(needs: string, capabilities: bigint): boolean {
  const named = needs.match(/CAP_[A-Z_]+/g) ?? [];
  return (
    named.length > 0 &&
    named.every((name) => CAPABILITIES[name] !== undefined && (capabilities >> BigInt(CAPABILITIES[name])) & 1n)
  );
}

/** Does the `needs` text name a capability the process lacks? */
function lacksNamed(needs: string, capabilities: bigint): boolean {
  return /CAP_[A-Z_]+/.test(needs) && !holdsAll(needs, capabilities);
}

/** Is the option built in or a module (so advice to enable it is wrong)? */
const enabled = (value: string): boolean => value === 'y' || value === 'm';

/**
 * Drop the parts of a catalogue hint ("; "-separated) that ask to enable an
 * option the kernel's config shows enabled, or give a minimum kernel this
 * kernel's config makes moot: advice the host already follows is no advice.
 */
function withoutFollowedAdvice(hint: string, kconfig: readonly KconfigValue[]): string {
  const on = new Set(kconfig.filter((k) => enabled(k.value)).map((k) => k.option));
  return hint
    .split('; ')
    .filter((part) => {
      const options = part.match(/CONFIG_[A-Z0-9_]+/g) ?? [];
      return !(/\benable\b/.test(part) && options.length > 0 && options.every((o) => on.has(o)));
    })
    .join('; ');
}

/** Unknowns whose cause is plainly not a filter: the host, a mount, a device node. */
const OTHER_CAUSES: readonly Verdict['reason'][] = ['NotApplicable', 'DeviceUnavailable', 'ReadOnlyFilesystem'];

/** The hint of a verdict, from its true cause: the filter, a missing privilege, the config, then the catalogue. */
export function hintFor(
  feature: Feature,
  status: Status,
  reason: Verdict['reason'],
  kconfig: readonly KconfigValue[],
  confinement: Confinement,
): string {
  if (status === 'supported') return '';
  if (status === 'unsupported') return kconfigHint(kconfig) ?? withoutFollowedAdvice(feature.hint, kconfig);
  // Under a filter, any refusal may be the filter's: it refuses root as anyone else. A capability the check needs and
  // the process lacks is a cause too, and is named first.
  if (confinement.seccompFiltered && !OTHER_CAUSES.includes(reason)) {
    return reason === 'PermissionDenied' && feature.needs && lacksNamed(feature.needs, confinement.capabilities)
      ? `needs ${feature.needs}; also, ${SECCOMP_HINT}`
      : SECCOMP_HINT;
  }
  if (reason === 'PermissionDenied' && feature.needs) {
    return holdsAll(feature.needs, confinement.capabilities)
      ? 'refused although the capabilities the check needs are held: an LSM ' +
          '(AppArmor, SELinux) or the container runtime may refuse it'
      : `needs ${feature.needs}`;
  }
  return withoutFollowedAdvice(feature.hint, kconfig);
}

/** One line: messages quote other programs (libnftables), whose text may span lines. */
export function oneLine(text: string): string {
  return text
    .split(/\s*[\r\n]+\s*/)
    .filter(Boolean)
    .join('; ');
}

export function toVerdict(
  feature: Feature,
  result: ProbeResult,
  config = cachedKernelConfig(),
  confinement = currentConfinement(),
): Verdict {
  const { outcome } = result;
  const kconfig = kconfigValues(config, feature.kconfig);
  const hint = hintFor(feature, outcome.status, outcome.reason, kconfig, confinement);
  return {
    name: feature.name,
    category: feature.category,
    ...outcome,
    message: oneLine(outcome.message),
    hint: oneLine(hint),
    kconfig,
    durationMs: result.durationMs,
  };
}

/** Probe the given features and return their verdicts, in the order of `features`. */
export async function runCheck(
  engine: Engine,
  features: readonly Feature[],
  /** The run of exactly these features, if the caller started it already. */
  running = engine.run(features.map((f) => f.name)),
): Promise<Report> {
  const started = performance.now();
  // Read while the probes run, rather than after them.
  const config = cachedKernelConfig();
  const confinement = currentConfinement();
  const results = await running;
  const verdicts = features.map((feature, i) => toVerdict(feature, results[i], config, confinement));
  return { verdicts, finishedAt: new Date(), durationMs: performance.now() - started, kconfigSource: config?.source };
}

/** The report when no runner could be started: every feature unknown, with why. */
export function refusedCheck(features: readonly Feature[], why: string): Report {
  const config = cachedKernelConfig();
  const confinement = currentConfinement();
  const verdicts = features.map((feature) =>
    toVerdict(
      feature,
      { name: feature.name, outcome: unknown('RunnerUnavailable', why), durationMs: 0 },
      config,
      confinement,
    ),
  );
  return { verdicts, finishedAt: new Date(), durationMs: 0, kconfigSource: config?.source };
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
