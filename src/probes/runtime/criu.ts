// criu itself: is it where the runtimes look, which version, does it start on
// this kernel, and what does it say of each of its features.
import { supported, unknown, unsupported } from '../../model.js';
import type { ProbeOutcome } from '../../model.js';
import {
  describeFailure,
  runEach,
  findExecutable,
  hostLauncher,
  isExecutableFile,
  lines,
  run,
  runtimeEnv,
  versionAhead,
  type Found,
  type Launch,
  type RuntimeEnv,
} from './host.js';
import { atLeast, criuVersionNumber, parseVersion, type Version } from './version.js';
import type { ProgramResult } from '../../native/program.js';

/** Minimum criu for checkpointing: runc's checkCriuVersion(30000) (runc libcontainer/criu_linux.go). */
const OCI_MIN_CRIU = { major: 3, minor: 0, patch: 0 } as const;
/** podman's MinCriuVersion = 31100 (podman pkg/criu/criu.go), checked before it asks the OCI runtime. */
const PODMAN_MIN_CRIU = { major: 3, minor: 11, patch: 0 } as const;
/**
 * containerd 2.0-2.3 CRI checkpoint: podCriuVersion = 31600 (containerd
 * internal/cri/server/container_checkpoint_linux.go).
 */
export const CRI_MIN_CRIU = { major: 3, minor: 16, patch: 0 } as const;

export const CRIU_PACKAGE_HINT =
  'install criu (package "criu" on Debian, Ubuntu and Fedora) into ' +
  "/usr/sbin or another directory on the runtime's PATH";

/** The criu to use: $CRIU when set (not under the host root), else the first on PATH and the system directories. */
export function locateCriu(env: RuntimeEnv = runtimeEnv()): Found | null {
  if (env.criu) return isExecutableFile(env.criu) ? { hostPath: env.criu, localPath: env.criu } : null;
  return findExecutable('criu', env);
}

/**
 * How to start the criu found: in the host's mount namespace when the root is
 * another system's and CRIU_READINESS_HOST_MOUNT_NS lets us enter it, else here.
 */
export function criuLaunch(found: Found, env: RuntimeEnv): string | Launch {
  if (!env.foreignRoot || env.criu) return found.localPath;
  const host = hostLauncher(env);
  return host && 'launch' in host ? host.launch(found.hostPath) : found.localPath;
}

/** Start `criu --version` ahead of criu_version, as readCriuVersion will run it (host.ts versionAhead). */
export function criuVersionAhead(env: RuntimeEnv = runtimeEnv()): void {
  const found = locateCriu(env);
  versionAhead(found && criuLaunch(found, env));
}

/**
 * No criu: said in full by criu_binary; the checks that need one say so briefly (the verdict's hint has the package).
 */
export function notFound(env: RuntimeEnv, full = false): ProbeOutcome {
  if (env.criu) return unsupported(`CRIU=${env.criu} is not an executable file`, 'MissingDependency');
  if (!full) return unsupported('needs criu, which is not installed (see criu_binary)', 'MissingDependency');
  return unsupported(
    'criu is not installed: not found on PATH nor in /usr/local/sbin, /usr/sbin, /usr/bin, /sbin, /bin',
    'MissingDependency',
  );
}

/** criu_binary: criu where runc, crun (libcriu), go-criu and CRI-O look for it. */
export function criuBinary(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  const found = locateCriu(env);
  return found ? supported(`criu at ${found.hostPath}`) : notFound(env, true);
}

/** criu's version as `criu --version` prints it, for verdicts, metrics and JSON. */
export interface CriuVersion extends Version {
  /** major*10000 + minor*100 + sublevel, the number runc and containerd compare. */
  number: number;
  /** "GitID: ..." when criu was built from git (git describe, or a bare hash). */
  gitId?: string;
}

