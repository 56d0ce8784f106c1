// kubelet_checkpoint: is the kubelet's ContainerCheckpoint feature gate on?
// From its command line (--feature-gates, wins), its KubeletConfiguration
// (featureGates:), else the default of its version.
import { readFileSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { supported, unknown, unsupported } from '../../model.js';
import type { ProbeOutcome } from '../../model.js';
import { findExecutable, hostPath, programVersion, runtimeEnv, type RuntimeEnv } from './host.js';
import { atLeast, type Version } from './version.js';

const GATE = 'ContainerCheckpoint';
/** kubeadm's default --config. */
const DEFAULT_KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
const DEFAULT_KUBELET_ROOT = '/var/lib/kubelet';

/** A running kubelet, from the host's /proc. */
interface KubeletProcess {
  pid: number;
  args: string[];
}

/** Running kubelets: argv[0]'s basename is "kubelet" ($ROOT/proc must be the host's /proc). */
function findKubeletProcesses(env: RuntimeEnv): KubeletProcess[] {
  const proc = hostPath('/proc', env.root);
  let entries: string[];
  try {
    entries = readdirSync(proc).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  return entries.flatMap((pid) => {
    try {
      const args = readFileSync(`${proc}/${pid}/cmdline`, 'latin1').split('\0');
      if (args.at(-1) === '') args.pop();
      return args.length > 0 && posix.basename(args[0]) === 'kubelet'
        ? [{ pid: Number(pid), args: args.slice(1) }]
        : [];
    } catch {
      return [];
    }
  });
}

/** A flag's value: --name=value or --name value (the last one given, as pflag does). */
export function flagValue(args: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${name}` || a === `-${name}`) value = args[++i];
    else if (a.startsWith(`--${name}=`) || a.startsWith(`-${name}=`)) value = a.slice(a.indexOf('=') + 1);
  }
  return value;
}

/** "A=true,B=false" → map; an error for a malformed entry. */
export function parseFeatureGatesFlag(text: string): Map<string, boolean> | { error: string } {
  const gates = new Map<string, boolean>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9]+)=(true|false)$/i.exec(part);
    if (!m) return { error: `--feature-gates: cannot read ${JSON.stringify(part)}` };
    gates.set(m[1], m[2].toLowerCase() === 'true');
  }
  return gates;
}

function yamlBool(raw: string): boolean | undefined {
  const v = raw.replace(/\s+#.*$/, '').trim();
  if (/^(true|True|TRUE)$/.test(v)) return true;
  if (/^(false|False|FALSE)$/.test(v)) return false;
  return undefined;
}

/**
 * The featureGates of a KubeletConfiguration, YAML or JSON. A small reader:
 * it finds the top-level `featureGates:` key, block (indented `Name: bool`
 * lines) or flow (`{Name: true}`) style, and nothing else of the file.
 * Errors name the line.
 */
export function readFeatureGates(text: string): Map<string, boolean> | { error: string } {
  if (/^\s*\{/.test(text)) {
    try {
      const gates = (JSON.parse(text) as { featureGates?: Record<string, unknown> }).featureGates ?? {};
      const out = new Map<string, boolean>();
      for (const [k, v] of Object.entries(gates)) {
        if (typeof v !== 'boolean') return { error: `featureGates.${k} is not true or false` };
        out.set(k, v);
      }
      return out;
    } catch (err) {
      return { error: `not valid JSON: ${(err as Error).message}` };
    }
  }
  const all = text.split('\n');
  const gates = new Map<string, boolean>();
  const start = all.findIndex((l) => /^["']?featureGates["']?\s*:/.test(l));
  if (start < 0) return gates;
  const rest = all[start]
    .replace(/^["']?featureGates["']?\s*:/, '')
    .replace(/\s+#.*$/, '')
    .trim();
  if (rest.startsWith('{')) {
    if (!rest.endsWith('}')) return { error: `line ${start + 1}: a featureGates {...} that does not end on its line` };
    for (const part of rest
      .slice(1, -1)
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const m = /^["']?([A-Za-z0-9]+)["']?\s*:\s*(\S+)$/.exec(part);
      const v = m ? yamlBool(m[2]) : undefined;
      if (!m || v === undefined)
        return { error: `line ${start + 1}: cannot read ${JSON.stringify(part)} as Name: true|false` };
      gates.set(m[1], v);
    }
    return gates;
  }
  if (rest !== '' && rest !== '{}') return { error: `line ${start + 1}: featureGates is not a mapping` };
  let indent: number | undefined;
  for (let i = start + 1; i < all.length; i++) {
    const line = all[i].replace(/\r$/, '');
    if (/^\s*(#.*)?$/.test(line)) continue;
    const lead = /^ */.exec(line)?.[0].length ?? 0;
    if (line[lead] === '\t') return { error: `line ${i + 1}: a tab in the indentation` };
    if (lead === 0) break; // the next top-level key
    indent ??= lead;
    if (lead !== indent) return { error: `line ${i + 1}: unexpected indentation under featureGates` };
    const m = /^\s*["']?([A-Za-z0-9]+)["']?\s*:\s*(.*)$/.exec(line);
    const v = m ? yamlBool(m[2]) : undefined;
    if (!m || v === undefined)
      return { error: `line ${i + 1}: cannot read ${JSON.stringify(line.trim())} as Name: true|false` };
    gates.set(m[1], v);
  }
  return gates;
}

/**
 * The ContainerCheckpoint default of a kubelet version: alpha 1.25 off, beta 1.30 on (kubernetes
 * pkg/features/kube_features.go).
 */
export function gateDefault(v: Version): boolean | 'absent' {
  if (!atLeast(v, 1, 25)) return 'absent';
  return atLeast(v, 1, 30);
}

export interface KubeletReport {
  node: boolean;
  pid?: number;
  binary?: string;
  version?: string;
  configFile?: string;
  /** The checkpoints directory: <--root-dir>/checkpoints. */
  checkpointsDir: string;
  gate?: boolean;
  gateFrom?: string;
  outcome: ProbeOutcome;
}

export function inspectKubelet(env: RuntimeEnv = runtimeEnv()): KubeletReport {
  const proc = findKubeletProcesses(env)[0];
  const found = findExecutable('kubelet', env);
  const rootDir = (proc && flagValue(proc.args, 'root-dir')) || DEFAULT_KUBELET_ROOT;
  const checkpointsDir = posix.join(rootDir, 'checkpoints');
  const configFile = (proc && flagValue(proc.args, 'config')) || DEFAULT_KUBELET_CONFIG;
  let configText: string | undefined;
  try {
    configText = readFileSync(hostPath(posix.resolve('/', configFile), env.root), 'utf8');
  } catch {
    // no config file: the flags and the version decide
  }
  const base = {
    node: true,
    checkpointsDir,
    ...(proc ? { pid: proc.pid } : {}),
    ...(found ? { binary: found.hostPath } : {}),
    ...(configText !== undefined ? { configFile } : {}),
  };
  if (!proc && !found && configText === undefined) {
    return {
      node: false,
      checkpointsDir,
      outcome: {
        status: 'supported',
        reason: 'NotApplicable',
        message: `not a Kubernetes node: no kubelet running, installed or configured (${DEFAULT_KUBELET_CONFIG})`,
      },
    };
  }
  let version: Version | undefined;
  let versionWhy = 'no kubelet binary found';
  if (found) {
    const reading = programVersion(found, ['--version'], /^Kubernetes (v\d+\.\d+\S*)/m);
    if (reading.version) version = reading.version;
    else versionWhy = reading.why;
  }
  const withVersion = { ...base, ...(version ? { version: version.text } : {}) };
  // The command line wins over the file (kubelet: flags override the config file).
  let gate: boolean | undefined;
  let gateFrom: string | undefined;
  const flag = proc && flagValue(proc.args, 'feature-gates');
  if (flag !== undefined) {
    const gates = parseFeatureGatesFlag(flag);
    if ('error' in gates)
      return { ...withVersion, outcome: unknown('UnexpectedResult', `the running kubelet's ${gates.error}`) };
    if (gates.has(GATE)) [gate, gateFrom] = [gates.get(GATE), '--feature-gates of the running kubelet'];
  }
  if (gate === undefined && configText !== undefined) {
    const gates = readFeatureGates(configText);
    if ('error' in gates)
      return { ...withVersion, outcome: unknown('UnexpectedResult', `${configFile}: ${gates.error}`) };
    if (gates.has(GATE)) [gate, gateFrom] = [gates.get(GATE), configFile];
  }
  if (version && gateDefault(version) === 'absent') {
    return {
      ...withVersion,
      outcome: unsupported(
        `kubelet ${version.text} has no ${GATE} feature gate (it exists from 1.25): upgrade the kubelet`,
        'MissingDependency',
      ),
    };
  }
  if (gate === undefined && version)
    [gate, gateFrom] = [gateDefault(version) as boolean, `the default of kubelet ${version.text}`];
  const report = { ...withVersion, ...(gate !== undefined ? { gate, gateFrom } : {}) };
  if (gate === undefined)
    return {
      ...report,
      outcome: unknown('UnexpectedResult', `${GATE} is not set and the kubelet's version is unknown (${versionWhy})`),
    };
  if (!gate)
    return {
      ...report,
      outcome: unsupported(
        `${GATE} is off (${gateFrom}): set featureGates: {${GATE}: true} in the kubelet configuration`,
        'Disabled',
      ),
    };
  return { ...report, outcome: supported(`${GATE} is on (${gateFrom}); checkpoints go to ${checkpointsDir}`) };
}

/** kubelet_checkpoint: the kubelet's ContainerCheckpoint gate is on; not a Kubernetes node: not applicable. */
export function kubeletCheckpoint(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  return inspectKubelet(env).outcome;
}
