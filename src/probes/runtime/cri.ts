// cri_checkpoint: can the node's CRI runtime (containerd, CRI-O) checkpoint a
// container for the kubelet? Its version, its configuration, and the criu it
// needs.
import { posix } from 'node:path';
import { supported, unknown, unsupported } from '../../model.js';
import type { ProbeOutcome } from '../../model.js';
import { filesIn, globLast, lastValue, readTomlFile } from './config-files.js';
import { CRI_MIN_CRIU, readCriuVersion } from './criu.js';
import { findExecutable, programVersion, runtimeEnv, type RuntimeEnv } from './host.js';
import { inspectKubelet } from './kubelet.js';
import type { TomlTable } from './toml.js';
import { atLeast } from './version.js';

const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
const CRIO_CONFIG = '/etc/crio/crio.conf';
const CRIO_CONFIG_DIR = '/etc/crio/crio.conf.d';

/** Configuration files read in order (later wins), or the first that could not be read. */
export interface LoadedConfig {
  tables: { file: string; table: TomlTable }[];
  error?: string;
}

/**
 * containerd's config.toml and its imports, breadth first, later wins
 * (containerd cmd/containerd/server/config/config.go resolveImports/mergeConfig):
 * relative imports are relative to the importing file, `*` globs in the last part.
 */
export function loadContainerdConfig(env: RuntimeEnv): LoadedConfig {
  const tables: LoadedConfig['tables'] = [];
  const seen = new Set<string>();
  const pending = [CONTAINERD_CONFIG];
  while (pending.length > 0) {
    const file = pending.shift() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const read = readTomlFile(file, env);
    if (read.kind === 'absent') continue;
    if (read.kind === 'error') return { tables, error: read.message };
    tables.push({ file, table: read.table });
    const imports = read.table.imports;
    if (imports === undefined) continue;
    if (!Array.isArray(imports) || imports.some((i) => typeof i !== 'string'))
      return { tables, error: `${file}: imports is not a list of paths` };
    for (const i of imports as string[])
      pending.push(...globLast(posix.isAbsolute(i) ? i : posix.join(posix.dirname(file), i), env));
  }
  return { tables };
}

/**
 * CRI-O's crio.conf, then every regular file below crio.conf.d in lexical order, later wins (cri-o pkg/config
 * UpdateFromPath).
 */
export function loadCrioConfig(env: RuntimeEnv): LoadedConfig {
  const tables: LoadedConfig['tables'] = [];
  for (const file of [CRIO_CONFIG, ...filesIn(CRIO_CONFIG_DIR, env, { recursive: true })]) {
    const read = readTomlFile(file, env);
    if (read.kind === 'absent') continue;
    if (read.kind === 'error') return { tables, error: read.message };
    tables.push({ file, table: read.table });
  }
  return { tables };
}

/** "containerd github.com/containerd/containerd 1.6.20~ds1 ..." or "... /v2 v2.2.0 ...": the third field. */
const CONTAINERD_VERSION = /^containerd\s+\S+\s+(v?\d+\.\d+\S*)/m;
/** "crio version 1.36.0" (--version) or "Version:        1.36.0" (crio version). */
const CRIO_VERSION = /^(?:crio version|Version:)\s+(v?\d+\.\d+\S*)/m;

/** One CRI runtime's verdict, and what it was made of. */
export interface CriRuntimeReport {
  name: 'containerd' | 'CRI-O';
  installed: boolean;
  binary?: string;
  version?: string;
  /** enable_criu / enable_criu_support as configured, or the version's default. */
  criuEnabled?: boolean;
  enabledBy?: string;
  outcome: ProbeOutcome;
}