/**
 * Parse `criu --version` output: "Version: 3.17.1", "Version: 4.2", optional "GitID: v3.17.1-12-gabcdef". Null when
 * unreadable.
 */
export function parseCriuVersion(output: string): CriuVersion | null {
  const m = /^Version:\s*(\d+\.\d+(?:\.\d+)*\S*)\s*$/m.exec(output);
  const version = m ? parseVersion(m[1]) : null;
  if (!version) return null;
  const gitId = /^GitID:\s*(\S+)\s*$/m.exec(output)?.[1];
  return { ...version, number: criuVersionNumber(version), ...(gitId ? { gitId } : {}) };
}

/** What asking criu its version gave: the version, or the outcome saying why there is none. */
export type CriuVersionReading =
  { found: Found; version: CriuVersion } | { found: Found | null; version: null; outcome: ProbeOutcome };

/** Find criu and ask its version. Callers wanting the number (metrics, JSON) use this. */
export function readCriuVersion(env: RuntimeEnv = runtimeEnv()): CriuVersionReading {
  const found = locateCriu(env);
  if (!found) return { found: null, version: null, outcome: notFound(env) };
  const result = run(criuLaunch(found, env), ['--version']);
  if (result.kind !== 'exited')
    return { found, version: null, outcome: failedRun(result, `${found.hostPath} --version`) };
  const version = parseCriuVersion(result.stdout);
  if (version && result.code === 0) return { found, version };
  const said = lines(result.stdout + '\n' + result.stderr)[0] ?? '(nothing)';
  return {
    found,
    version: null,
    outcome: unknown(
      'UnexpectedResult',
      `${found.hostPath} --version exited ${result.code} and printed no version: ${said}`,
    ),
  };
}

export function failedRun(
  result: Exclude<ProgramResult, { kind: 'exited' }>,
  what: string,
  timeoutMs?: number,
): ProbeOutcome {
  const message = describeFailure(result, what, timeoutMs);
  if (result.kind === 'timeout') return unknown('Timeout', message);
  return unknown('UnexpectedResult', message);
}

function versionText(v: CriuVersion): string {
  return v.gitId ? `${v.text} (${v.gitId})` : v.text;
}

/** criu_version: criu at least the version the OCI runtimes accept (3.0). */
export function criuVersion(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  const reading = readCriuVersion(env);
  if (reading.version === null) return reading.outcome;
  const v = reading.version;
  if (!atLeast(v, OCI_MIN_CRIU.major, OCI_MIN_CRIU.minor)) {
    return {
      criu: { version: v.text, path: reading.found.hostPath },
      ...unsupported(
        `criu ${versionText(v)} is older than 3.0, the oldest runc accepts (CRIU ` +
          `version ${v.number} must be 30000 or higher)`,
        'MissingDependency',
      ),
    };
  }
  if (!atLeast(v, PODMAN_MIN_CRIU.major, PODMAN_MIN_CRIU.minor) && findExecutable('podman', env)) {
    return {
      criu: { version: v.text, path: reading.found.hostPath },
      ...unsupported(
        `criu ${versionText(v)} is older than 3.11, the oldest podman (installed here) accepts ` +
          `(podman: "checkpoint/restore requires at least CRIU 31100, current version is ${v.number}")`,
        'MissingDependency',
      ),
    };
  }
  const note = atLeast(v, CRI_MIN_CRIU.major, CRI_MIN_CRIU.minor)
    ? ''
    : "; containerd's CRI checkpoint needs 3.16 or later";
  return { ...supported(`criu ${versionText(v)}${note}`), criu: { version: v.text, path: reading.found.hostPath } };
}

// --- criu check ------------------------------------------------------------

/** One line criu logged: "Error (criu/x.c:12): text" or "Warn  (criu/x.c:12): text"; else level 'msg'. */
export interface CriuLine {
  level: 'error' | 'warn' | 'msg';
  /** criu's source file and line, when it said. */
  source?: string;
  text: string;
}

