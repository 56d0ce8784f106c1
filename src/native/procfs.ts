// The one reader of /proc and of the host's files: every parse of a /proc
// file the service makes (stat, status, maps, smaps, mountinfo, task
// children, fdinfo) lives here, and so does CRIU_READINESS_HOST_ROOT, the
// only way a host path is joined. Parsers of text are exported apart from
// their readers, so each can be tested on a fixed string.
import { existsSync, readFileSync, readdirSync } from 'node:fs';

/** Environment variable naming where the host's / is mounted (a container with the host's / at /host). */
export const HOST_ROOT_ENV = 'CRIU_READINESS_HOST_ROOT';

/** The host's root as CRIU_READINESS_HOST_ROOT names it (no trailing slash), or undefined when unset. */
export function hostRoot(): string | undefined {
  const root = process.env[HOST_ROOT_ENV]?.replace(/\/+$/, '');
  return root || undefined;
}

/**
 * Where to look for the host's `path`, most trusted first: under the host
 * root when one is set (in a container, the host's /boot describes the
 * kernel that runs, the image's own does not), then the path itself.
 */
export function hostPath(path: string, root = hostRoot()): string[] {
  return root ? [root + path, path] : [path];
}

/** Whose /proc directory: a pid, this process, or the calling thread (mount and network namespaces are per thread). */
export type ProcOf = number | 'self' | 'thread-self';

/** /proc/<of>/<file>. */
export function procPath(of: ProcOf, file: string): string {
  return `/proc/${of}/${file}`;
}

function readProc(of: ProcOf, file: string): string {
  return readFileSync(procPath(of, file), 'latin1');
}

// ---------------------------------------------------------------- stat

/** /proc/PID/stat: the fields after the command name (state first), and the two the engine needs. */
export interface ProcStat {
  /** Every field after "(comm)", from state on (field 3 of proc(5) is fields[0]). */
  fields: string[];
  ppid: number;
  pgrp: number;
}