/** criu for a CRI runtime: present and at least 3.16, or the outcome saying why not. */
function criuForCri(env: RuntimeEnv, who: string): ProbeOutcome | null {
  const reading = readCriuVersion(env);
  if (reading.version === null) {
    if (reading.found === null)
      return unsupported(`${who} needs criu on its PATH, and none is installed`, 'MissingDependency');
    return unknown(reading.outcome.reason, `${who} needs criu 3.16 or later; ${reading.outcome.message}`);
  }
  if (!atLeast(reading.version, CRI_MIN_CRIU.major, CRI_MIN_CRIU.minor)) {
    return unsupported(
      `${who} needs criu 3.16 or later (31600), and criu is ${reading.version.text}`,
      'MissingDependency',
    );
  }
  return null;
}

function asBoolean(
  v: { value: unknown; file: string } | undefined,
  key: string,
): { value: boolean; file: string } | { error: string } | undefined {
  if (v === undefined) return undefined;
  if (typeof v.value !== 'boolean') return { error: `${v.file}: ${key} is not true or false` };
  return { value: v.value, file: v.file };
}

export function inspectContainerd(env: RuntimeEnv = runtimeEnv()): CriRuntimeReport {
  const found = findExecutable('containerd', env);
  if (!found)
    return {
      name: 'containerd',
      installed: false,
      outcome: supported('containerd is not installed: nothing to configure'),
    };
  const base = { name: 'containerd' as const, installed: true, binary: found.hostPath };
  const reading = programVersion(found, ['--version'], CONTAINERD_VERSION);
  if (reading.version === null) return { ...base, outcome: unknown('UnexpectedResult', reading.why) };
  const v = reading.version;
  const withVersion = { ...base, version: v.text };
  // CRI CheckpointContainer is an Unimplemented stub before 2.0.0 (containerd
  // internal/cri/server/container_checkpoint_linux.go, v2.0.0).
  if (!atLeast(v, 2, 0)) {
    return {
      ...withVersion,
      outcome: unsupported(
        `containerd ${v.text} cannot checkpoint containers ` +
          `for the kubelet: CRI CheckpointContainer exists from containerd 2.0`,
        'MissingDependency',
      ),
    };
  }
  let enabled: boolean | undefined;
  let enabledBy: string | undefined;
  // enable_criu exists from 2.4 (containerd internal/cri/config/config.go, default true on Linux in config_unix.go).
  if (atLeast(v, 2, 4)) {
    const config = loadContainerdConfig(env);
    if (config.error)
      return {
        ...withVersion,
        outcome: unknown('UnexpectedResult', `containerd's configuration cannot be read: ${config.error}`),
      };
    const set = asBoolean(
      lastValue(
        config.tables,
        ['plugins', 'io.containerd.cri.v1.runtime', 'enable_criu'],
        ['plugins', 'io.containerd.grpc.v1.cri', 'enable_criu'],
      ),
      'enable_criu',
    );
    if (set && 'error' in set) return { ...withVersion, outcome: unknown('UnexpectedResult', set.error) };
    enabled = set ? set.value : true;
    enabledBy = set ? set.file : `the default of containerd ${v.text}`;
    if (!enabled) {
      return {
        ...withVersion,
        criuEnabled: false,
        enabledBy,
        outcome: unsupported(`containerd ${v.text}: enable_criu = false in ${enabledBy}`, 'Disabled'),
      };
    }
  }
  const criu = criuForCri(env, `containerd ${v.text}`);
  const report = { ...withVersion, ...(enabled !== undefined ? { criuEnabled: enabled, enabledBy } : {}) };
  if (criu) return { ...report, outcome: criu };
  return {
    ...report,
    outcome: supported(
      `containerd ${v.text} can checkpoint containers (CRI ` +
        `CheckpointContainer${enabledBy ? `, enable_criu from ${enabledBy}` : ''})`,
    ),
  };
}