/** criu's log lines (criu/include/log.h prefixes: "Error (file:line): ", "Warn  (file:line): "). */
export function parseCriuLines(output: string): CriuLine[] {
  return lines(output).map((line) => {
    const m = /^(?:\(\s*[\d.]+\)\s*)?(Warn|Error) +\(([^)]+)\):\s?(.*)$/.exec(line);
    if (!m) return { level: 'msg' as const, text: line };
    return { level: m[1] === 'Error' ? ('error' as const) : ('warn' as const), source: m[2], text: m[3] };
  });
}

/** The result of the installed criu's own `criu check`. */
export interface CriuCheckResult {
  /** criu's exit code, or null when it did not exit (killed, timeout, not started). */
  exitCode: number | null;
  stdout: string[];
  stderr: CriuLine[];
  outcome: ProbeOutcome;
}

/** Sentences criu prints when it could not even begin (criu/crtools.c, criu/cr-check.c). */
const CANNOT_START = /Could not initialize kernel features detection|Couldn't open image dir/;
const NEEDS_PRIVILEGE = /CRIU needs to have the CAP_SYS_ADMIN|Running as non-root requires '--unprivileged'/;

/** criu could not begin (kerndat, privileges): the same for every subcommand. Null when it did begin. */
export function startFailure(stdout: string, stderr: CriuLine[]): ProbeOutcome | null {
  const all = [...lines(stdout), ...stderr.map((l) => l.text)].join('\n');
  if (NEEDS_PRIVILEGE.test(all)) {
    const line =
      lines(stdout).find((l) => NEEDS_PRIVILEGE.test(l)) ??
      stderr.find((l) => NEEDS_PRIVILEGE.test(l.text))?.text ??
      '';
    return unknown('PermissionDenied', `criu refuses to run without privileges: ${line}`);
  }
  if (stderr.some((l) => CANNOT_START.test(l.text))) {
    const first = stderr.find((l) => l.level === 'error') as CriuLine;
    return unsupported(
      `the installed criu cannot start on this kernel: ${first.text}; install a newer criu`,
      'MissingDependency',
    );
  }
  return null;
}

/** criu_runs: the installed criu's own `criu check` says "Looks good.". */
export function runCriuCheck(env: RuntimeEnv = runtimeEnv()): CriuCheckResult {
  const found = locateCriu(env);
  if (!found) return { exitCode: null, stdout: [], stderr: [], outcome: notFound(env) };
  const result = run(criuLaunch(found, env), ['check']);
  if (result.kind !== 'exited')
    return { exitCode: null, stdout: [], stderr: [], outcome: failedRun(result, `${found.hostPath} check`) };
  const stdout = lines(result.stdout);
  const stderr = parseCriuLines(result.stderr);
  const base = { exitCode: result.code, stdout, stderr };
  const failed = startFailure(result.stdout, stderr);
  if (failed) return { ...base, outcome: failed };
  if (result.code === 0 && stdout.includes('Looks good.'))
    return { ...base, outcome: supported(`${found.hostPath} check: Looks good.`) };
  const firstProblem =
    stderr.find((l) => l.level === 'error') ??
    stderr.find((l) => l.level === 'warn' && l.text !== 'Does not look good.');
  if (result.code !== 0 && (stderr.some((l) => l.text === 'Does not look good.') || firstProblem)) {
    return {
      ...base,
      outcome: unsupported(`criu check: Does not look good: ${firstProblem?.text ?? 'no reason given'}`),
    };
  }
  const said = [...stdout, ...stderr.map((l) => l.text)][0] ?? '(nothing)';
  return { ...base, outcome: unknown('UnexpectedResult', `${found.hostPath} check exited ${result.code}: ${said}`) };
}

