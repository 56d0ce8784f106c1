// A memory cgroup of the bench's own, for the service's idle and loaded
// charge: what a pod's limit is judged against, the service and every child
// of it (supervisor, runners, helper programs) together, page cache and
// kernel memory included, rather than a sum of resident sizes.
//
// Made below the bench's own memory cgroup (cgroup v1's memory controller or
// cgroup v2 where it carries memory), so it stays inside whatever contains
// the bench, and removed after.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryBreakdown {
  /** Anonymous memory: heaps, stacks, private mappings. */
  anon: number;
  /** Page cache charged here (file pages this cgroup touched first, tmpfs included). */
  file: number;
  /** The rest of the charge: kernel memory (slab, stacks, page tables, socket buffers). */
  kernel: number;
}

export interface MemoryCgroup {
  readonly version: 'v1' | 'v2';
  readonly path: string;
  /** What the cgroup is charged now, in bytes. */
  current(): number;
  /** The highest charge since the last resetPeak() (or since creation), where the kernel keeps one. */
  peak(): number | undefined;
  resetPeak(): void;
  breakdown(): MemoryBreakdown;
  /** The pids in it now. */
  pids(): number[];
  /** Remove it: kills what is left in it first (only the bench's own processes are ever put there). */
  remove(): Promise<void>;
}

/** The memory cgroup of a process as /proc/PID/cgroup gives it: v1's memory line, else v2's unified line. */
export function ownCgroup(procCgroup: string): { version: 'v1' | 'v2'; path: string } | undefined {
  const lines = procCgroup.split('\n').filter(Boolean);
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers?.split(',').includes('memory')) return { version: 'v1', path };
  }
  const unified = lines.map((l) => /^0::(.*)$/.exec(l)?.[1]).find((p) => p !== undefined);
  return unified === undefined ? undefined : { version: 'v2', path: unified };
}

/** Where a hierarchy is mounted, from /proc/self/mountinfo: cgroup2's, or v1's with the memory controller. */
export function mountPoint(mountinfo: string, version: 'v1' | 'v2'): string | undefined {
  for (const line of mountinfo.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    const [before, after] = line.split(' - ');
    if (!after) continue;
    const [, root, mountPath] = before.split(' ').slice(2);
    const [fsType, , superOptions = ''] = after.split(' ');
    // A mount of a sub-tree (root not /) would put our path elsewhere: only whole hierarchies.
    if (root !== '/') continue;
    if (version === 'v2' && fsType === 'cgroup2') return mountPath;
    if (version === 'v1' && fsType === 'cgroup' && superOptions.split(',').includes('memory')) return mountPath;
  }
  return undefined;
}

/** memory.stat's keys for the breakdown: v1's hierarchical totals, v2's flat counters. */
export function parseBreakdown(stat: string, version: 'v1' | 'v2', charged: number): MemoryBreakdown {
  const values = new Map(
    stat
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length === 2)
      .map(([k, v]) => [k, Number(v)] as const),
  );
  const get = (key: string) => values.get(key) ?? 0;
  const anon = version === 'v1' ? get('total_rss') : get('anon');
  const file = version === 'v1' ? get('total_cache') : get('file');
  // v2 counts kernel memory itself; v1 leaves it to be the charge's remainder.
  const kernel = version === 'v2' && values.has('kernel') ? get('kernel') : Math.max(0, charged - anon - file);
  return { anon, file, kernel };
}

/** Every cgroup made and not yet removed, for an interrupted bench to remove. */
const made = new Set<MemoryCgroup>();

export async function removeCgroups(): Promise<void> {
  for (const cgroup of made) await cgroup.remove();
}

const read = (path: string) => readFileSync(path, 'utf8');
const readBytes = (path: string) => Number(read(path).trim());

/**
 * Make the bench's cgroup, or say why not. v2 needs the memory controller
 * enabled for its children in the bench's own cgroup; enabling it is tried,
 * and refused where the bench's cgroup holds processes (v2 keeps processes
 * out of cgroups that pass controllers down), which is then the reason.
 */
export function makeMemoryCgroup(name: string): MemoryCgroup | string {
  const own = ownCgroup(read('/proc/self/cgroup'));
  if (!own) return 'this process is in no memory cgroup';
  const mount = mountPoint(read('/proc/self/mountinfo'), own.version);
  if (!mount) return `no ${own.version === 'v1' ? 'cgroup v1 memory' : 'cgroup2'} hierarchy is mounted here`;
  const parent = join(mount, own.path);
  if (own.version === 'v2') {
    const subtree = join(parent, 'cgroup.subtree_control');
    if (!read(join(parent, 'cgroup.controllers')).split(/\s+/).includes('memory'))
      return `cgroup2 at ${mount} has no memory controller here (cgroup.controllers of ${parent})`;
    if (!read(subtree).split(/\s+/).includes('memory')) {
      try {
        writeFileSync(subtree, '+memory');
      } catch (error) {
        return `cannot enable the memory controller below ${parent}: ${(error as Error).message}`;
      }
    }
  }
  const path = join(parent, name);
  try {
    mkdirSync(path);
  } catch (error) {
    return `cannot make ${path}: ${(error as Error).message}`;
  }
  const file = (v1: string, v2: string) => join(path, own.version === 'v1' ? v1 : v2);
  const currentFile = file('memory.usage_in_bytes', 'memory.current');
  const peakFile = file('memory.max_usage_in_bytes', 'memory.peak');
  const pids = () => read(join(path, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  let peakSinceCreation = true;
  const cgroup: MemoryCgroup = {
    version: own.version,
    path,
    current: () => readBytes(currentFile),
    peak: () => (existsSync(peakFile) && peakSinceCreation ? readBytes(peakFile) : undefined),
    resetPeak() {
      // v1 resets on any write; v2's memory.peak resets only for the writer's
      // open file (Linux 6.12), so past a reset v2's peak is the bench's own sampling.
      if (own.version === 'v1') writeFileSync(peakFile, '0');
      else peakSinceCreation = false;
    },
    breakdown() {
      const charged = readBytes(currentFile);
      return parseBreakdown(read(join(path, 'memory.stat')), own.version, charged);
    },
    pids,
    async remove() {
      for (let i = 0; i < 100 && pids().length > 0; i++) {
        for (const pid of pids()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      rmdirSync(path);
      made.delete(cgroup);
    },
  };
  made.add(cgroup);
  return cgroup;
}
