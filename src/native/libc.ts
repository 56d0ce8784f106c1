// The one place that talks to libc through koffi. Every call returns the raw
// result together with errno, read immediately after the call on the same
// thread, so a probe can tell "the kernel said no" from "we may not ask".
//
// koffi and libc are loaded on the first call, not on import: the engine and
// the CLI import the catalogue (and so every probe module) without ever
// probing, and loading koffi costs a good part of a Node start-up.
import { createRequire } from 'node:module';
import { errno, SYS, O_RDWR, POSIX_SPAWN_SETSID, SIGKILL, WNOHANG, __WALL } from './constants.js';

type Koffi = typeof import('koffi');
type KoffiFn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

const requireCjs = createRequire(import.meta.url);
let koffiModule: Koffi | undefined;
let libcHandle: ReturnType<Koffi['load']> | undefined;

/** Where koffi came from: its glibc binary for this platform, or (elsewhere, musl) koffi's own loader. */
export type KoffiSource = 'platform binary' | 'koffi loader';
let koffiSource: KoffiSource | undefined;

/**
 * koffi's own loader reads Node's ELF header (glibc or musl?) and searches a
 * dozen paths before it loads its binary, most of what koffi costs a
 * runner's start. Its glibc binary for this platform, which npm installs with
 * it, is loaded straight; where that fails, koffi's loader decides.
 */
function loadKoffi(): Koffi {
  const { platform, arch } = process;
  try {
    const binary = requireCjs(`@koromix/koffi-${platform}-${arch}/${platform}_${arch}/koffi.node`) as Koffi;
    koffiSource = 'platform binary';
    return binary;
  } catch {
    koffiSource = 'koffi loader';
    return requireCjs('koffi') as Koffi;
  }
}

function koffi(): Koffi {
  return (koffiModule ??= loadKoffi());
}

/** Has anything loaded koffi yet? (Asked without loading it.) */
export function koffiLoaded(): boolean {
  return koffiModule !== undefined;
}

/** How koffi was loaded (loading it if it was not yet). */
export function loadedKoffiFrom(): KoffiSource {
  koffi();
  return koffiSource as KoffiSource;
}

/** Load another shared library through koffi (libnftables); throws when it is absent. */
export function loadLibrary(name: string): ReturnType<Koffi['load']> {
  return koffi().load(name);
}

/** A libc function with the given C prototype, bound on its first call. */
function libcFunction(definition: string): KoffiFn {
  let fn: KoffiFn | undefined;
  const bound = () => (fn ??= (libcHandle ??= koffi().load('libc.so.6')).func(definition) as unknown as KoffiFn);
  const call = ((...args: unknown[]) => bound()(...args)) as KoffiFn;
  call.async = (...args: unknown[]) => bound().async(...args);
  return call;
}

/** Clear errno before a call, so that the value read after it is the call's. */
function clearErrno(): void {
  koffi().errno(0);
}

/** errno as the last call on this thread left it. */
function lastErrno(): number {
  return koffi().errno();
}

/** A libc call's return value and the errno it left (0 when it succeeded). */
export interface SysResult {
  ret: number;
  errno: number;
}

function bind(definition: string): (...args: unknown[]) => SysResult {
  const fn = libcFunction(definition);
  return (...args: unknown[]) => {
    clearErrno();
    const raw = fn(...args);
    const errno = lastErrno();
    const ret = typeof raw === 'bigint' ? Number(raw) : (raw as number);
    return { ret, errno: ret < 0 ? errno : 0 };
  };
}

/** A pointer argument: a Buffer (its address is passed) or null. */
export type Ptr = Buffer | null;

/** An argument of the raw syscall(): its C type and value. */
export type SyscallArg = ['long', number | bigint] | ['void *', Ptr] | ['int', number];

const rawSyscall = libcFunction('long syscall(long nr, ...)');

/** syscall(2): the raw system call, with each argument typed. */
export function syscall(nr: number, ...args: SyscallArg[]): SysResult {
  clearErrno();
  const raw = rawSyscall(nr, ...args.flat()) as number | bigint;
  const errno = lastErrno();
  const ret = Number(raw);
  return { ret, errno: ret < 0 ? errno : 0 };
}

