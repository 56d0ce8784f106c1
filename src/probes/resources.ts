// What probes borrow from the kernel, each with the same shape:
// `withX(args, use)` acquires X, hands it to `use`, and releases it however
// `use` ends; a failure to acquire ends the probe (a ProbeStop) with the
// classified errno, or with what `args.onError` makes of it where a probe
// classifies that failure its own way.
import { close, closeSync, openSync, writeSync } from 'node:fs';
import * as libc from '../native/libc.js';
import { mapAnonymous } from '../native/memory.js';
import { NetlinkSocket } from '../native/netlink.js';
import { TraceeError, withTracee, type Tracee } from '../native/tracee.js';
import {
  CLONE_NEWNET,
  CLONE_NEWNS,
  O_CLOEXEC,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  errno as E,
} from '../native/constants.js';
import { procPath } from '../native/procfs.js';
import { stop, unknown, type ProbeOutcome } from '../model.js';
import { errnoName, fromErrno, fromFsError } from './outcome.js';

/** How a probe classifies a failure to acquire, where the default (fromErrno) is not its word. */
export type OnError = (errno: number) => ProbeOutcome;

function acquired<T extends { ret: number; errno: number }>(res: T, what: string, onError?: OnError): number {
  if (res.ret < 0) stop(onError ? onError(res.errno) : fromErrno(res.errno, what));
  return res.ret;
}

/** A file opened with open(2) (O_CLOEXEC added). */
export function withFd<T>(args: { path: string; flags: number; onError?: OnError }, use: (fd: number) => T): T {
  const fd = acquired(libc.open(args.path, args.flags | O_CLOEXEC, 0), `Can't open ${args.path}`, args.onError);
  try {
    return use(fd);
  } finally {
    libc.close(fd);
  }
}

/** A file of /proc/self opened with node:fs (its errors classified as fromFsError). */
export function withProcFile<T>(args: { name: string; flags: number }, use: (fd: number) => T): T {
  const path = procPath('self', args.name);
  let fd: number;
  try {
    fd = openSync(path, args.flags);
  } catch (err) {
    stop(fromFsError(err, `Can't open ${path}`));
  }
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** A socket. */
export function withSocket<T>(
  args: { domain: number; type: number; protocol: number; onError?: OnError },
  use: (fd: number) => T,
): T {
  const fd = acquired(libc.socket(args.domain, args.type, args.protocol), "Can't create socket", args.onError);
  try {
    return use(fd);
  } finally {
    libc.close(fd);
  }
}

/** A netlink socket of `protocol`, with a receive timeout. */
export function withNetlink<T>(args: { protocol: number; what: string }, use: (sock: NetlinkSocket) => T): T {
  const sock = NetlinkSocket.open(args.protocol);
  if (!(sock instanceof NetlinkSocket)) stop(fromErrno(sock.errno, args.what));
  try {
    return use(sock);
  } finally {
    sock.close();
  }
}

/** `len` bytes of private anonymous read-write memory, by address. */
export function withMapping<T>(args: { len: number }, use: (addr: number) => T): T {
  const map = mapAnonymous(args.len);
  if (map.errno) stop(fromErrno(map.errno, "Can't mmap memory for the test"));
  try {
    return use(map.addr);
  } finally {
    libc.munmap(map.addr, args.len);
  }
}

/** The namespaces a probe may make private to the runner's main thread. */
const NAMESPACES = {
  mnt: { flag: CLONE_NEWNS, name: 'mount' },
  net: { flag: CLONE_NEWNET, name: 'network' },
} as const;

/**
 * Run `use` with the calling (main) thread in a new namespace of `kind`, and
 * put the thread back into its own afterwards, whatever happens. A mount
 * namespace also takes root and cwd: setns() moves both to the namespace's
 * root, so they are restored from descriptors taken before leaving. A runner
 * that cannot get back must not run another probe in the wrong namespace: it
 * dies, and the engine reports the probe as crashed and starts a fresh runner.
 */
export function inPrivateNamespace<T>(args: { kind: keyof typeof NAMESPACES; onError?: OnError }, use: () => T): T {
  const { flag, name } = NAMESPACES[args.kind];
  const homePaths = [procPath('thread-self', `ns/${args.kind}`), ...(args.kind === 'mnt' ? ['/', '.'] : [])];
  const home: number[] = [];
  try {
    for (const path of homePaths) {
      const flags = path.startsWith('/proc') ? O_RDONLY : O_PATH | O_DIRECTORY;
      home.push(acquired(libc.open(path, flags | O_CLOEXEC, 0), `Can't open ${path}`));
    }
    acquired(libc.unshare(flag), `Unable to create a new ${name} namespace`, args.onError);
    try {
      return use();
    } finally {
      returnHome(name, flag, home);
    }
  } finally {
    home.forEach((fd) => libc.close(fd));
  }
}

function returnHome(name: string, flag: number, [ns, root, cwd]: number[]): void {
  const steps: [string, () => libc.SysResult][] = [['setns', () => libc.setns(ns, flag)]];
  if (root !== undefined) {
    steps.push(
      ['fchdir /', () => libc.fchdir(root)],
      ['chroot', () => libc.chroot('.')],
      ['fchdir cwd', () => libc.fchdir(cwd)],
    );
  }
  for (const [what, step] of steps) {
    const res = step();
    if (res.ret !== 0)
      abandonRunner(`cannot return to the original ${name} namespace (${what}: ${errnoName(res.errno)})`);
  }
}

/** A runner stuck in a foreign namespace must not run another probe: the engine replaces a dead one. */
function abandonRunner(why: string): never {
  writeSync(2, `criu-readiness: ${why}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error(why);
}

/** A failure of the tracing itself (spawn, seize, an unexpected stop) says nothing about a feature: unknown. */
function fromTraceeError(err: TraceeError): ProbeOutcome {
  const detail = err.errno ? `${err.message}: ${errnoName(err.errno)}` : err.message;
  if (err.errno === E.EPERM || err.errno === E.EACCES) return unknown('PermissionDenied', detail);
  if (err.errno === E.ETIMEDOUT) return unknown('Timeout', detail);
  return unknown('UnexpectedResult', detail);
}

/** Run `test` on a fresh tracee (killed and reaped however it ends); tracing failures become unknown. */
export function traced(test: (tracee: Tracee) => ProbeOutcome): ProbeOutcome {
  try {
    return withTracee(test);
  } catch (err) {
    if (err instanceof TraceeError) return fromTraceeError(err);
    throw err;
  }
}

/**
 * Close a descriptor on a libuv worker thread: some closes wait out an RCU grace period the probe need not wait for.
 */
export function closeInBackground(fd: number): void {
  close(fd, () => undefined);
}
