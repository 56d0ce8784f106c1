// checkpoint_storage: can checkpoints be written where they will go, and is
// there room for them?
import { closeSync, openSync, readFileSync, statfsSync, unlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { supported, unknown, unsupported } from '../../model.js';
import type { ProbeOutcome } from '../../model.js';
import { findExecutable, hostPath, runtimeEnv, type RuntimeEnv } from './host.js';
import { inspectKubelet } from './kubelet.js';

/**
 * Default free-space threshold: 10 GiB. A checkpoint holds the container's
 * memory and its changed files, and the kubelet keeps every archive it
 * writes (no rotation): room for a few checkpoints of GiB-sized containers
 * without pushing the node towards the kubelet's image GC (85% used).
 */
export const DEFAULT_MIN_FREE = 10 * 1024 ** 3;

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "10G", "512Mi", "1073741824": bytes; null when unreadable. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B?)?\s*$/i.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * UNITS[m[2].toUpperCase()]);
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * Where checkpoints go: the kubelet's <root-dir>/checkpoints on a Kubernetes
 * node; else containerd's /var/lib/containerd (ctr/CRI checkpoints are
 * stored as images in its content store); else /var/lib/containers/storage
 * (podman keeps a container's checkpoint in its storage, CRI-O too).
 */
export function checkpointDirectory(env: RuntimeEnv = runtimeEnv()): { dir: string; why: string } {
  const kubelet = inspectKubelet(env);
  if (kubelet.node) return { dir: kubelet.checkpointsDir, why: 'the kubelet writes checkpoint archives there' };
  if (findExecutable('containerd', env)) return { dir: '/var/lib/containerd', why: "containerd's content store" };
  return { dir: '/var/lib/containers/storage', why: 'podman and CRI-O container storage' };
}

/** The nearest existing ancestor of a host path (itself when it exists). */
function nearestExisting(dir: string, env: RuntimeEnv): string {
  let d = dir;
  for (;;) {
    try {
      statfsSync(hostPath(d, env.root));
      return d;
    } catch {
      if (d === '/') return d;
      d = posix.dirname(d);
    }
  }
}

/** The mount containing a local path (this process's mountinfo): its mount point and filesystem type. */
export function mountOf(
  localPath: string,
  mountinfo = readFileSync('/proc/self/mountinfo', 'latin1'),
): { mountPoint: string; fsType: string } | null {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  let best: { mountPoint: string; fsType: string } | null = null;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (fields.length < 5 || dash < 0) continue;
    const mountPoint = unescape(fields[4]);
    const inside = mountPoint === '/' || localPath === mountPoint || localPath.startsWith(`${mountPoint}/`);
    // Later lines are mounted over earlier ones at the same place: >= keeps the last.
    if (inside && (!best || mountPoint.length >= best.mountPoint.length))
      best = { mountPoint, fsType: fields[dash + 1] };
  }
  return best;
}

/**
 * checkpoint_storage: the checkpoint directory (or its nearest existing ancestor) is writable with at least the
 * threshold free.
 */
export function checkpointStorage(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  const minFree = env.checkpointMinFree === undefined ? DEFAULT_MIN_FREE : parseSize(env.checkpointMinFree);
  if (minFree === null)
    return unknown(
      'UnexpectedResult',
      `CRIU_READINESS_CHECKPOINT_MIN_FREE=${env.checkpointMinFree} is not a size (e.g. 10G)`,
    );
  const { dir, why } = checkpointDirectory(env);
  const existing = nearestExisting(dir, env);
  const local = hostPath(existing, env.root);
  const where = existing === dir ? dir : `${dir} (not yet created; its nearest existing ancestor ${existing})`;
  let fsType = 'unknown';
  try {
    fsType = mountOf(realpathSync(local))?.fsType ?? fsType;
  } catch {
    // mountinfo unreadable: the type stays unknown
  }
  // Unique enough with the pid: 'wx' creates it only if no file is there. (Not node:crypto, which
  // would load with every runner.)
  const probe = posix.join(local, `.criu-readiness-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    // A read-only view of the host's root (a container's /host) says nothing of the host's own mount.
    if (code === 'EROFS' && env.foreignRoot)
      return unknown(
        'ReadOnlyFilesystem',
        `${where} is read-only as mounted here (under ${env.root}); mount the host's directory writable to check it`,
      );
    // A read-only mount here (a container's own read-only root) may not be what the runtime writes to: unknown.
    if (code === 'EROFS')
      return unknown(
        'ReadOnlyFilesystem',
        `${where} is on a read-only ${fsType} filesystem as mounted here: ` +
          `checkpoints (${why}) cannot be written from this process; check it where the runtime runs`,
      );
    if (code === 'EACCES' || code === 'EPERM')
      return unknown(
        'PermissionDenied',
        `${where} (${fsType}): this process may not write there (${code}); the runtime, as root, may`,
      );
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return unsupported(`${where} (${fsType}) is full (${code})`, 'InsufficientSpace');
    return unknown('UnexpectedResult', `${where} (${fsType}): a test file could not be created: ${code}`);
  }
  const st = statfsSync(local);
  const free = Number(st.bavail) * Number(st.bsize);
  if (free < minFree)
    return unsupported(
      `${where} (${fsType}) has less than ${gib(minFree)} free (CRIU_READINESS_CHECKPOINT_MIN_FREE)`,
      'InsufficientSpace',
    );
  // The threshold, not the free bytes: they change at every run, and the message is part of the cached body.
  return supported(`${where} (${fsType}) is writable with at least ${gib(minFree)} free (${why})`);
}
