// oci_runtime: the OCI runtime that will be asked to checkpoint (runc, crun),
// as podman, containerd and CRI-O are configured, and whether it can.
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { supported, unknown, unsupported } from '../../model.js';
import type { ProbeOutcome } from '../../model.js';
import { filesIn, lastValue, readTomlFile } from './config-files.js';
import { loadContainerdConfig, loadCrioConfig } from './cri.js';
import {
  describeFailure,
  findExecutable,
  hostPath,
  lines,
  programVersion,
  run,
  runtimeEnv,
  type RuntimeEnv,
} from './host.js';
import { tomlGet, type TomlTable } from './toml.js';

type OciRuntimeName = 'runc' | 'crun';

/** What one OCI runtime binary says of itself. */
export interface OciRuntimeReport {
  name: OciRuntimeName;
  installed: boolean;
  binary?: string;
  version?: string;
  /** crun: the feature tokens of its --version (+SYSTEMD +CRIU ...). */
  features?: string[];
  canCheckpoint: boolean;
  /** Why it can, or cannot. */
  why: string;
  /** Its --version could not be read (it crashed, hung, or printed no version): nothing is known of it. */
  unreadable?: boolean;
}

/** Where crun's libcriu (dlopen("libcriu.so.2"), crun src/libcrun/criu.c) is looked for. */
const LIBCRIU_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib/x86_64-linux-gnu',
  '/lib64',
  '/lib',
  '/usr/local/lib',
  '/usr/local/lib64',
];

function libcriuPresent(env: RuntimeEnv): boolean {
  return LIBCRIU_DIRS.some((dir) => existsSync(hostPath(`${dir}/libcriu.so.2`, env.root)));
}

/**
 * runc: every runc has `checkpoint` (runc checkpoint.go, since v0.0.1); it needs criu >= 3.0 on its PATH (criu_version
 * says).
 */
export function inspectRunc(env: RuntimeEnv = runtimeEnv()): OciRuntimeReport {
  const found = findExecutable('runc', env);
  if (!found) return { name: 'runc', installed: false, canCheckpoint: false, why: 'runc is not installed' };
  const reading = programVersion(found, ['--version'], /^runc version (\S+)/m);
  if (reading.version === null)
    return {
      name: 'runc',
      installed: true,
      binary: found.hostPath,
      canCheckpoint: false,
      why: reading.why,
      unreadable: true,
    };
  return {
    name: 'runc',
    installed: true,
    binary: found.hostPath,
    version: reading.version.text,
    canCheckpoint: true,
    why: `runc ${reading.version.text} has checkpoint and restore`,
  };
}

/**
 * crun: only a crun built with CRIU says +CRIU in --version (crun src/crun.c print_version), and it dlopens
 * libcriu.so.2.
 */
export function inspectCrun(env: RuntimeEnv = runtimeEnv()): OciRuntimeReport {
  const found = findExecutable('crun', env);
  if (!found) return { name: 'crun', installed: false, canCheckpoint: false, why: 'crun is not installed' };
  const base = { name: 'crun' as const, installed: true, binary: found.hostPath };
  const result = run(found.localPath, ['--version']);
  if (result.kind !== 'exited')
    return {
      ...base,
      canCheckpoint: false,
      why: describeFailure(result, `${found.hostPath} --version`),
      unreadable: true,
    };
  const version = /^crun version (\S+)/m.exec(result.stdout)?.[1];
  if (!version)
    return {
      ...base,
      canCheckpoint: false,
      unreadable: true,
      why:
        `${found.hostPath} --version printed no ` +
        `version: ${lines(result.stdout + '\n' + result.stderr)[0] ?? '(nothing)'}`,
    };
  const features = lines(result.stdout)
    .filter((l) => l.startsWith('+'))
    .flatMap((l) => l.split(/\s+/));
  const withVersion = { ...base, version, features };
  if (!features.includes('+CRIU'))
    return {
      ...withVersion,
      canCheckpoint: false,
      why: `crun ${version} is built without CRIU (no +CRIU in crun --version)`,
    };
  if (!libcriuPresent(env))
    return {
      ...withVersion,
      canCheckpoint: false,
      why: `crun ${version} has +CRIU but libcriu.so.2 is not installed (package libcriu2 or criu)`,
    };
  return { ...withVersion, canCheckpoint: true, why: `crun ${version} is built with CRIU (+CRIU)` };
}

/** Who is configured to use which runtime, and where that was read. */
interface RuntimeChoice {
  engine: 'podman' | 'containerd' | 'CRI-O';
  runtime: string;
  from: string;
}

/**
 * Podman's containers.conf (containers/common pkg/config): /usr/share, /etc, /etc/containers.conf.d/*.conf, later wins;
 * [engine] runtime.
 */
const CONTAINERS_CONF = ['/usr/share/containers/containers.conf', '/etc/containers/containers.conf'];
const CONTAINERS_CONF_DIR = '/etc/containers/containers.conf.d';

type Choice = RuntimeChoice | { error: string } | null;

function podmanChoice(env: RuntimeEnv): Choice {
  if (!findExecutable('podman', env)) return null;
  const tables: { file: string; table: TomlTable }[] = [];
  for (const file of [...CONTAINERS_CONF, ...filesIn(CONTAINERS_CONF_DIR, env, { suffix: '.conf' })]) {
    const read = readTomlFile(file, env);
    if (read.kind === 'error') return { error: read.message };
    if (read.kind === 'ok') tables.push(read);
  }
  const set = lastValue(tables, ['engine', 'runtime']);
  if (set && typeof set.value !== 'string') return { error: `${set.file}: [engine] runtime is not a string` };
  if (set) return { engine: 'podman', runtime: set.value as string, from: set.file };
  // Unset: containers/common findRuntime() takes crun first, then runc.
  const first = (['crun', 'runc'] as const).find((name) => findExecutable(name, env));
  return first
    ? { engine: 'podman', runtime: first, from: `podman's default (the first installed of crun, runc)` }
    : null;
}

