// The service's start-up across its two images. The first, as started
// (root, with the profile's capabilities), binds the listening socket,
// starts the privileged probe supervisor, gives up every privilege and
// re-executes itself; the second, with the same pid, serves HTTP holding
// no capability in any thread, under a seccomp filter of its own.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { ListenAddress } from '../config.js';
import * as libc from '../native/libc.js';
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  SYS,
  errno as E,
} from '../native/constants.js';
import { prepareUnprivilegedExec } from '../native/privileges.js';
import { installFilter, program, type Refusal } from '../native/seccomp.js';

/** Set in the second image's environment: what the first handed across the exec. */
const HANDOVER_ENV = 'CRIU_READINESS_HANDOVER';

export interface Handover {
  /** The listening socket, bound by the first image. */
  listenFd: number;
  /** The supervisor's channel. */
  supervisorFd: number;
  supervisorPid: number;
}

/**
 * The handover, taken out of the environment (so that nothing started later inherits it); undefined in the first image.
 */
export function takeHandover(env: NodeJS.ProcessEnv = process.env): Handover | undefined {
  const value = env[HANDOVER_ENV];
  if (value === undefined) return undefined;
  delete env[HANDOVER_ENV];
  const [listenFd, supervisorFd, supervisorPid] = value.split(',').map(Number);
  return { listenFd, supervisorFd, supervisorPid };
}

/** A libuv handle's descriptor: there is no public way to ask a net.Server or a pipe for it. */
function descriptorOf(handleOwner: unknown): number | undefined {
  const fd = (handleOwner as { _handle?: { fd?: unknown } } | null | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Bind and listen, before anything else runs: a port in use ends start-up
 * here. Resolves as the socket listens, before the event loop could accept a
 * connection on it (the exec that follows must find every connection still
 * queued in the socket, not taken by this image).
 */
export function bindListener({ host, port }: ListenAddress): Promise<{ server: Server; fd: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port }, () => {
      const fd = descriptorOf(server);
      if (fd === undefined) reject(new Error('the listening socket has no descriptor'));
      else resolve({ server, fd });
    });
  });
}

/**
 * Give up every privilege and re-execute this program with the same
 * arguments, keeping the listening socket and the supervisor's channel.
 * Returns only if the exec failed: why.
 */
export function execUnprivileged(listenFd: number, supervisor: ChildProcess): { failures: string[]; error: string } {
  const supervisorFd = descriptorOf(supervisor.stdio[3]);
  if (supervisorFd === undefined || supervisor.pid === undefined)
    return { failures: [], error: 'the probe supervisor could not be started' };
  // The standard descriptors too: libuv marks them close-on-exec when it opens them as streams.
  const failures = prepareUnprivilegedExec([0, 1, 2, listenFd, supervisorFd]);
  const env = Object.entries({ ...process.env, [HANDOVER_ENV]: `${listenFd},${supervisorFd},${supervisor.pid}` }).map(
    ([k, v]) => `${k}=${v ?? ''}`,
  );
  const errno = libc.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
  return { failures, error: `execve ${process.execPath}: errno ${errno}` };
}

/**
 * Namespace flags: a clone with any of them is refused (a user namespace would give its creator capabilities there).
 */
const NEW_NAMESPACES =
  CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

/** System calls an HTTP server never makes, refused with EPERM. */
const DENIED = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'setns',
  'unshare',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'bpf',
  'perf_event_open',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'swapon',
  'swapoff',
  'reboot',
  'keyctl',
  'add_key',
  'request_key',
  'userfaultfd',
  'open_by_handle_at',
  'name_to_handle_at',
  'acct',
  'quotactl',
  'iopl',
  'ioperm',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'sethostname',
  'setdomainname',
  'execve',
  'execveat',
] as const satisfies readonly (keyof typeof SYS)[];

/** The HTTP process's filter: x86-64 calls only, the deny-list refused. */
function httpFilter(): Buffer {
  const refusals: Refusal[] = DENIED.map((name) => ({ nr: SYS[name], errno: E.EPERM }));
  refusals.push({ nr: SYS.clone, args: [{ index: 0, anyBit: NEW_NAMESPACES }], errno: E.EPERM });
  // clone3 passes its flags in memory, out of a filter's sight: ENOSYS, and glibc falls back to clone.
  refusals.push({ nr: SYS.clone3, errno: E.ENOSYS });
  return program(refusals, { nativeOnly: true });
}

/** Install the HTTP process's filter on all its threads; the errno when the kernel refused, else 0. */
export function confineHttpProcess(): number {
  return installFilter(httpFilter());
}

/** What each thread of this process holds (status fields), for the log: the same for all, or the first that differs. */
export function threadPrivileges(pid: number | 'self' = 'self'): Record<string, string> & { threads: string } {
  const fields = ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'];
  const seen = new Map<string, Set<string>>(fields.map((f) => [f, new Set()]));
  const tasks = readdirSync(`/proc/${pid}/task`);
  for (const tid of tasks) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1');
    } catch {
      continue; // a thread that ended meanwhile
    }
    for (const field of fields) seen.get(field)?.add(new RegExp(`^${field}:\\s*(\\S+)$`, 'm').exec(status)?.[1] ?? '?');
  }
  return {
    threads: String(tasks.length),
    ...Object.fromEntries(fields.map((f) => [f, [...(seen.get(f) ?? [])].join('|')])),
  };
}
