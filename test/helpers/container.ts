// The image built and run for real, with Debian 12's podman and runc. No
// container registry is needed: scripts/container-base-image.sh makes the
// base image the Dockerfile's FROM names (debootstrap + Node and npm from the
// npm registry) and caches it.
//
// Every podman command runs in a private mount namespace held by one
// `unshare` process for the test file: the overlay and shm mounts of a build
// or a container then never appear in the host's mount table, where the
// tests that check that a probe run leaves no mount behind would see them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Status } from '../../src/model.js';
import { ROOT, getField, isObject, type Json, type JsonObject } from './deploy.js';

/** Kept across runs: the base image's root file system and the containers.conf. */
const CACHE_DIR = process.env.CRIU_READINESS_CACHE ?? '/var/cache/criu-readiness-test';
/** The image the test builds from the Dockerfile. */
export const IMAGE = 'localhost/criu-readiness:test';

/** What the Dockerfile's FROM names (its NODE_IMAGE argument's default). */
function baseImageTag(): string {
  const found = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  if (!found) throw new Error('the Dockerfile has no ARG NODE_IMAGE=');
  return found[1];
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Why the container test cannot run here, or false when it can: it needs
 * root, podman, runc, debootstrap, unshare/nsenter, and the npm registry (the
 * image's `npm ci` and the base image's Node come from it).
 */
export async function unavailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (podman as root, debootstrap)';
  const missing = ['podman', 'runc', 'debootstrap', 'unshare', 'nsenter'].filter((c) => !onPath(c));
  if (missing.length > 0) return `${missing.join(', ')} not installed (scripts/install-test-deps.sh installs them)`;
  try {
    const ping = await fetch('https://registry.npmjs.org/-/ping', { signal: AbortSignal.timeout(10_000) });
    if (!ping.ok) return `the npm registry answers ${ping.status}`;
  } catch (error) {
    return `no network: the npm registry is unreachable (${error instanceof Error ? String(error.cause ?? error.message) : String(error)})`;
  }
  return false;
}

/**
 * podman's configuration for these runs, never /etc's: runc (crun 1.8.1
 * refuses a hybrid cgroup layout) and ulimits a container may have under
 * this host's hard limits (podman's defaults ask for more open files than
 * a hard limit of 20000 allows). Without systemd podman itself picks the
 * cgroupfs cgroup manager and the file events logger.
 */
function containersConf(): string {
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, 'containers.conf');
  writeFileSync(
    path,
    [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '',
      '[engine]',
      'runtime = "runc"',
      '',
    ].join('\n'),
  );
  return path;
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** podman (and the scripts that call it) inside one private mount namespace. */
export class Podman {
  private readonly holder: ChildProcess;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(holder: ChildProcess, conf: string) {
    this.holder = holder;
    this.env = { ...process.env, CONTAINERS_CONF: conf, CRIU_READINESS_CACHE: CACHE_DIR };
  }

