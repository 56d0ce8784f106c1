// What a probe answers, and what the engine reports for each feature.

/** supported: the kernel does it; unsupported: the kernel lacks it; unknown: could not tell. */
export type Status = 'supported' | 'unsupported' | 'unknown';
export const STATUSES: readonly Status[] = ['supported', 'unsupported', 'unknown'];

/**
 * Stable, machine-readable causes. Tooling may match on these, so a name
 * never changes meaning; new causes get new names.
 */
export const REASONS = {
  Supported: 'the kernel did what was asked',
  NotInKernel: 'the kernel lacks the feature (missing syscall, option or config)',
  PermissionDenied: 'the check needs a privilege this process lacks',
  ReadOnlyFilesystem: 'the file the check writes is on a read-only mount',
  DeviceUnavailable: 'a device the check needs cannot be opened here',
  NotApplicable: 'the feature does not apply on this host',
  MissingDependency: 'a userspace component the check needs is absent',
  Disabled: 'the component is installed but its configuration turns the feature off',
  InsufficientSpace: 'the directory has less free space than the configured minimum',
  UnexpectedResult: 'the kernel answered in a way the check does not know',
  Timeout: 'the probe did not finish within its time limit',
  ProbeCrashed: 'the process running the probe died',
  ProbeError: 'the probe threw an error',
  RunnerUnavailable: 'no probe runner could be started',
} as const;
export type Reason = keyof typeof REASONS;

/** What a probe returns: its status, why, and CRIU's words for it. */
export interface ProbeOutcome {
  status: Status;
  reason: Reason;
  /** CRIU-style sentence for people (for supported: what was seen). */
  message: string;
  /** What criu said of itself, carried by the runtime checks that asked it (criu_version, criu_runs). */
  criu?: CriuSays;
}

/** One of CRIU's own verdicts: `criu check --feature NAME`. */
interface CriuFeatureAnswer {
  feature: string;
  status: Status;
  /** criu's words. */
  message: string;
}

interface CriuSays {
  /** criu's version as it prints it ("4.2", "3.17.1") and the host's path to it. */
  version?: string;
  path?: string;
  /** CRIU's verdicts on the features it names, to put beside ours. */
  features?: CriuFeatureAnswer[];
}

/**
 * required, extra, experimental: CRIU's categories; advisory: checked, never
 * deciding; runtime: the userspace chain that checkpoints a container (criu,
 * the OCI runtime, the CRI, the kubelet, disk), not the kernel.
 */
export type Category = 'required' | 'extra' | 'experimental' | 'advisory' | 'runtime';
export const CATEGORIES: readonly Category[] = ['required', 'extra', 'experimental', 'advisory', 'runtime'];

/** A kernel config option related to a feature, with its value on this host. */
export interface KconfigValue {
  option: string;
  /** y, m, a string value, 'not set', or 'unknown' when no config was readable. */
  value: string;
}

/** The engine's verdict for one feature. */
export interface Verdict extends ProbeOutcome {
  name: string;
  category: Category;
  /** What would fix it: config option, sysctl, module or capability. Empty when supported. */
  hint: string;
  kconfig: KconfigValue[];
  /** How long the probe took, in milliseconds (never part of /check bodies). */
  durationMs: number;
}

// ---------------------------------------------------------------- ending a probe

export function supported(message = 'supported'): ProbeOutcome {
  return { status: 'supported', reason: 'Supported', message };
}

export function unsupported(message: string, reason: Reason = 'NotInKernel'): ProbeOutcome {
  return { status: 'unsupported', reason, message };
}

export function unknown(reason: Reason, message: string): ProbeOutcome {
  return { status: 'unknown', reason, message };
}

/** A registered symbol: the same in every copy of this module. */
const PROBE_STOP = Symbol.for('criu-readiness.ProbeStop');

/**
 * How a probe helper ends the probe with a verdict: it throws this, and the
 * place that runs the probe (the runner's runOne) takes `outcome` as the
 * probe's. Helpers thus return only their value; any other throw is a
 * ProbeError.
 */
export class ProbeStop extends Error {
  /** Marks a ProbeStop whichever copy of this class made it. */
  readonly [PROBE_STOP] = true;

  constructor(readonly outcome: ProbeOutcome) {
    super(outcome.message);
    this.name = 'ProbeStop';
  }

  /**
   * instanceof by mark, not by class: the catalogue (and so every probe) and
   * the runner are bundled apart, each with its own copy of this module.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [PROBE_STOP]?: unknown })[PROBE_STOP] === true;
  }
}

/** What went wrong, in words: an Error's message, or anything else thrown as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** End the probe now with `outcome`. */
export function stop(outcome: ProbeOutcome): never {
  throw new ProbeStop(outcome);
}

// How a whole check run went, apart from what the kernel answered.

/** failed: the run itself went wrong for some feature (see FAILED_RUN_REASONS). */
export type RunResult = 'ok' | 'failed';
export const RUN_RESULTS: readonly RunResult[] = ['ok', 'failed'];

/** Reasons that mean the run itself went wrong, not that the kernel answered. */
export const FAILED_RUN_REASONS: readonly Reason[] = ['ProbeCrashed', 'RunnerUnavailable', 'Timeout', 'ProbeError'];

// Time limits of a probe run: the engine's defaults, and the service's
// settings' defaults (config.ts), which must agree.

/** Time one probe may take before its runner is killed (ms). */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** Time a whole run may take (ms). */
export const DEFAULT_RUN_TIMEOUT_MS = 60_000;
/** Time a runner may take to start (ms): a Node start-up, slower on a loaded node. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;
