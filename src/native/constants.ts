// The x86-64 Linux ABI the probes use, named as in the kernel's headers and
// grouped by the header each comes from: numbers, flags and struct layouts.
// Errno values come from Node (os.constants.errno). This is the only module
// of ABI constants; nothing else in native/ or probes/ carries a bare number
// of the kernel's.
import { constants } from 'node:os';

// ---------------------------------------------------------------- <asm-generic/errno.h>, <linux/err.h>

export const errno = constants.errno;
/** EBADFD, which Node's table leaves out: tun answers it for an ioctl it does not know on a detached file. */
export const EBADFD = 77;
/** Errors come back from a system call as -4095..-1. */
export const MAX_ERRNO = 4095;

// ---------------------------------------------------------------- C types on x86-64

/** sizeof(int): socket options and ioctl arguments of one int. */
export const INT_SIZE = 4;
/** sizeof(void *): an address the kernel writes back to the caller. */
export const POINTER_SIZE = 8;

// ---------------------------------------------------------------- <asm/unistd_64.h>
// (arch/x86/entry/syscalls/syscall_64.tbl)

/** x86-64 system call numbers: for syscall() here and for code run inside a tracee. */
export const SYS = {
  fstat: 5,
  mmap: 9,
  mprotect: 10,
  munmap: 11,
  brk: 12,
  rt_sigaction: 13,
  rt_sigprocmask: 14,
  rt_sigreturn: 15,
  ioctl: 16,
  mremap: 25,
  madvise: 28,
  getpid: 39,
  fsync: 74,
  socket: 41,
  setsockopt: 54,
  getsockopt: 55,
  clone: 56,
  execve: 59,
  exit: 60,
  kill: 62,
  ptrace: 101,
  getppid: 110,
  capget: 125,
  capset: 126,
  rt_sigqueueinfo: 129,
  pivot_root: 155,
  prctl: 157,
  arch_prctl: 158,
  adjtimex: 159,
  chroot: 161,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  sethostname: 170,
  setdomainname: 171,
  iopl: 172,
  ioperm: 173,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  io_setup: 206,
  io_destroy: 207,
  io_getevents: 208,
  clock_settime: 227,
  exit_group: 231,
  epoll_ctl: 233,
  tgkill: 234,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  inotify_add_watch: 254,
  openat: 257,
  mkdirat: 258,
  unshare: 272,
  vmsplice: 278,
  timerfd_create: 283,
  signalfd4: 289,
  eventfd2: 290,
  epoll_create1: 291,
  pipe2: 293,
  inotify_init1: 294,
  perf_event_open: 298,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  seccomp: 317,
  memfd_create: 319,
  kexec_file_load: 320,
  bpf: 321,
  execveat: 322,
  userfaultfd: 323,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  pidfd_open: 434,
  clone3: 435,
  openat2: 437,
  pidfd_getfd: 438,
  mount_setattr: 442,
} as const;

// ---------------------------------------------------------------- <asm/unistd_32.h> (syscall_32.tbl), the i386 ABI

/** i386 system call numbers, for int 0x80. */
export const SYS32 = {
  mmap2: 192,
} as const;
/** An i386 system call's arguments and result are the low 32 bits of a register. */
export const I386_WORD_BITS = 32n;
export const I386_WORD_MASK = 0xffffffffn;
/** 2^32: a 32-bit result above I386_WORD_RANGE - MAX_ERRNO - 1 is a negative errno. */
export const I386_WORD_RANGE = 0x100000000n;
/** -1 as a 32-bit argument (the fd of an anonymous mmap2). */
export const I386_MINUS_ONE = 0xffffffffn;

// ---------------------------------------------------------------- <asm-generic/fcntl.h>, <linux/fcntl.h>

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_NOCTTY = 0o400;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const F_SETFD = 2;
export const F_SETFL = 4;
export const F_GETOWNER_UIDS = 17;
/** F_GETOWNER_UIDS writes two uid_t: the owner's real and effective uid. */
export const F_OWNER_UIDS_SIZE = 8;
/** openat2(2) and move_mount(2) take a directory fd; AT_FDCWD is the current directory. */
export const AT_FDCWD = -100;

// ---------------------------------------------------------------- <asm/stat.h> (x86-64)

