// The host as the runtime checks see it: a root prefix (the host's / mounted
// somewhere when we run in a container), the places container runtimes look
// for their helpers, and the programs run to ask them their version.
import { lstatSync, readlinkSync, statSync, accessSync, constants as fsConstants } from 'node:fs';
import { posix } from 'node:path';
import { HOST_ROOT_ENV } from '../../native/procfs.js';
import { runProgram, runPrograms, startAhead, type ProgramOptions, type ProgramResult } from '../../native/program.js';
import { errnoName } from '../outcome.js';
import { versionIn, type Version } from './version.js';

/** What the checks read from the environment; tests pass their own. */
export interface RuntimeEnv {
  /** The host's / (CRIU_READINESS_HOST_ROOT, default '/'). */
  root: string;
  /** PATH of this process, searched (under root) before the usual directories. */
  path: string;
  /** CRIU: a criu binary to use instead of searching (not under root). */
  criu?: string;
  /** CRIU_READINESS_CHECKPOINT_MIN_FREE, bytes (suffixes K, M, G, T accepted). */
  checkpointMinFree?: string;
  /**
   * The root is another system's / seen from here (CRIU_READINESS_HOST_ROOT
   * set, a container): a program found under it still runs here, in our
   * namespaces with our libraries, so what it does says little of that system.
   */
  foreignRoot?: boolean;
  /**
   * CRIU_READINESS_HOST_MOUNT_NS: the host's mount namespace (/proc/1/ns/mnt
   * in a pod with the host's PID namespace), where the host's criu and the
   * canary are run through nsenter, with the host's files and libraries.
   */
  hostMountNs?: string;
}

export function runtimeEnv(env: NodeJS.ProcessEnv = process.env): RuntimeEnv {
  const root = env[HOST_ROOT_ENV] || '/';
  return {
    root,
    path: env.PATH ?? '',
    criu: env.CRIU || undefined,
    checkpointMinFree: env.CRIU_READINESS_CHECKPOINT_MIN_FREE || undefined,
    foreignRoot: root !== '/',
    hostMountNs: env.CRIU_READINESS_HOST_MOUNT_NS || undefined,
  };
}

/**
 * A host path under the root prefix. One path, unlike procfs's hostPath: the
 * runtime chain is the host's, so the image's own files never stand in for it.
 */
export function hostPath(p: string, root = runtimeEnv().root): string {
  return root === '/' ? p : posix.join(root, p);
}

/**
 * Where runtimes find criu, runc and the rest: PATH (runc, go-criu, CRI-O and
 * libcriu all exec "criu" through $PATH), then the usual system directories,
 * because a service's PATH is usually wider than ours (/usr/sbin).
 */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Resolve symlinks of a host path as the host would: absolute targets are under root. Null if it does not exist. */
export function resolveUnderRoot(p: string, root: string): string | null {
  const parts = p.split('/').filter(Boolean);
  let resolved = '/';
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved = posix.dirname(resolved);
      continue;
    }
    const next = posix.join(resolved, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(hostPath(next, root)).isSymbolicLink();
    } catch {
      return null;
    }
    if (!isLink) {
      resolved = next;
      continue;
    }
    if (++hops > 40) return null; // ELOOP
    const target = readlinkSync(hostPath(next, root));
    parts.unshift(...target.split('/').filter(Boolean));
    if (target.startsWith('/')) resolved = '/';
  }
  return resolved;
}

/** An executable found: its host path (as the host names it) and the path to open here. */
export interface Found {
  hostPath: string;
  localPath: string;
}