/** prctl(2) as the raw system call, so each argument can be a number or a pointer. Unused arguments are 0. */
export function prctl(option: number, ...args: SyscallArg[]): SysResult {
  const padded: SyscallArg[] = [...args];
  while (padded.length < 4) padded.push(['long', 0]);
  return syscall(SYS.prctl, ['int', option], ...padded);
}

const syscall1 = libcFunction('long syscall(long nr, long a1)');

/**
 * A one-argument system call run on a libuv worker thread, for calls that
 * only release something and may block on the kernel (io_destroy waits out
 * an RCU grace period): the probe need not wait for them.
 */
export function syscallInBackground(nr: number, a1: number): Promise<number> {
  return new Promise((resolve) =>
    syscall1.async(nr, a1, (err: unknown, ret: number | bigint) => resolve(err ? -1 : Number(ret))),
  );
}

export const open = bind('int open(const char *path, int flags, int mode)');
export const close = bind('int close(int fd)');
export const read = bind('long read(int fd, _Out_ void *buf, unsigned long count)');
export const write = bind('long write(int fd, const void *buf, unsigned long count)');
export const pipe2 = bind('int pipe2(_Out_ int *fds, int flags)');
export const socket = bind('int socket(int domain, int type, int protocol)');
export const socketpair = bind('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
export const bindSocket = bind('int bind(int fd, const void *addr, unsigned int len)');
export const listen = bind('int listen(int fd, int backlog)');
export const accept = bind('int accept(int fd, void *addr, void *len)');
export const connect = bind('int connect(int fd, const void *addr, unsigned int len)');
export const shutdown = bind('int shutdown(int fd, int how)');
export const getsockname = bind('int getsockname(int fd, _Inout_ void *addr, _Inout_ unsigned int *len)');
export const send = bind('long send(int fd, const void *buf, unsigned long len, int flags)');
export const recv = bind('long recv(int fd, _Out_ void *buf, unsigned long len, int flags)');
export const getsockopt = bind(
  'int getsockopt(int fd, int level, int name, _Inout_ void *value, _Inout_ unsigned int *len)',
);
export const setsockopt = bind('int setsockopt(int fd, int level, int name, const void *value, unsigned int len)');
/** ioctl with a pointer argument (a Buffer, or null for NULL). */
export const ioctlPtr = bind('int ioctl(int fd, unsigned long request, _Inout_ void *arg)');
export const fcntlPtr = bind('int fcntl(int fd, int cmd, _Inout_ void *arg)');
export const fcntlInt = bind('int fcntl(int fd, int cmd, long arg)');
export const flock = bind('int flock(int fd, int op)');
export const waitpid = bind('int waitpid(int pid, _Out_ int *status, int options)');
export const kill = bind('int kill(int pid, int sig)');
export const getpid = bind('int getpid()');
export const setsid = bind('int setsid()');
export const unshare = bind('int unshare(int flags)');
export const setns = bind('int setns(int fd, int nstype)');
export const mount = bind(
  'int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)',
);
export const mmap = bind('long mmap(unsigned long addr, unsigned long len, int prot, int flags, int fd, long off)');
export const munmap = bind('int munmap(unsigned long addr, unsigned long len)');
export const fchdir = bind('int fchdir(int fd)');
export const chroot = bind('int chroot(const char *path)');

const rawSpawn = libcFunction(
  'int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)',
);
const spawnActionsInit = libcFunction('int posix_spawn_file_actions_init(void *actions)');
const spawnActionsOpen = libcFunction(
  'int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, int mode)',
);
const spawnActionsDup2 = libcFunction('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
const spawnActionsChdir = libcFunction('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)');
const spawnActionsDestroy = libcFunction('int posix_spawn_file_actions_destroy(void *actions)');
const spawnAttrInit = libcFunction('int posix_spawnattr_init(void *attr)');
const spawnAttrSetFlags = libcFunction('int posix_spawnattr_setflags(void *attr, short flags)');
const spawnAttrDestroy = libcFunction('int posix_spawnattr_destroy(void *attr)');

/** glibc's posix_spawn_file_actions_t is 80 bytes on x86-64, posix_spawnattr_t 336; room to spare. */
const SPAWN_FILE_ACTIONS_SIZE = 128;
const SPAWN_ATTR_SIZE = 512;

/** How to start a child with spawn(): where its standard descriptors go, its environment, directory and session. */
export interface SpawnOptions {
  /** Descriptors for the child's stdin, stdout and stderr (else /dev/null). */
  stdin?: number;
  stdout?: number;
  stderr?: number;
  /** Its environment, as "NAME=value" entries; empty by default. */
  env?: string[];
  /** Its working directory (posix_spawn_file_actions_addchdir_np, glibc 2.29). */
  cwd?: string;
  /** A session (and process group) of its own: POSIX_SPAWN_SETSID. */
  setsid?: boolean;
}

/**
 * posix_spawn(3). The child is unknown to libuv, so the caller may ptrace
 * and reap it itself. Returns the pid, or the error number posix_spawn gave.
 */
export function spawn(path: string, argv: string[], options: SpawnOptions = {}): { pid: number; error: number } {
  const actions = Buffer.alloc(SPAWN_FILE_ACTIONS_SIZE);
  const attr = Buffer.alloc(SPAWN_ATTR_SIZE);
  spawnActionsInit(actions);
  spawnAttrInit(attr);
  try {
    for (const fd of [0, 1, 2]) spawnActionsOpen(actions, fd, '/dev/null', O_RDWR, 0);
    if (options.stdin !== undefined) spawnActionsDup2(actions, options.stdin, 0);
    if (options.stdout !== undefined) spawnActionsDup2(actions, options.stdout, 1);
    if (options.stderr !== undefined) spawnActionsDup2(actions, options.stderr, 2);
    if (options.cwd !== undefined) spawnActionsChdir(actions, options.cwd);
    if (options.setsid) spawnAttrSetFlags(attr, POSIX_SPAWN_SETSID);
    const pid = [0];
    const error = rawSpawn(pid, path, actions, attr, [...argv, null], [...(options.env ?? []), null]) as number;
    return { pid: error === 0 ? pid[0] : -1, error };
  } finally {
    spawnAttrDestroy(attr);
    spawnActionsDestroy(actions);
  }
}

const rawExecve = libcFunction('int execve(const char *path, const char **argv, const char **envp)');

/**
 * execve(2): replace this process's image, keeping its pid and the
 * descriptors without FD_CLOEXEC. Returns only when it failed: the errno.
 */
export function execve(path: string, argv: readonly string[], env: readonly string[]): number {
  clearErrno();
  rawExecve(path, [...argv, null], [...env, null]);
  return lastErrno();
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Sleep synchronously, this thread only: a probe polling a child must not let the event loop run. */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** How a wait for a child ended. */
export type WaitState =
  | { kind: 'exited'; code: number }
  | { kind: 'killed'; signal: number }
  | { kind: 'stopped'; signal: number; event: number };

/** A wait status, decoded as the W* macros of <sys/wait.h> do. */
export function decodeWaitStatus(status: number): WaitState {
  const low = status & 0x7f;
  if (low === 0) return { kind: 'exited', code: (status >> 8) & 0xff };
  if ((status & 0xff) === 0x7f) return { kind: 'stopped', signal: (status >> 8) & 0xff, event: (status >> 16) & 0xff };
  return { kind: 'killed', signal: low };
}

/** The longest sleep between two looks at a child that has not answered yet. */
const MAX_WAIT_STEP_MS = 0.25;

/** One look at a child, without waiting: how it ended (or stopped), undefined while it runs, or waitpid's error. */
export function pollChild(pid: number, flags: number): WaitState | { kind: 'failed'; errno: number } | undefined {
  const status = [0];
  const res = waitpid(pid, status, flags | WNOHANG);
  if (res.ret === pid) return decodeWaitStatus(status[0]);
  if (res.ret < 0 && res.errno !== errno.EINTR) return { kind: 'failed', errno: res.errno };
  return undefined;
}

/**
 * waitpid (with `flags` and WNOHANG) under a deadline: look, then sleep in
 * growing steps, so a hung child cannot hang the caller. `between` runs
 * before each look. The child's state, or why there is none: the deadline
 * passed, or waitpid failed (its errno).
 */
export function waitWithDeadline(
  pid: number,
  flags: number,
  timeoutMs: number,
  between?: () => void,
): WaitState | { kind: 'timeout' } | { kind: 'failed'; errno: number } {
  const deadline = performance.now() + timeoutMs;
  let pause = 0.01;
  for (;;) {
    between?.();
    const state = pollChild(pid, flags);
    if (state !== undefined) return state;
    if (performance.now() > deadline) return { kind: 'timeout' };
    sleepMs(pause);
    // Most children answer within a fraction of a millisecond: keep the steps short.
    pause = Math.min(pause * 2, MAX_WAIT_STEP_MS);
  }
}

/** waitpid without a deadline, for a child that has been sent SIGKILL. */
function waitBlocking(pid: number, flags: number): WaitState | { kind: 'failed'; errno: number } {
  const status = [0];
  for (;;) {
    const res = waitpid(pid, status, flags);
    if (res.ret === pid) return decodeWaitStatus(status[0]);
    if (res.errno !== errno.EINTR) return { kind: 'failed', errno: res.errno };
  }
}

/**
 * SIGKILL a child and wait until it is gone (a traced one may stop once more
 * on the way out). A delivered SIGKILL is waited for at once, without
 * polling: every helper a probe starts pays this wait. A refused one (a
 * seccomp filter on this process) is waited for only `refusedTimeoutMs`, so
 * it cannot hang the caller. Gone also when it was reaped already (ECHILD).
 */
export function killAndWait(
  pid: number,
  refusedTimeoutMs: number,
): { gone: true } | { gone: false; killErrno: number } {
  const killed = kill(pid, SIGKILL);
  for (;;) {
    const state = killed.ret === 0 ? waitBlocking(pid, __WALL) : waitWithDeadline(pid, __WALL, refusedTimeoutMs);
    if (state.kind === 'timeout') return { gone: false, killErrno: killed.errno };
    if (state.kind !== 'stopped') return { gone: true };
  }
}

/** The numeric address of a Buffer's memory, for calls that take addresses as integers. */
export function addressOf(buf: Buffer): bigint {
  return koffi().address(buf) as bigint;
}

const rawMemset = libcFunction('unsigned long memset(unsigned long dst, int c, unsigned long n)');

/** memset(3) on memory the caller mapped, by address: write `len` bytes of `value` at `addr`. */
export function memset(addr: number, value: number, len: number): void {
  rawMemset(addr, value, len);
}

// The raw ptrace system call with fixed prototypes: a probe makes hundreds of
// requests, and koffi's variadic calls cost several times a fixed one.
// syscall() takes every argument in an integer register on x86-64 and never
// reads %al, so calling it through a fixed prototype is sound.
const ptraceRawPointer = libcFunction('long syscall(long nr, long request, long pid, uint64_t addr, void *data)');
const ptraceRawValue = libcFunction('long syscall(long nr, long request, long pid, uint64_t addr, uint64_t data)');

/** ptrace(2) as the kernel has it (PEEK requests store the word at `data`, a buffer's address or a number). */
export function ptrace(
  request: number,
  pid: number,
  addr: number | bigint,
  data: Buffer | number | bigint | null,
): SysResult {
  const address = BigInt.asUintN(64, BigInt(addr));
  clearErrno();
  const raw =
    data === null || Buffer.isBuffer(data)
      ? ptraceRawPointer(SYS.ptrace, request, pid, address, data)
      : ptraceRawValue(SYS.ptrace, request, pid, address, BigInt.asUintN(64, BigInt(data)));
  const ret = Number(raw);
  return { ret, errno: ret < 0 ? lastErrno() : 0 };
}