/** struct stat as fstat(2) fills it: its size, and where st_dev and st_ino sit (both 64-bit). */
export const STAT_SIZE = 144;
export const STAT_DEV_OFFSET = 0;
export const STAT_INO_OFFSET = 8;

// ---------------------------------------------------------------- <spawn.h> (glibc)

/** posix_spawnattr_setflags: start the child in a session of its own. */
export const POSIX_SPAWN_SETSID = 0x80;

// ---------------------------------------------------------------- <asm-generic/mman-common.h>, <asm-generic/mman.h>,
// <linux/mman.h>

export const PAGE_SIZE = 4096;
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
/** mmap's MAP_FAILED, as the number our binding returns. */
export const MAP_FAILED = -1;
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
/** madvise(2): turn a range into guard pages (6.13+). */
export const MADV_GUARD_INSTALL = 102;

// ---------------------------------------------------------------- <linux/memfd.h>

/** memfd_create(2) flag asking for hugetlbfs backing. */
export const MFD_HUGETLB = 4;

// ---------------------------------------------------------------- <linux/socket.h>, <linux/net.h>,
// <asm-generic/socket.h>

export const AF_UNSPEC = 0;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_LINGER = 13;
/** SO_RCVTIMEO takes a struct timeval. */
export const SO_RCVTIMEO = 20;
export const SO_BINDTODEVICE = 25;
export const SO_GET_FILTER = 26;
export const SO_PEEK_OFF = 42;
export const SO_BUF_LOCK = 72;
/** recv flag: return the real length of a datagram even when it did not fit. */
export const MSG_TRUNC = 0x20;
export const SHUT_WR = 1;
/** struct linger { int l_onoff; int l_linger; }. */
export const LINGER_SIZE = 8;
/** struct timeval: two 64-bit fields. */
export const TIMEVAL_SIZE = 16;

// ---------------------------------------------------------------- <linux/in.h>, <linux/in6.h>, <linux/tcp.h>

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_UDPLITE = 136;
export const IPPROTO_RAW = 255;
export const SOL_TCP = 6;
export const SOL_IPV6 = 41;
export const IPV6_FREEBIND = 78;
export const TCP_REPAIR = 19;
export const TCP_TIMESTAMP = 24;
export const TCP_REPAIR_WINDOW = 29;
/** struct tcp_repair_window: five u32; getsockopt insists on the exact size. */
export const TCP_REPAIR_WINDOW_SIZE = 20;
/** struct sockaddr_in and struct sockaddr_in6. */
export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
export const INADDR_LOOPBACK = 0x7f000001;

// ---------------------------------------------------------------- <net/tcp_states.h>

export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
export const TCP_FIN_WAIT1 = 4;
export const TCP_FIN_WAIT2 = 5;
export const TCP_CLOSE_WAIT = 8;
export const TCP_LAST_ACK = 9;
export const TCP_LISTEN = 10;
export const TCP_CLOSING = 11;

// ---------------------------------------------------------------- <linux/if.h>, <linux/sockios.h>, <linux/if_tun.h>

/** Interface names are at most 16 bytes. */
export const IFNAMSIZ = 16;
/**
 * struct ifreq. The socket ioctls get one even where they ignore it: a kernel
 * that does not know the request copies an ifreq in before it says ENOTTY,
 * and would say EFAULT for a NULL one.
 */
export const IFREQ_SIZE = 40;
/** The network namespace of a socket (4.9+). */
export const SIOCGSKNS = 0x894c;
/** The file of a bound unix socket (4.10+): SIOCPROTOPRIVATE + 0. */
export const SIOCUNIXFILE = 0x89e0;
/** TUNSETIFINDEX = _IOW('T', 218, unsigned int). */
export const TUNSETIFINDEX = 0x400454da;

// ---------------------------------------------------------------- <linux/netlink.h>

export const NETLINK_ROUTE = 0;
export const NETLINK_SOCK_DIAG = 4;
/** nfnetlink, which nftables talks (CONFIG_NETFILTER_NETLINK). */
export const NETLINK_NETFILTER = 12;
/** struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32. */
export const NLMSG_HDRLEN = 16;
/** Netlink messages and attributes are aligned to 4 bytes. */
export const NL_ALIGNTO = 4;
/** struct rtattr / struct nlattr: len u16, type u16. */
export const RTA_HDRLEN = 4;
/** The top bits of an attribute's type are flags (nested, byte order). */
export const NLA_TYPE_MASK = 0x3fff;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
const NLM_F_ROOT = 0x100;
const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

