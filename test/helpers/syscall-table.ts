// x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl) of
// every call the project issues: the native bindings' own, those libc makes
// for the functions libc.ts binds, and those Node and libuv need to start,
// read and write, spawn and wait. For the seccomp sweep.
export const SYSCALL_NUMBERS: Readonly<Record<string, number>> = {
  read: 0, write: 1, open: 2, close: 3, stat: 4, fstat: 5, lstat: 6, poll: 7, lseek: 8, mmap: 9, mprotect: 10,
  munmap: 11, brk: 12, rt_sigaction: 13, rt_sigprocmask: 14, rt_sigreturn: 15, ioctl: 16, pread64: 17,
  pwrite64: 18, readv: 19, writev: 20, access: 21, pipe: 22, sched_yield: 24, mremap: 25, mincore: 27,
  madvise: 28, dup: 32, dup2: 33, getpid: 39, socket: 41, connect: 42, accept: 43, sendto: 44, recvfrom: 45,
  sendmsg: 46, recvmsg: 47, shutdown: 48, bind: 49, listen: 50, getsockname: 51, socketpair: 53,
  setsockopt: 54, getsockopt: 55, clone: 56, execve: 59, exit: 60, wait4: 61, kill: 62, uname: 63, fcntl: 72,
  flock: 73, fsync: 74, fdatasync: 75, getcwd: 79, fchdir: 81, readlink: 89, umask: 95, getuid: 102,
  geteuid: 107, getppid: 110, setsid: 112, getpgid: 121, capget: 125, rt_sigqueueinfo: 129, sigaltstack: 131,
  ptrace: 101, prctl: 157, arch_prctl: 158, chroot: 161, mount: 165, umount2: 166, gettid: 186, futex: 202,
  sched_getaffinity: 204, io_setup: 206, io_destroy: 207, io_getevents: 208, getdents64: 217,
  exit_group: 231, epoll_wait: 232, epoll_ctl: 233, tgkill: 234, inotify_add_watch: 254, openat: 257,
  mkdirat: 258, newfstatat: 262, unlinkat: 263, pselect6: 270, ppoll: 271, unshare: 272, set_robust_list: 273,
  vmsplice: 278, epoll_pwait: 281, timerfd_create: 283, accept4: 288, signalfd4: 289, eventfd2: 290,
  epoll_create1: 291, dup3: 292, pipe2: 293, inotify_init1: 294, prlimit64: 302, setns: 308, kcmp: 312,
  seccomp: 317, getrandom: 318, memfd_create: 319, userfaultfd: 323, statx: 332, rseq: 334, io_uring_setup: 425,
  move_mount: 429, pidfd_open: 434, clone3: 435, close_range: 436, openat2: 437, pidfd_getfd: 438,
  faccessat2: 439,
};

/** The system calls glibc makes for each function libc.ts binds ([] for those that make none of their own). */
export const LIBC_SYSCALLS: Readonly<Record<string, readonly string[]>> = {
  syscall: [], memset: [],
  open: ['openat'], close: ['close'], read: ['read'], write: ['write'], pipe2: ['pipe2'], socket: ['socket'],
  socketpair: ['socketpair'], bind: ['bind'], listen: ['listen'], accept: ['accept'], connect: ['connect'],
  shutdown: ['shutdown'], getsockname: ['getsockname'], send: ['sendto'], recv: ['recvfrom'],
  getsockopt: ['getsockopt'], setsockopt: ['setsockopt'], ioctl: ['ioctl'], fcntl: ['fcntl'], flock: ['flock'],
  waitpid: ['wait4'], kill: ['kill'], getpid: ['getpid'], unshare: ['unshare'], setns: ['setns'],
  mount: ['mount'], mmap: ['mmap'], munmap: ['munmap'], fchdir: ['fchdir'], chroot: ['chroot'],
  getpgrp: ['getpgid'],
  // posix_spawn: clone (clone3 first on newer glibc), then execve in the child, which the sweep cannot refuse.
  posix_spawn: ['clone', 'clone3'],
  posix_spawn_file_actions_init: [], posix_spawn_file_actions_addopen: [], posix_spawn_file_actions_adddup2: [],
  posix_spawn_file_actions_addchdir_np: [], posix_spawn_file_actions_destroy: [], posix_spawnattr_init: [],
  posix_spawnattr_setflags: [], posix_spawnattr_destroy: [],
};

/** What Node and libuv call to start, load modules, talk to the runner, spawn it and wait for it. */
export const RUNTIME_SYSCALLS: readonly string[] = [
  'read', 'write', 'openat', 'close', 'fstat', 'newfstatat', 'statx', 'lseek', 'pread64', 'pwrite64', 'readv',
  'writev', 'mmap', 'mprotect', 'munmap', 'brk', 'madvise', 'mremap', 'rt_sigaction', 'rt_sigprocmask', 'futex',
  'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'eventfd2', 'pipe2', 'dup2', 'dup3', 'socketpair',
  'clone', 'clone3', 'wait4', 'fsync', 'fdatasync', 'getrandom', 'sendmsg', 'recvmsg', 'sendto', 'recvfrom',
  'pselect6', 'ppoll', 'poll', 'getcwd', 'readlink', 'uname', 'getpid', 'gettid', 'getppid', 'getuid', 'geteuid',
  'prlimit64', 'sched_getaffinity', 'sched_yield', 'ioctl', 'fcntl', 'capget', 'setsid', 'kill', 'tgkill', 'rseq',
  'set_robust_list', 'sigaltstack', 'getdents64', 'mkdirat', 'unlinkat', 'access', 'faccessat2', 'umask',
  'close_range', 'io_uring_setup', 'mincore', 'dup', 'pipe', 'stat', 'lstat', 'open', 'accept4',
];

/**
 * Calls the sweep does not refuse: the launcher's own execve, and the calls
 * that end a process or return from a signal handler (refused, no process
 * could end; that is not a confinement anyone runs under).
 */
export const NOT_SWEPT: readonly string[] = ['execve', 'exit', 'exit_group', 'rt_sigreturn'];