function containerdChoice(env: RuntimeEnv): Choice {
  if (!findExecutable('containerd', env)) return null;
  const config = loadContainerdConfig(env);
  if (config.error) return { error: config.error };
  // v3 (2.x) and v2 (1.x) CRI plugin tables; the runtime's options.BinaryName, else the runc shim's "runc".
  for (const [cri, containerdKeys] of [
    ['io.containerd.cri.v1.runtime', ['containerd']],
    ['io.containerd.grpc.v1.cri', ['containerd']],
  ] as const) {
    const name = lastValue(config.tables, ['plugins', cri, ...containerdKeys, 'default_runtime_name']);
    const runtimeName = typeof name?.value === 'string' ? name.value : 'runc';
    const binary = lastValue(config.tables, [
      'plugins',
      cri,
      ...containerdKeys,
      'runtimes',
      runtimeName,
      'options',
      'BinaryName',
    ]);
    if (typeof binary?.value === 'string' && binary.value !== '')
      return { engine: 'containerd', runtime: binary.value, from: binary.file };
    if (name) return { engine: 'containerd', runtime: runtimeName, from: name.file };
  }
  return { engine: 'containerd', runtime: 'runc', from: `containerd's default (the runc shim)` };
}

function crioChoice(env: RuntimeEnv): Choice {
  if (!findExecutable('crio', env)) return null;
  const config = loadCrioConfig(env);
  if (config.error) return { error: config.error };
  const name = lastValue(config.tables, ['crio', 'runtime', 'default_runtime']);
  if (!name || typeof name.value !== 'string') return null; // CRI-O's default differs by version: not guessed
  const path = config.tables
    .map((t) => tomlGet(t.table, ['crio', 'runtime', 'runtimes', name.value as string, 'runtime_path']))
    .filter((p) => typeof p === 'string')
    .pop();
  return { engine: 'CRI-O', runtime: typeof path === 'string' && path !== '' ? path : name.value, from: name.file };
}

export interface OciReport {
  runtimes: OciRuntimeReport[];
  choices: RuntimeChoice[];
  /** A configuration that could not be read. */
  errors: string[];
}

export function inspectOci(env: RuntimeEnv = runtimeEnv()): OciReport {
  const runtimes = [inspectRunc(env), inspectCrun(env)];
  const choices: RuntimeChoice[] = [];
  const errors: string[] = [];
  for (const choice of [podmanChoice(env), containerdChoice(env), crioChoice(env)]) {
    if (choice === null) continue;
    if ('error' in choice) errors.push(choice.error);
    else choices.push(choice);
  }
  return { runtimes, choices, errors };
}

/** runc or crun by a configured name or path (/usr/bin/crun, "crun"); null for others (kata, runsc, youki...). */
function byChoice(report: OciReport, runtime: string): OciRuntimeReport | null {
  const name = posix.basename(runtime);
  return report.runtimes.find((r) => r.name === name) ?? null;
}

export const CRUN_HINT = 'use runc, or a crun built with CRIU';

/**
 * oci_runtime: supported if the configured runtimes (or, with none
 * configured, any installed one) can checkpoint; no runc or crun at all:
 * not applicable (supported, NotApplicable).
 */
export function ociRuntime(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  const report = inspectOci(env);
  if (report.errors.length > 0)
    return unknown(
      'UnexpectedResult',
      `a container engine's configuration cannot be read: ${report.errors.join('; ')}`,
    );
  const installed = report.runtimes.filter((r) => r.installed);
  if (report.choices.length === 0) {
    if (installed.length === 0)
      return {
        status: 'supported',
        reason: 'NotApplicable',
        message: 'no OCI runtime (runc, crun) is installed: nothing to checkpoint containers with',
      };
    const able = installed.filter((r) => r.canCheckpoint);
    if (able.length > 0) return supported(able.map((r) => r.why).join('; '));
    // A runtime that could not say what it is (a filter or a crash stopped it) is no proof it cannot checkpoint.
    if (installed.some((r) => r.unreadable)) return unknown('UnexpectedResult', installed.map((r) => r.why).join('; '));
    return unsupported(`${installed.map((r) => r.why).join('; ')}; ${CRUN_HINT}`, 'MissingDependency');
  }
  const problems: string[] = [];
  const fine: string[] = [];
  let unreadable = false;
  for (const choice of report.choices) {
    const runtime = byChoice(report, choice.runtime);
    const who = `${choice.engine} uses ${choice.runtime} (${choice.from})`;
    if (runtime === null) problems.push(`${who}, which this check does not know (only runc and crun)`);
    else if (!runtime.installed) problems.push(`${who}, which is not installed`);
    else if (!runtime.canCheckpoint) {
      unreadable ||= runtime.unreadable === true;
      // Podman's own words for it (podman libpod/container_internal_common.go).
      const podman =
        choice.engine === 'podman' && !runtime.unreadable
          ? ' (podman: "configured runtime does not support checkpoint/restore")'
          : '';
      problems.push(`${who}: ${runtime.why}${podman}`);
    } else fine.push(`${who}: ${runtime.why}`);
  }
  if (problems.length === 0) return supported(fine.join('; '));
  const crunProblem = problems.some((p) => p.includes('crun'));
  const message = `${problems.join('; ')}${crunProblem ? `; ${CRUN_HINT}` : ''}`;
  if (unreadable || problems.every((p) => p.includes('does not know'))) return unknown('UnexpectedResult', message);
  return unsupported(message, 'MissingDependency');
}