// ---------------------------------------------------------------- <linux/rtnetlink.h>, <linux/if_link.h>,
// <linux/veth.h>, <linux/net_namespace.h>

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWNSID = 88;
export const RTM_GETNSID = 90;
/** struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32. */
export const IFINFOMSG_SIZE = 16;
/** struct rtgenmsg: family u8 (aligned to 4 in a message). */
export const RTGENMSG_SIZE = 1;
export const IFLA_IFNAME = 3;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_NEW_IFINDEX = 49;
/** Inside IFLA_LINKINFO. */
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
/** Inside a veth's IFLA_INFO_DATA: the peer's ifinfomsg followed by its attributes. */
export const VETH_INFO_PEER = 1;
export const NETNSA_NSID = 1;
export const NETNSA_PID = 2;

// ---------------------------------------------------------------- <linux/sock_diag.h>, <linux/inet_diag.h>,
// <linux/unix_diag.h>, <linux/packet_diag.h>, <linux/netlink_diag.h>

export const SOCK_DIAG_BY_FAMILY = 20;
export const UNIX_DIAG_REQ_SIZE = 24;
export const INET_DIAG_REQ_V2_SIZE = 56;
export const PACKET_DIAG_REQ_SIZE = 20;
export const NETLINK_DIAG_REQ_SIZE = 20;
/** struct inet_diag_msg: idiag_inode sits after family..retrans (4), id (48), expires, rqueue, wqueue, uid. */
export const INET_DIAG_MSG_INODE_OFFSET = 68;
export const INET_DIAG_MSG_SIZE = 72;
export const UDIAG_SHOW_NAME = 0x1;
export const UDIAG_SHOW_VFS = 0x2;
export const UDIAG_SHOW_PEER = 0x4;
export const UDIAG_SHOW_ICONS = 0x8;
export const UDIAG_SHOW_RQLEN = 0x10;
export const PACKET_SHOW_INFO = 0x1;
export const PACKET_SHOW_MCLIST = 0x2;
export const PACKET_SHOW_RING_CFG = 0x4;
export const PACKET_SHOW_FANOUT = 0x8;
/** netlink_diag_req: every protocol, with its groups. */
export const NDIAG_PROTO_ALL = 0xff;
export const NDIAG_SHOW_GROUPS = 0x4;
/** idiag_states / udiag_states: every state. */
export const ALL_STATES = 0xffffffff;

// ---------------------------------------------------------------- <linux/prctl.h>, <asm/prctl.h>

export const PR_SET_PDEATHSIG = 1;
export const PR_SET_MM = 35;
export const PR_SET_CHILD_SUBREAPER = 36;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_CAPBSET_DROP = 24;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
export const PR_GET_TID_ADDRESS = 40;
export const PR_SET_MM_BRK = 7;
export const PR_SET_MM_AUXV = 12;
export const PR_SET_MM_EXE_FILE = 13;
export const PR_SET_MM_MAP_SIZE = 15;
/** PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17) and its GET operation. */
export const PR_TIMER_CREATE_RESTORE_IDS = 77;
export const PR_TIMER_CREATE_RESTORE_IDS_GET = 2;
/** arch_prctl(2): map the 32-bit vDSO (CONFIG_IA32_EMULATION). */
export const ARCH_MAP_VDSO_32 = 0x2002;

// ---------------------------------------------------------------- <linux/uio.h>, <linux/splice.h>

/** struct iovec: a pointer and a length. */
export const IOVEC_SIZE = 16;
export const IOVEC_BASE_OFFSET = 0;
export const IOVEC_LEN_OFFSET = 8;
export const SPLICE_F_NONBLOCK = 2;
export const SPLICE_F_GIFT = 8;

// ---------------------------------------------------------------- <asm-generic/ioctls.h>

export const TIOCSPTLCK = 0x40045431;
export const TIOCGPTN = 0x80045430;

// ---------------------------------------------------------------- <linux/time.h>, <linux/timerfd.h>

export const CLOCK_MONOTONIC = 1;
/** TFD_IOC_SET_TICKS = _IOW('T', 0, u64). */
export const TFD_IOC_SET_TICKS = 0x40085400;

// ---------------------------------------------------------------- <linux/eventpoll.h>, <linux/inotify.h>