/**
 * Under a host root other than '/', the host's criu would run here: in this
 * container's mount namespace, with its shared libraries, dumping a process
 * of this container. That tests the container, not the host, so the checks
 * that run criu answer unknown there rather than answer for the wrong system,
 * unless CRIU_READINESS_HOST_MOUNT_NS lets them run it in the host's mount
 * namespace. (criu_version runs only `criu --version`, which says the same
 * anywhere it starts.)
 */
export function outOfReach(env: RuntimeEnv): ProbeOutcome | null {
  // $CRIU names a criu of this system, run as such.
  if (!env.foreignRoot || env.criu) return null;
  const host = hostLauncher(env);
  if (host && 'launch' in host) return null;
  if (host) return unknown('PermissionDenied', `cannot run the host's criu in the host's mount namespace: ${host.why}`);
  return unknown(
    'PermissionDenied',
    `cannot run the host's criu from a container: under CRIU_READINESS_HOST_ROOT=${env.root} it ` +
      `would run in this container's mount namespace with this container's libraries; ` +
      "run criu-readiness check --checkpoint on the host, or give the pod the host's PID namespace " +
      'and CRIU_READINESS_HOST_MOUNT_NS=/proc/1/ns/mnt (privileged)',
  );
}

/**
 * The whole of criu_runs, CRIU's own feature verdicts included, stays within this (the engine's probe limit is 10 s).
 */
const CRIU_RUNS_BUDGET_MS = 8_000;
/** CRIU's feature verdicts get at most this much of it. */
const CRIU_FEATURES_BUDGET_MS = 6_000;

/**
 * criu_runs: `criu check` says "Looks good.". When criu did start, it is
 * also asked for its own verdict on each of `askFeatures` (the catalogue's
 * kernel features), within the budget; its answers ride on the outcome so
 * that the service can set them beside ours.
 */
export function criuRuns(env: RuntimeEnv = runtimeEnv(), askFeatures: readonly string[] = []): ProbeOutcome {
  const away = outOfReach(env);
  if (away) return away;
  const started = performance.now();
  const { outcome } = runCriuCheck(env);
  const criuStarted = outcome.status === 'supported' || outcome.reason === 'NotInKernel';
  const totalMs = Math.min(CRIU_FEATURES_BUDGET_MS, CRIU_RUNS_BUDGET_MS - (performance.now() - started));
  if (!criuStarted || askFeatures.length === 0 || totalMs <= 0) return outcome;
  const report = criuFeatureVerdicts(askFeatures, { totalMs, env });
  const features = report.features
    .filter((f) => f.status !== 'unknown')
    .map(({ feature, status, message }) => ({ feature, status, message }));
  return { ...outcome, criu: { features } };
}

// --- criu check --feature NAME ---------------------------------------------

/** CRIU's own verdict on one feature, to put beside ours. */
interface CriuFeatureVerdict {
  feature: string;
  /** supported (exit 0, "NAME is supported"), unsupported (exit 1 with its reason), unknown (criu could not answer). */
  status: 'supported' | 'unsupported' | 'unknown';
  /** criu's words: its reason lines joined, or why there is no answer. */
  message: string;
  exitCode: number | null;
}

export interface CriuFeatureReport {
  /** The criu asked, with its version when known. */
  criu: string | null;
  /** Set when criu could not answer at all (not installed, cannot start): every feature is then unknown. */
  failure?: ProbeOutcome;
  features: CriuFeatureVerdict[];
}

/** Each `criu check --feature` gets at most this long. */
const FEATURE_TIMEOUT_MS = 10_000;
/**
 * How many `criu check --feature` run at once: each mostly waits (for the
 * kernel, for the children it starts), so a few side by side take little
 * longer than one.
 */
const CRIU_FEATURE_PARALLEL = 4;