  static async start(): Promise<Podman> {
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', 'infinity'], { stdio: 'ignore' });
    const own = readlinkSync('/proc/self/ns/mnt');
    // unshare execs sleep once its namespace is made.
    for (let i = 0; i < 200; i++) {
      try {
        if (readlinkSync(`/proc/${holder.pid}/ns/mnt`) !== own) return new Podman(holder, containersConf());
      } catch {
        // not there yet
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    holder.kill('SIGKILL');
    throw new Error('unshare --mount did not make a mount namespace');
  }

  /** `command args…` in the namespace; a non-zero exit throws unless `allowFailure`. */
  exec(command: string, args: readonly string[], options: { timeoutMs?: number; allowFailure?: boolean } = {}): Run {
    const run = spawnSync('nsenter', [`--mount=/proc/${this.holder.pid}/ns/mnt`, '--', command, ...args], {
      cwd: ROOT,
      env: this.env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: options.timeoutMs ?? 120_000,
    });
    const result = { status: run.status, stdout: run.stdout ?? '', stderr: run.stderr ?? '' };
    if (!options.allowFailure && run.status !== 0) {
      throw new Error(`${command} ${args.join(' ')} exited ${run.status ?? run.signal}: ${result.stderr.slice(-2000)}`);
    }
    return result;
  }

  podman(args: readonly string[], options: { timeoutMs?: number; allowFailure?: boolean } = {}): Run {
    return this.exec('podman', args, options);
  }

  /** Ends the namespace's holder; containers must be removed first. */
  close(): void {
    this.holder.kill('SIGKILL');
  }
}

/**
 * The CA bundle npm is told to trust here (`npm config get cafile`, else
 * NODE_EXTRA_CA_CERTS), for the build's npm steps: given as a build secret,
 * so it is in no layer.
 */
function npmCa(): string | undefined {
  const configured = spawnSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).stdout.trim();
  for (const file of [configured, process.env.NODE_EXTRA_CA_CERTS ?? '']) {
    if (file && file !== 'null' && file !== 'undefined' && existsSync(file)) return file;
  }
  return undefined;
}

/** Makes the base image if podman does not have it (from the cache, or from scratch). */
export function ensureBaseImage(podman: Podman): string {
  return podman
    .exec(join(ROOT, 'scripts', 'container-base-image.sh'), [baseImageTag()], { timeoutMs: 15 * 60_000 })
    .stdout.trim();
}

/**
 * `podman build` of the Dockerfile as it is. --format docker: the OCI format
 * has no HEALTHCHECK and podman would drop it. --pull=never: the base image
 * is the local one. --network host: a bridge would add links and iptables
 * chains to the host while other tests watch for leftovers.
 */
export function buildImage(podman: Podman): void {
  const ca = npmCa();
  podman.podman(
    [
      'build',
      '--format',
      'docker',
      '--pull=never',
      '--network',
      'host',
      ...(ca ? ['--secret', `id=npmca,src=${ca}`] : []),
      '--tag',
      IMAGE,
      ROOT,
    ],
    { timeoutMs: 20 * 60_000 },
  );
}

// ---------------------------------------------------------------------------
// Kubernetes securityContext → podman run

function strings(value: Json | undefined): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/**
 * The podman run options that give a container what a Kubernetes container
 * with this securityContext, volume mounts and pod volumes gets. Only the
 * fields deploy/ uses are understood; any other throws, so the test never
 * silently runs with less than the manifest says.
 */
export function podmanSecurityOptions(container: JsonObject, podVolumes: Json | undefined): string[] {
  const known = new Set([
    'runAsUser',
    'runAsGroup',
    'runAsNonRoot',
    'readOnlyRootFilesystem',
    'allowPrivilegeEscalation',
    'capabilities',
    'privileged',
    'seccompProfile',
    'appArmorProfile',
  ]);
  const context = getField(container, 'securityContext');
  if (!isObject(context)) throw new Error('the container has no securityContext');
  const unknown = Object.keys(context).filter((key) => !known.has(key));
  if (unknown.length > 0)
    throw new Error(`securityContext fields this test does not map to podman: ${unknown.join(', ')}`);

  const options: string[] = [];
  if (context.runAsUser !== undefined)
    options.push('--user', `${String(context.runAsUser)}:${String(context.runAsGroup ?? 0)}`);
  if (context.privileged === true) options.push('--privileged');
  const drop = strings(getField(context, 'capabilities.drop'));
  const add = strings(getField(context, 'capabilities.add'));
  if (drop.length > 0) options.push(`--cap-drop=${drop.join(',').toLowerCase()}`);
  if (add.length > 0) options.push(`--cap-add=${add.join(',')}`);
  if (context.allowPrivilegeEscalation === false) options.push('--security-opt', 'no-new-privileges');
  if (getField(context, 'seccompProfile.type') === 'Unconfined') options.push('--security-opt', 'seccomp=unconfined');
  else if (
    getField(context, 'seccompProfile.type') !== undefined &&
    getField(context, 'seccompProfile.type') !== 'RuntimeDefault'
  )
    throw new Error('only Unconfined and RuntimeDefault seccomp profiles are mapped');
  if (getField(context, 'appArmorProfile.type') === 'Unconfined') options.push('--security-opt', 'apparmor=unconfined');
  // Kubernetes gives a read-only root nothing writable but its volumes; podman would add tmpfs on /run, /tmp and /var/tmp.
  if (context.readOnlyRootFilesystem === true) options.push('--read-only', '--read-only-tmpfs=false');

  const volumes = Array.isArray(podVolumes) ? podVolumes.filter(isObject) : [];
  for (const mount of Array.isArray(container.volumeMounts) ? container.volumeMounts.filter(isObject) : []) {
    const volume = volumes.find((v) => v.name === mount.name);
    if (!volume || getField(volume, 'emptyDir.medium') !== 'Memory')
      throw new Error(`volume ${String(mount.name)}: only emptyDir in memory is mapped`);
    const size = getField(volume, 'emptyDir.sizeLimit');
    const mebibytes = typeof size === 'string' ? /^(\d+)Mi$/.exec(size)?.[1] : undefined;
    options.push('--tmpfs', `${String(mount.mountPath)}:rw${mebibytes ? `,size=${mebibytes}m` : ''}`);
  }
  return options;
}

/** The podman options with one security option replaced (or added). */
export function withSeccomp(options: readonly string[], profile: 'default' | 'unconfined'): string[] {
  const kept: string[] = [];
  for (let i = 0; i < options.length; i++) {
    if (options[i] === '--security-opt' && options[i + 1]?.startsWith('seccomp=')) {
      i++;
      continue;
    }
    kept.push(options[i]);
  }
  return profile === 'unconfined' ? [...kept, '--security-opt', 'seccomp=unconfined'] : kept;
}

// ---------------------------------------------------------------------------
// Verdicts

export interface FeatureVerdict {
  name: string;
  category: string;
  status: Status;
  reason: string;
  message: string;
  hint: string;
}

export function parseVerdicts(json: string, where: string): Map<string, FeatureVerdict> {
  let parsed: { features?: FeatureVerdict[] };
  try {
    parsed = JSON.parse(json) as { features?: FeatureVerdict[] };
  } catch {
    throw new Error(`${where}: not JSON: ${json.slice(0, 500)}`);
  }
  if (!Array.isArray(parsed.features)) throw new Error(`${where}: no features in ${json.slice(0, 500)}`);
  return new Map(parsed.features.map((f) => [f.name, f]));
}

export interface Difference {
  name: string;
  host: Status;
  container: FeatureVerdict | undefined;
}

/**
 * Kernel features whose status differs between the host and the container,
 * by the container's status. The runtime chain's checks are left out: from a
 * container without the host's root (the runtime-chain component) they
 * describe the container's own userspace and disk, not the node's.
 */
export function differences(host: Map<string, FeatureVerdict>, container: Map<string, FeatureVerdict>): Difference[] {
  return [...host.values()]
    .filter((h) => h.category !== 'runtime' && container.get(h.name)?.status !== h.status)
    .map((h) => ({ name: h.name, host: h.status, container: container.get(h.name) }));
}

export function describe(d: Difference): string {
  const c = d.container;
  return c
    ? `${d.name}: host ${d.host}, container ${c.status} (${c.reason}): ${c.message.replace(/\s+/g, ' ')}${c.hint ? ` [hint: ${c.hint}]` : ''}`
    : `${d.name}: host ${d.host}, missing in the container's answer`;
}