/** Is this an executable regular file (for root: any x bit)? */
export function isExecutableFile(localPath: string): boolean {
  try {
    if (!statSync(localPath).isFile()) return false;
    accessSync(localPath, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable regular file `name` in PATH's and the system's directories, under root. */
export function findExecutable(name: string, env: RuntimeEnv): Found | null {
  const dirs = [...env.path.split(':').filter((d) => d.startsWith('/')), ...SYSTEM_DIRS];
  for (const dir of new Set(dirs)) {
    const candidate = posix.join(dir, name);
    // Under a host root, its symlinks are followed within it here; at /, the kernel follows them itself,
    // without a look at each part of the path (a run looks for seven programs in some eight directories).
    const resolved = env.root === '/' ? candidate : resolveUnderRoot(candidate, env.root);
    if (resolved === null) continue;
    const localPath = hostPath(resolved, env.root);
    if (isExecutableFile(localPath)) return { hostPath: candidate, localPath };
  }
  return null;
}

/** Each external program gets this long at most. */
const PROGRAM_TIMEOUT_MS = 10_000;
/** The environment given to helper programs: a plain PATH and C messages. */
export const PROGRAM_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL=C'];

/** A program to start: its path here and the arguments that come before the caller's (argv[0] first). */
export interface Launch {
  path: string;
  prefix: string[];
}

function launchOf(program: string | Launch): Launch {
  return typeof program === 'string' ? { path: program, prefix: [posix.basename(program)] } : program;
}

/** Where nsenter (util-linux) is looked for, here. */
const NSENTER = ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter', '/sbin/nsenter'];

/**
 * The host's mount namespace, entered through nsenter: a way to start a host
 * program there (by its host path), or why not. Null when none is named.
 */
export function hostLauncher(env: RuntimeEnv): { launch(hostProgram: string): Launch } | { why: string } | null {
  const ns = env.hostMountNs;
  if (!ns) return null;
  const nsenter = NSENTER.find(isExecutableFile);
  if (!nsenter) return { why: `nsenter is not installed here (${NSENTER.join(', ')})` };
  let theirs: string;
  let ours: string;
  try {
    theirs = readlinkSync(ns);
    ours = readlinkSync('/proc/self/ns/mnt');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return {
      why: `CRIU_READINESS_HOST_MOUNT_NS=${ns} cannot be read: ${code} (it needs root and the host's PID namespace)`,
    };
  }
  if (theirs === ours)
    return {
      why: `CRIU_READINESS_HOST_MOUNT_NS=${ns} is this process's own mount namespace, not the host's (no hostPID?)`,
    };
  return { launch: (hostProgram) => ({ path: nsenter, prefix: ['nsenter', `--mount=${ns}`, '--', hostProgram] }) };
}

/** How a program is started: its launch's arguments, then the caller's, in our helper environment. */
function invocation(program: string | Launch, args: string[], cwd?: string): [string, string[], ProgramOptions] {
  const { path, prefix } = launchOf(program);
  return [path, [...prefix, ...args], { env: PROGRAM_ENV, cwd }];
}

/** Run a found program, bounded in time, with stdout and stderr kept. */
export function run(
  program: string | Launch,
  args: string[],
  timeoutMs = PROGRAM_TIMEOUT_MS,
  cwd?: string,
): ProgramResult {
  const [path, argv, options] = invocation(program, args, cwd);
  return runProgram(path, argv, timeoutMs, options);
}

/**
 * Start `<program> --version` now, as run() will ask it later in the run
 * (program.ts startAhead): Go binaries (runc, containerd, the kubelet) take
 * a while to start, and meanwhile the kernel's probes run.
 */
export function versionAhead(program: string | Launch | null): void {
  if (program) startAhead(...invocation(program, ['--version']));
}

/** versionAhead for each program of these names that is installed. */
export function versionsAhead(names: readonly string[], env: RuntimeEnv = runtimeEnv()): void {
  for (const name of names) versionAhead(findExecutable(name, env)?.localPath ?? null);
}

/**
 * Run a found program once for each list of arguments, `parallel` at a time,
 * each bounded as run() bounds one, none started after `until` (undefined).
 */
export function runEach(
  program: string | Launch,
  argLists: readonly string[][],
  timeoutMs: number,
  until: number,
  parallel: number,
): (ProgramResult | undefined)[] {
  const jobs = argLists.map((args) => {
    const [path, argv] = invocation(program, args);
    return { path, argv, timeoutMs };
  });
  return runPrograms(jobs, parallel, { env: PROGRAM_ENV, until });
}

/** One line for a run that did not exit: killed, timed out, not started. */
export function describeFailure(
  result: Exclude<ProgramResult, { kind: 'exited' }>,
  what: string,
  timeoutMs = PROGRAM_TIMEOUT_MS,
): string {
  switch (result.kind) {
    case 'killed':
      return `${what} was killed by signal ${result.signal}`;
    case 'timeout':
      return `${what} did not finish within ${Number((timeoutMs / 1000).toFixed(1))} s`;
    case 'failed':
      return `${what} could not be started: ${errnoName(result.errno)}`;
  }
}

/** Lines of a program's output, trimmed, without empty ones. */
export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** A program's version line, or why there is none. */
export type VersionReading = { version: Version } | { version: null; why: string };

export function programVersion(found: Found, args: string[], pattern: RegExp): VersionReading {
  const result = run(found.localPath, args);
  if (result.kind !== 'exited')
    return { version: null, why: describeFailure(result, `${found.hostPath} ${args.join(' ')}`) };
  const version = versionIn(result.stdout, pattern) ?? versionIn(result.stderr, pattern);
  if (version) return { version };
  return {
    version: null,
    why:
      `${found.hostPath} ${args.join(' ')} printed no version: ` +
      `${lines(result.stdout + '\n' + result.stderr)[0] ?? '(nothing)'}`,
  };
}