/** criu's answer on one feature; `failure` when criu could not start at all (the same for every feature). */
function featureVerdict(
  feature: string,
  result: ProgramResult,
  timeoutMs: number,
): CriuFeatureVerdict & { failure?: ProbeOutcome } {
  if (result.kind !== 'exited')
    return {
      feature,
      status: 'unknown',
      message: describeFailure(result, `criu check --feature ${feature}`, timeoutMs),
      exitCode: null,
    };
  const stderr = parseCriuLines(result.stderr);
  const failure = startFailure(result.stdout, stderr);
  if (failure) return { feature, status: 'unknown', message: failure.message, exitCode: result.code, failure };
  const said = [...lines(result.stdout), ...stderr.map((l) => l.text)];
  if (result.code === 0)
    return { feature, status: 'supported', message: said.join('; ') || `${feature} is supported`, exitCode: 0 };
  if (stderr.some((l) => /^Unknown feature /.test(l.text)))
    return {
      feature,
      status: 'unknown',
      message: `this criu does not know the feature: ${said.join('; ')}`,
      exitCode: result.code,
    };
  return {
    feature,
    status: 'unsupported',
    message: said.join('; ') || `criu check --feature ${feature} exited ${result.code}`,
    exitCode: result.code,
  };
}

/**
 * `criu check --feature NAME` for each name, a few at a time, within
 * `totalMs` overall (each call within the rest of it, at most 10 s). Names
 * not reached in time are unknown. A criu that cannot start is asked once,
 * not once per name.
 */
export function criuFeatureVerdicts(
  names: readonly string[],
  options: { totalMs?: number; env?: RuntimeEnv } = {},
): CriuFeatureReport {
  const env = options.env ?? runtimeEnv();
  const totalMs = options.totalMs ?? 30_000;
  const deadline = performance.now() + totalMs;
  const found = locateCriu(env);
  if (!found) {
    const failure = notFound(env);
    return {
      criu: null,
      failure,
      features: names.map((feature) => ({ feature, status: 'unknown', message: failure.message, exitCode: null })),
    };
  }
  const notAsked = (feature: string): CriuFeatureVerdict => ({
    feature,
    status: 'unknown',
    message: `not asked: the ${totalMs / 1000} s for all features had passed`,
    exitCode: null,
  });
  const verdict = (feature: string, result: ProgramResult | undefined, timeoutMs: number) =>
    result === undefined ? notAsked(feature) : featureVerdict(feature, result, timeoutMs);
  /** A criu that could not start: the same for every feature, said once. */
  const cannotStart = (failed: CriuFeatureVerdict & { failure?: ProbeOutcome }): CriuFeatureReport | undefined =>
    failed.failure && {
      criu: found.hostPath,
      failure: failed.failure,
      features: names.map((f) => ({
        feature: f,
        status: 'unknown',
        message: failed.failure?.message ?? '',
        exitCode: failed.exitCode,
      })),
    };
  const [first, ...rest] = names;
  if (first === undefined) return { criu: found.hostPath, features: [] };
  // The first alone: a criu that cannot start is asked once, not once per name.
  const firstTimeoutMs = Math.min(totalMs, FEATURE_TIMEOUT_MS);
  const firstVerdict = verdict(
    first,
    run(criuLaunch(found, env), ['check', '--feature', first], firstTimeoutMs),
    firstTimeoutMs,
  );
  const firstFailed = cannotStart(firstVerdict);
  if (firstFailed) return firstFailed;
  const timeoutMs = Math.max(0, Math.min(deadline - performance.now(), FEATURE_TIMEOUT_MS));
  const results = runEach(
    criuLaunch(found, env),
    rest.map((feature) => ['check', '--feature', feature]),
    timeoutMs,
    deadline,
    CRIU_FEATURE_PARALLEL,
  );
  const features = [firstVerdict, ...rest.map((feature, i) => verdict(feature, results[i], timeoutMs))];
  for (const f of features) {
    const failed = cannotStart(f);
    if (failed) return failed;
  }
  return {
    criu: found.hostPath,
    features: features.map(({ feature, status, message, exitCode }) => ({ feature, status, message, exitCode })),
  };
}