export const EPOLL_CTL_ADD = 1;
export const EPOLLIN = 1;
/** struct epoll_event is packed on x86-64. */
export const EPOLL_EVENT_SIZE = 12;
export const IN_ALL_EVENTS = 0xfff;

// ---------------------------------------------------------------- <asm-generic/fcntl.h> flock(2)

export const LOCK_SH = 1;
/** Do not wait for a lock someone else holds. */
export const LOCK_NB = 4;

// ---------------------------------------------------------------- <linux/kcmp.h>

export const KCMP_EPOLL_TFD = 7;
/** struct kcmp_epoll_slot { u32 efd, tfd, toff }. */
export const KCMP_EPOLL_SLOT_SIZE = 12;
export const KCMP_EPOLL_SLOT_EFD_OFFSET = 0;
export const KCMP_EPOLL_SLOT_TFD_OFFSET = 4;

// ---------------------------------------------------------------- <linux/sched.h>

export const CLONE_PARENT = 0x00008000;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWCGROUP = 0x02000000;
/**
 * struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1): ten u64
 * fields. A kernel that knows only VER0 (64 bytes) refuses it with E2BIG.
 */
export const CLONE_ARGS_SIZE_VER1 = 80;
export const CLONE_ARGS_SET_TID_OFFSET = 64;
export const CLONE_ARGS_SET_TID_SIZE_OFFSET = 72;

// ---------------------------------------------------------------- <linux/wait.h>

export const WNOHANG = 1;
export const __WALL = 0x40000000;

// ---------------------------------------------------------------- <asm/signal.h>, <asm-generic/siginfo.h>

export const SIGTRAP = 5;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGSEGV = 11;
/** Used for self-signalling: its default is to ignore it, and Node does not handle it. */
export const SIGURG = 23;
/** What a seccomp filter's SECCOMP_RET_TRAP (or KILL_PROCESS, as seen in the wait status) delivers. */
export const SIGSYS = 31;
export const SIGSET_SIZE = 8;
/** The bit of `signal` in the first word of a sigset_t (the kernel's sigmask()). */
export function sigmask(signal: number): number {
  return 1 << (signal - 1);
}
export const SIG_SETMASK = 2;
/** The kernel's struct sigaction: handler, flags, restorer, mask (8 bytes each). */
export const KERNEL_SIGACTION_SIZE = 32;
export const KERNEL_SIGACTION_HANDLER_OFFSET = 0;
export const KERNEL_SIGACTION_FLAGS_OFFSET = 8;
export const KERNEL_SIGACTION_RESTORER_OFFSET = 16;
export const SA_RESTORER = 0x04000000;
/** siginfo_t is 128 bytes: si_signo at offset 0, si_code at 8. */
export const SIGINFO_SIZE = 128;
export const SIGINFO_SIGNO_OFFSET = 0;
export const SIGINFO_CODE_OFFSET = 8;
/** si_code of a SIGTRAP raised by a hardware breakpoint. */
export const TRAP_HWBKPT = 4;

// ---------------------------------------------------------------- <linux/ptrace.h>, <asm/ptrace-abi.h>

export const PTRACE_PEEKDATA = 2;
export const PTRACE_POKEDATA = 5;
export const PTRACE_POKEUSER = 6;
export const PTRACE_CONT = 7;
export const PTRACE_GETREGS = 12;
export const PTRACE_SETREGS = 13;
export const PTRACE_SETOPTIONS = 0x4200;
export const PTRACE_GETSIGINFO = 0x4202;
export const PTRACE_SEIZE = 0x4206;
export const PTRACE_INTERRUPT = 0x4207;
export const PTRACE_PEEKSIGINFO = 0x4209;
export const PTRACE_GETSIGMASK = 0x420a;
export const PTRACE_SECCOMP_GET_FILTER = 0x420c;
export const PTRACE_GET_RSEQ_CONFIGURATION = 0x420f;
export const PTRACE_O_EXITKILL = 0x100000;
export const PTRACE_O_SUSPEND_SECCOMP = 0x200000;
/** The event in bits 16..23 of a wait status after PTRACE_INTERRUPT. */
export const PTRACE_EVENT_STOP = 128;
/** struct ptrace_peeksiginfo_args: u64 off, u32 flags, s32 nr. */
export const PEEKSIGINFO_ARGS_SIZE = 16;
export const PEEKSIGINFO_OFF_OFFSET = 0;
export const PEEKSIGINFO_FLAGS_OFFSET = 8;
export const PEEKSIGINFO_NR_OFFSET = 12;
/** struct ptrace_rseq_configuration: u64 pointer, u32 size, u32 signature, u32 flags, u32 pad. */
export const RSEQ_CONFIGURATION_SIZE = 24;
export const RSEQ_CONF_SIZE_OFFSET = 8;
export const RSEQ_CONF_SIGNATURE_OFFSET = 12;
export const RSEQ_CONF_FLAGS_OFFSET = 16;