export function parseStat(text: string): ProcStat {
  // The command name is in parentheses and may itself hold spaces or ')'.
  const fields = text
    .slice(text.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/);
  return { fields, ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

/** /proc/PID/stat parsed; undefined when the process is gone. */
export function procStat(of: ProcOf = 'self'): ProcStat | undefined {
  try {
    return parseStat(readProc(of, 'stat'));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- status

/** One field of /proc/PID/status text ("Seccomp", "CapEff", "NSpid", ...), or undefined when absent. */
export function statusField(text: string, name: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}:`)) return line.slice(name.length + 1).trim();
  }
  return undefined;
}

/** A field of /proc/<of>/status. */
export function procStatus(name: string, of: ProcOf = 'self'): string | undefined {
  return statusField(readProc(of, 'status'), name);
}

/** The effective capability set (status CapEff, hex), 0 when absent. */
export function effectiveCapabilities(of: ProcOf = 'thread-self'): bigint {
  return BigInt(`0x${procStatus('CapEff', of) ?? '0'}`);
}

/** Does the thread (by default the calling one) hold `capability` (a CAP_* number) in its effective set? */
export function hasCapability(capability: number, of: ProcOf = 'thread-self'): boolean {
  return ((effectiveCapabilities(of) >> BigInt(capability)) & 1n) === 1n;
}

/** The seccomp mode (status Seccomp): '0' none, '1' strict, '2' filter. */
export function seccompMode(of: ProcOf = 'self'): string {
  return procStatus('Seccomp', of) ?? '0';
}

// ---------------------------------------------------------------- maps and smaps

/** One line of /proc/PID/maps. */
export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  /** The backing file's device and inode (0 for anonymous memory). */
  major: number;
  minor: number;
  inode: bigint;
  /** The path or [name]; '' for anonymous memory. */
  name: string;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S+) [0-9a-f]+ ([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$/;

export function parseMaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    mappings.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3],
      major: parseInt(m[4], 16),
      minor: parseInt(m[5], 16),
      inode: BigInt(m[6]),
      name: m[7],
    });
  }
  return mappings;
}

/** The mappings of /proc/<of>/maps. */
export function procMaps(of: ProcOf = 'self'): Mapping[] {
  return parseMaps(readProc(of, 'maps'));
}

/** The mapping of /proc/<of>/maps that starts at `start`, if any. */
export function mappingAt(start: bigint | number, of: ProcOf = 'self'): Mapping | undefined {
  const at = BigInt(start);
  return procMaps(of).find((m) => m.start === at);
}

/** From smaps text: the VmFlags (two-letter codes) of the mapping that starts at `start` (none if it is not there). */
export function vmFlagsAt(smaps: string, start: bigint): string[] {
  let inMapping = false;
  for (const line of smaps.split('\n')) {
    const range = /^([0-9a-f]+)-[0-9a-f]+ /.exec(line);
    if (range) inMapping = BigInt(`0x${range[1]}`) === start;
    else if (inMapping && line.startsWith('VmFlags:')) return line.slice('VmFlags:'.length).trim().split(/\s+/);
  }
  return [];
}

/** The VmFlags of /proc/<of>/smaps for the mapping that starts at `start`. */
export function procVmFlags(start: bigint, of: ProcOf = 'self'): string[] {
  return vmFlagsAt(readProc(of, 'smaps'), start);
}

// ---------------------------------------------------------------- mountinfo

/** One line of /proc/PID/mountinfo, the parts the probes read. */
export interface MountInfo {
  mountPoint: string;
  /** Optional fields such as shared:N. */
  tags: string[];
  fsType: string;
  superOptions: string;
}

/** Undo mountinfo's octal escapes (\040 for a space, ...). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountInfo[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [before, after] = line.split(' - ');
      const fields = before.split(' ');
      const [fsType, , superOptions = ''] = after.split(' ');
      return { mountPoint: unescapeMountPath(fields[4]), tags: fields.slice(6), fsType, superOptions };
    });
}

/** The mount table of the calling thread's mount namespace (by default). */
export function mountInfo(of: ProcOf = 'thread-self'): MountInfo[] {
  return parseMountInfo(readFileSync(procPath(of, 'mountinfo'), 'utf8'));
}

// ---------------------------------------------------------------- the kernel

/** As CRIU's kerndat: IPv6 is there when /proc/sys/net/ipv6 is. */
export function ipv6Enabled(): boolean {
  return existsSync('/proc/sys/net/ipv6');
}

/** The kernel command line (/proc/cmdline). */
export function kernelCommandLine(): string {
  return readFileSync('/proc/cmdline', 'utf8');
}

// ---------------------------------------------------------------- tasks, children, fds

/** How many threads the process has (/proc/PID/task). */
export function threadCount(of: ProcOf): number {
  return readdirSync(procPath(of, 'task')).length;
}

/** This process's children, from every thread's view (a subreaper adopts them on any thread); [] when unreadable. */
export function ownChildren(): number[] {
  try {
    return readdirSync('/proc/self/task').flatMap((tid) =>
      readFileSync(`/proc/self/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** The text of /proc/self/fdinfo/<fd>. */
export function fdinfo(fd: number): string {
  return readProc('self', `fdinfo/${fd}`);
}

/** The soft limit on open files in a /proc/PID/limits text (undefined when unlimited or absent). */
function parseOpenFileLimit(text: string): number | undefined {
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
}

/** This process's soft RLIMIT_NOFILE (Node has no getrlimit). */
export function openFileLimit(): number | undefined {
  return parseOpenFileLimit(readFileSync('/proc/self/limits', 'latin1'));
}

/**
 * Open files `serve` needs besides its connections: Node's module loader
 * opens the HTTP side's modules (zod's locales) all at once at start-up,
 * close to a hundred; later the process holds a few dozen. The connection
 * limit leaves these free.
 */
export const SERVE_RESERVED_FILES = 128;
/** Below this soft limit `serve` refuses to start: the reserve and some connections. */
export const SERVE_MIN_OPEN_FILES = 256;
