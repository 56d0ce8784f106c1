// x86-64 Linux constants used by the probes, named as in the kernel headers.
// Errno values come from Node (os.constants.errno); everything else is here,
// so no probe carries a bare number.
import { constants } from 'node:os';

export const errno = constants.errno;
/** EBADFD (x86-64), which Node's table leaves out: tun answers it for an ioctl it does not know on a detached file. */
export const EBADFD = 77;
/** sizeof(int): socket options and ioctl arguments of one int. */
export const INT_SIZE = 4;
/** sizeof(void *) on x86-64: an address the kernel writes back to the caller. */
export const POINTER_SIZE = 8;

/** System call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
export const SYS = {
  brk: 12,
  mremap: 25,
  epoll_ctl: 233,
  inotify_add_watch: 254,
  signalfd4: 289,
  eventfd2: 290,
  epoll_create1: 291,
  inotify_init1: 294,
  vmsplice: 278,
  rt_sigqueueinfo: 129,
  prctl: 157,
  arch_prctl: 158,
  io_setup: 206,
  io_getevents: 208,
  timerfd_create: 283,
  kcmp: 312,
  memfd_create: 319,
  userfaultfd: 323,
  move_mount: 429,
  pidfd_open: 434,
  clone3: 435,
  openat2: 437,
  pidfd_getfd: 438,
} as const;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_NOCTTY = 0o400;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const W_OK = 2;
export const R_OK = 4;

/** Memory mappings (mmap, mprotect, mremap). */
export const PAGE_SIZE = 4096;
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;

/** Socket families, types and levels. */
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_UDPLITE = 136;
export const IPPROTO_RAW = 255;
export const SOL_SOCKET = 1;
export const SOL_TCP = 6;
export const SOL_IPV6 = 41;
export const SO_BINDTODEVICE = 25;
export const SO_GET_FILTER = 26;
export const SO_PEEK_OFF = 42;
export const SO_BUF_LOCK = 72;
export const TCP_REPAIR = 19;
export const TCP_TIMESTAMP = 24;
export const TCP_REPAIR_WINDOW = 29;
export const IPV6_FREEBIND = 78;
export const SHUT_WR = 1;

/** Netlink. */
export const NETLINK_ROUTE = 0;
export const NETLINK_SOCK_DIAG = 4;
/** nfnetlink, which nftables talks (CONFIG_NETFILTER_NETLINK). */
export const NETLINK_NETFILTER = 12;
export const SOCK_DIAG_BY_FAMILY = 20;

/** prctl(2). */
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_MM = 35;
export const PR_SET_CHILD_SUBREAPER = 36;
export const PR_GET_TID_ADDRESS = 40;
export const PR_SET_MM_BRK = 7;
export const PR_SET_MM_AUXV = 12;
export const PR_SET_MM_EXE_FILE = 13;
export const PR_SET_MM_MAP_SIZE = 15;

/** fcntl(2). */
export const F_SETFL = 4;
export const F_GETOWNER_UIDS = 17;
/** F_GETOWNER_UIDS writes two uid_t: the owner's real and effective uid. */
export const F_OWNER_UIDS_SIZE = 8;

/** struct iovec: a pointer and a length. */
export const IOVEC_SIZE = 16;
export const IOVEC_BASE_OFFSET = 0;
export const IOVEC_LEN_OFFSET = 8;

/** vmsplice(2) flags. */
export const SPLICE_F_NONBLOCK = 2;
export const SPLICE_F_GIFT = 8;

/** Interface names are at most 16 bytes. */
export const IFNAMSIZ = 16;

/** Terminals. */
export const TIOCSPTLCK = 0x40045431;
export const TIOCGPTN = 0x80045430;

/** ptrace(2). */
export const PTRACE_CONT = 7;
export const PTRACE_SETOPTIONS = 0x4200;
export const PTRACE_SEIZE = 0x4206;
export const PTRACE_INTERRUPT = 0x4207;
export const PTRACE_PEEKSIGINFO = 0x4209;
export const PTRACE_GETSIGMASK = 0x420a;
export const PTRACE_O_EXITKILL = 0x100000;

/** wait(2). */
export const WNOHANG = 1;
export const __WALL = 0x40000000;

/** Signals. SIGURG is used for self-signalling because its default is to ignore it and Node does not handle it. */
export const SIGURG = 23;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGTRAP = 5;

/** siginfo_t is 128 bytes; si_code sits at offset 8. */
export const SIGINFO_SIZE = 128;
export const SIGINFO_CODE_OFFSET = 8;

/** epoll and inotify. */
export const EPOLL_CTL_ADD = 1;
export const EPOLLIN = 1;
export const EPOLL_EVENT_SIZE = 12; // struct epoll_event is packed on x86-64
export const IN_ALL_EVENTS = 0xfff;
export const SIGSET_SIZE = 8;
/** The bit of `signal` in the first word of a sigset_t (the kernel's sigmask()). */
export function sigmask(signal: number): number {
  return 1 << (signal - 1);
}

/** flock(2). */
export const LOCK_SH = 1;
/** Do not wait for a lock someone else holds. */
export const LOCK_NB = 4;

/** kcmp(2) types. */
export const KCMP_FILE = 0;
export const KCMP_EPOLL_TFD = 7;

/** clone(2) / unshare(2) namespace flags. */
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_PARENT = 0x00008000;