// ---------------------------------------------------------------- <sys/user.h>, <asm/debugreg.h>, the x86-64 calling
// conventions

/** The 27 fields of struct user_regs_struct, in order, 8 bytes each. */
export const REGISTER_NAMES = [
  'r15',
  'r14',
  'r13',
  'r12',
  'rbp',
  'rbx',
  'r11',
  'r10',
  'r9',
  'r8',
  'rax',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'orig_rax',
  'rip',
  'cs',
  'eflags',
  'rsp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const;
export type RegisterName = (typeof REGISTER_NAMES)[number];
export const USER_REGS_SIZE = REGISTER_NAMES.length * 8;
/** Registers that carry a system call's arguments, by ABI (syscall, int 0x80). */
export const SYSCALL64_ARG_REGISTERS: readonly RegisterName[] = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'];
export const INT80_ARG_REGISTERS: readonly RegisterName[] = ['rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp'];
/**
 * offsetof(struct user, u_debugreg): regs (216), u_fpvalid + pad (8),
 * i387 (512), u_tsize/u_dsize/u_ssize (24), start_code/start_stack (16),
 * signal (8), reserved + pad (8), u_ar0 (8), u_fpstate (8), magic (8), u_comm (32).
 */
export const USER_DEBUGREG_OFFSET = 848;
/** Each u_debugreg slot is one u64. */
export const USER_DEBUGREG_SIZE = 8;
export const DR_FIRSTADDR = 0;
export const DR_CONTROL = 7;
/** DR7: local enable of breakpoint 0; its R/W and LEN bits left 0 = break on instruction execution. */
export const DR7_LOCAL_ENABLE_DR0 = 1;

// ---------------------------------------------------------------- <linux/seccomp.h>, <linux/filter.h>,
// <linux/bpf_common.h>

export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ERRNO = 0x00050000;
/** Apply a filter to every thread of the process, not only the calling one. */
export const SECCOMP_FILTER_FLAG_TSYNC = 1;
/** A seccomp filter's answer that sends SIGSYS. */
export const SECCOMP_RET_TRAP = 0x00030000;
/** offsetof(struct seccomp_data, nr). */
export const SECCOMP_DATA_NR_OFFSET = 0;
/** offsetof(struct seccomp_data, arch). */
export const SECCOMP_DATA_ARCH_OFFSET = 4;
/** offsetof(struct seccomp_data, args[i]): the low 32 bits of argument i. */
export const seccompArgOffset = (index: number): number => 16 + 8 * index;
/** <linux/audit.h>: the arch a seccomp filter sees for x86-64 system calls. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** System call numbers from here up are the x32 ABI's. */
export const X32_SYSCALL_BIT = 0x40000000;
export const BPF_JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
export const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
export const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
export const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
export const BPF_RET_K = 0x06; // BPF_RET | BPF_K
/** struct sock_filter: u16 code, u8 jt, u8 jf, u32 k. struct sock_fprog: u16 len, pad, pointer. */
export const SOCK_FILTER_SIZE = 8;
export const SOCK_FILTER_CODE_OFFSET = 0;
export const SOCK_FILTER_JT_OFFSET = 2;
export const SOCK_FILTER_JF_OFFSET = 3;
export const SOCK_FILTER_K_OFFSET = 4;
export const SOCK_FPROG_SIZE = 16;
export const SOCK_FPROG_LEN_OFFSET = 0;
export const SOCK_FPROG_FILTER_OFFSET = 8;

// ---------------------------------------------------------------- <linux/mount.h>

export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SHARED = 0x100000;
/** move_mount(2): make the target join the source's peer group instead of moving it. */
export const MOVE_MOUNT_SET_GROUP = 0x100;

// ---------------------------------------------------------------- <linux/capability.h>

export const CAP_SETPCAP = 8;
/** <linux/capability.h>: capget/capset with two 32-bit words per set. */
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
/** struct __user_cap_header_struct: u32 version, s32 pid. */
export const CAP_HEADER_SIZE = 8;
/** struct __user_cap_data_struct[2]: { u32 effective, permitted, inheritable } twice. */
export const CAP_DATA_SIZE = 24;
export const CAP_DATA_WORD_SIZE = 12;
export const CAP_DATA_INHERITABLE_OFFSET = 8;
/** setns() back into a mount namespace needs it, beside CAP_SYS_ADMIN. */
export const CAP_SYS_CHROOT = 18;
export const CAP_SYS_ADMIN = 21;

// ---------------------------------------------------------------- <linux/fs.h> PAGEMAP_SCAN, and /proc/PID/pagemap
// (admin-guide/mm/pagemap.rst)

/** ioctl(PAGEMAP_SCAN) = _IOWR('f', 16, struct pm_scan_arg). */
export const PAGEMAP_SCAN = 0xc0606610;
/** struct pm_scan_arg: twelve u64 fields. */
export const PM_SCAN_ARG_SIZE = 96;
/** struct page_region: start, end, categories (three u64). */
export const PAGE_REGION_SIZE = 24;
export const PAGE_IS_PRESENT = 1n << 3n;
export const PAGE_IS_GUARD = 1n << 8n;
/** /proc/PID/pagemap: one u64 per page; bit 55 is soft-dirty. */
export const PAGEMAP_ENTRY_SIZE = 8;
export const PM_SOFT_DIRTY = 1n << 55n;
/** What /proc/PID/clear_refs takes to clear the soft-dirty bits. */
export const CLEAR_REFS_SOFT_DIRTY = '4';

// ---------------------------------------------------------------- <linux/userfaultfd.h>

export const UFFDIO_API = 0xc018aa3f;
export const UFFD_API = 0xaan;
/** struct uffdio_api: api, features, ioctls (three u64). */
export const UFFDIO_API_SIZE = 24;
export const UFFDIO_API_API_OFFSET = 0;
export const UFFDIO_API_FEATURES_OFFSET = 8;
export const UFFD_FEATURE_EVENT_FORK = 1n << 1n;
export const UFFD_FEATURE_EVENT_REMAP = 1n << 2n;
export const UFFD_FEATURE_EVENT_REMOVE = 1n << 3n;
export const UFFD_FEATURE_EVENT_UNMAP = 1n << 6n;

// ---------------------------------------------------------------- <linux/aio_abi.h>

/** aio_context_t: the unsigned long io_setup writes the context id (its ring's address) to. */
export const AIO_CONTEXT_SIZE = 8;

// ---------------------------------------------------------------- <sys/sysmacros.h> (glibc's dev_t)

/**
 * glibc's dev_t encoding (what stat() returns, gnu_dev_major/gnu_dev_minor):
 * minor bits 0-7, major bits 8-19, the rest of the minor from bit 20, the
 * rest of the major from bit 44.
 */
const DEV_MAJOR_LOW_SHIFT = 8n;
const DEV_MAJOR_LOW_MASK = 0xfffn;
const DEV_MAJOR_HIGH_SHIFT = 32n;
const DEV_MINOR_LOW_MASK = 0xffn;
const DEV_MINOR_HIGH_SHIFT = 12n;
/**
 * The minor's high bits: 32 bits of (dev >> 12) above the low byte, as glibc's gnu_dev_minor (not the major's bits
 * above them).
 */
const DEV_MINOR_HIGH_MASK = 0xffffff00n;

/** Major and minor of a dev_t as stat() returns it. */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major =
    ((dev >> DEV_MAJOR_LOW_SHIFT) & DEV_MAJOR_LOW_MASK) | ((dev >> DEV_MAJOR_HIGH_SHIFT) & ~DEV_MAJOR_LOW_MASK);
  const minor = (dev & DEV_MINOR_LOW_MASK) | ((dev >> DEV_MINOR_HIGH_SHIFT) & DEV_MINOR_HIGH_MASK);
  return { major: Number(major), minor: Number(minor) };
}

// ---------------------------------------------------------------- <linux/capability.h>

/** Every capability by name, for telling whether a privilege a check needs is held. */
export const CAPABILITIES: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};