export function inspectCrio(env: RuntimeEnv = runtimeEnv()): CriRuntimeReport {
  const found = findExecutable('crio', env);
  if (!found)
    return { name: 'CRI-O', installed: false, outcome: supported('CRI-O is not installed: nothing to configure') };
  const base = { name: 'CRI-O' as const, installed: true, binary: found.hostPath };
  const reading = programVersion(found, ['--version'], CRIO_VERSION);
  if (reading.version === null) return { ...base, outcome: unknown('UnexpectedResult', reading.why) };
  const v = reading.version;
  const withVersion = { ...base, version: v.text };
  // enable_criu_support since v1.25.0, default false up to 1.29, true from 1.30 (cri-o pkg/config/config.go).
  if (!atLeast(v, 1, 25)) {
    return {
      ...withVersion,
      outcome: unsupported(
        `CRI-O ${v.text} cannot checkpoint containers: checkpoint support exists from CRI-O 1.25`,
        'MissingDependency',
      ),
    };
  }
  const config = loadCrioConfig(env);
  if (config.error)
    return {
      ...withVersion,
      outcome: unknown('UnexpectedResult', `CRI-O's configuration cannot be read: ${config.error}`),
    };
  const set = asBoolean(lastValue(config.tables, ['crio', 'runtime', 'enable_criu_support']), 'enable_criu_support');
  if (set && 'error' in set) return { ...withVersion, outcome: unknown('UnexpectedResult', set.error) };
  const byDefault = atLeast(v, 1, 30);
  const enabled = set ? set.value : byDefault;
  const enabledBy = set ? set.file : `the default of CRI-O ${v.text}`;
  const report = { ...withVersion, criuEnabled: enabled, enabledBy };
  if (!enabled) {
    return {
      ...report,
      outcome: unsupported(
        `CRI-O ${v.text}: enable_criu_support is false ` +
          `(${enabledBy}); set enable_criu_support = true in [crio.runtime]`,
        'Disabled',
      ),
    };
  }
  const criu = criuForCri(env, `CRI-O ${v.text}`);
  if (criu) {
    // 1.25-1.29 refuse to start; 1.30+ turn the support off at startup ("Checkpoint/restore support disabled: CRIU
    // binary not found").
    const effect = byDefault
      ? 'CRI-O turns checkpointing off at startup'
      : 'CRI-O refuses to start with enable_criu_support = true';
    return {
      ...report,
      outcome: { ...criu, message: `${criu.message} (${effect}; restart crio after installing criu)` },
    };
  }
  return {
    ...report,
    outcome: supported(
      `CRI-O ${v.text} can checkpoint containers ` +
        `(enable_criu_support from ${enabledBy}; CRI-O looks for criu once, at startup)`,
    ),
  };
}

/** Both CRI runtimes, for JSON. */
function inspectCriRuntimes(env: RuntimeEnv = runtimeEnv()): CriRuntimeReport[] {
  return [inspectContainerd(env), inspectCrio(env)];
}

/**
 * cri_checkpoint: supported if an installed CRI runtime can checkpoint;
 * neither installed, or no Kubernetes node: not applicable (supported, NotApplicable).
 */
export function criCheckpoint(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  const installed = inspectCriRuntimes(env).filter((r) => r.installed);
  if (installed.length === 0)
    return {
      status: 'supported',
      reason: 'NotApplicable',
      message: 'neither containerd nor CRI-O is installed: no CRI runtime to checkpoint for the kubelet',
    };
  // CRI CheckpointContainer is asked for by the kubelet only: podman, docker
  // and ctr checkpoint through other paths, so a containerd that cannot is no
  // failure where no kubelet is.
  if (!inspectKubelet(env).node)
    return {
      status: 'supported',
      reason: 'NotApplicable',
      message:
        'not a Kubernetes node, so no kubelet asks for CRI checkpoints: ' +
        installed.map((r) => r.outcome.message).join('; '),
    };
  const good = installed.filter((r) => r.outcome.status === 'supported');
  if (good.length > 0) return supported(good.map((r) => r.outcome.message).join('; '));
  const first = installed.find((r) => r.outcome.status === 'unknown') ?? installed[0];
  return { ...first.outcome, message: installed.map((r) => r.outcome.message).join('; ') };
}
