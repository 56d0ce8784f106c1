// The catalogue: one table of every check, as CRIU's feature_list[] put name
// and function side by side. The CLI, the routes, the metrics and the OpenAPI
// enums all read this table; nothing else lists features.
import type { Category, ProbeOutcome } from './model.js';
import * as proc from './probes/proc.js';
import * as sys from './probes/syscalls.js';
import * as sockets from './probes/sockets.js';
import * as ptrace from './probes/ptrace.js';
import * as netlink from './probes/netlink.js';
import * as memory from './probes/memory.js';
import * as mounts from './probes/mounts.js';
import * as namespaces from './probes/namespaces.js';
import * as netfilter from './probes/netfilter.js';
import * as lsm from './probes/lsm.js';
import { criuCanary } from './probes/runtime/canary.js';
import { criCheckpoint } from './probes/runtime/cri.js';
import { CRIU_PACKAGE_HINT, criuBinary, criuRuns, criuVersion, criuVersionAhead } from './probes/runtime/criu.js';
import { runtimeEnv, versionsAhead } from './probes/runtime/host.js';
import { kubeletCheckpoint } from './probes/runtime/kubelet.js';
import { CRUN_HINT, ociRuntime } from './probes/runtime/oci.js';
import { checkpointStorage } from './probes/runtime/storage.js';

/** A probe does the real kernel test, in the runner process. */
export type Probe = () => ProbeOutcome | Promise<ProbeOutcome>;

export interface Feature {
  /** CRIU's --feature name where it has one, else a name of the same kind. */
  name: string;
  category: Category;
  /** One line: what the kernel must do. */
  summary: string;
  /**
   * One sentence: what CRIU does with the feature when it dumps or restores (for the runtime rows, what the
   * checkpoint chain does), so a reader knows what breaks without it.
   */
  criuUses: string;
  /** Related kernel config options, cross-checked against the running kernel's config. */
  kconfig: readonly string[];
  /** What would make it supported (kernel version, config option, module, sysctl), as people read it. */
  hint: string;
  /** The first kernel release with the feature, where one is known ('5.6'); the hint says it. */
  minKernel?: string;
  /** Privileges the check needs; without them it answers unknown, never unsupported. */
  needs?: string;
  /** Where our verdict can differ from upstream CRIU's probe, and why. */
  differsFromCriu?: string;
  probe: Probe;
  /**
   * Starts, at the beginning of a run, the programs the probe will run
   * (program.ts startAhead), so that they run while the probes before it do.
   */
  ahead?: () => void;
  /**
   * Run before the other probes of a run, whatever order it asks for: the
   * probe's clean-up goes on after it in the background, and the runner
   * cannot exit before that ends, so it is best begun early. (The programs
   * of `ahead` start within the first probe's time, so this probe's.)
   */
  runsFirst?: boolean;
}

const CR = 'CONFIG_CHECKPOINT_RESTORE';

/** A row as written below: the hint is made from minKernel and fix. */
interface Row extends Omit<Feature, 'name' | 'category' | 'probe' | 'hint'> {
  /** What to enable, load, install or set, apart from the kernel version. */
  fix?: string;
}

/** The hint people read: "a kernel of X or later", then the rest of the fix. */
export function kernelHint(minKernel: string | undefined, fix: string | undefined): string {
  return [minKernel && `a kernel of ${minKernel} or later`, fix].filter(Boolean).join('; ');
}

/** One check: its name beside its probe, as in CRIU's feature_list[]. */
function row(name: string, category: Category, probe: Probe, { fix, ...fields }: Row): Feature {
  return { name, category, ...fields, hint: kernelHint(fields.minKernel, fix), probe };
}

export const CATALOGUE: readonly Feature[] = [
  // required: CRIU's category 1
  row('map_files', 'required', proc.mapFiles, {
    summary: '/proc/self/map_files is readable',
    criuUses:
      'On dump, CRIU opens every file-backed mapping through /proc/PID/map_files, which also reaches deleted files ' +
      'and memfds that have no path.',
    kconfig: [CR],
    fix: `enable ${CR}`,
  }),
  row('sock_diag', 'required', netlink.sockDiag, {
    summary: 'sock_diag netlink dumps UNIX, INET/INET6, PACKET and NETLINK sockets',
    criuUses:
      'On dump, CRIU lists the sockets of each network namespace through sock_diag to learn their addresses, ' +
      'peers, states and queues.',
    kconfig: [
      'CONFIG_UNIX_DIAG',
      'CONFIG_INET_DIAG',
      'CONFIG_INET_TCP_DIAG',
      'CONFIG_INET_UDP_DIAG',
      'CONFIG_PACKET_DIAG',
      'CONFIG_NETLINK_DIAG',
    ],
    fix: 'enable the *_DIAG options or load unix_diag, inet_diag, tcp_diag, udp_diag, packet_diag and netlink_diag',
    differsFromCriu:
      'criu check forgives every failed dump (collect_sockets excuses them in ' +
      "CRIU's own net namespace) and fails only when the diag socket cannot " +
      'be made; we require each dump a namespace dump needs to answer, ' +
      'forgiving ENOENT only for RAW, as collect_sockets does, and for a kind ' +
      'of socket the kernel lacks altogether (UDP-Lite, AF_PACKET): no ' +
      'process can hold one. We make an AF_PACKET socket first, which loads ' +
      'af_packet where it is a module; a dump alone does not',
  }),
  row('ns_last_pid', 'required', proc.nsLastPid, {
    summary: '/proc/sys/kernel/ns_last_pid is writable',
    criuUses:
      'On restore, CRIU writes each wanted pid minus one to ns_last_pid before forking, so processes keep their ' +
      'pids; clone3 replaces this on newer kernels.',
    kconfig: [CR],
    fix: `enable ${CR}; mount /proc/sys read-write (a privileged container)`,
    needs: 'CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, and a writable /proc/sys',
    differsFromCriu:
      'CRIU asks access(W_OK), which says yes to anyone because the file is ' +
      '0666 while the kernel checks the capability on write; we write the ' +
      'current value back',
  }),
  row('sock_peek_off', 'required', sockets.sockPeekOff, {
    summary: 'SO_PEEK_OFF on AF_UNIX datagram sockets',
    criuUses:
      "On dump, CRIU reads each unix socket's queued messages with MSG_PEEK, advancing SO_PEEK_OFF, so the queue " +
      'stays intact for the process.',
    kconfig: ['CONFIG_UNIX'],
    fix: 'a kernel with SO_PEEK_OFF for unix sockets (3.4+)',
  }),
  row('kcmp', 'required', sys.kcmp, {
    summary: 'the kcmp system call',
    criuUses:
      'On dump, CRIU asks kcmp whether processes share files, memory, file tables, fs, signal handlers and other ' +
      'objects, so shared ones are restored shared.',
    kconfig: ['CONFIG_KCMP', CR],
    fix: 'enable CONFIG_KCMP',
    differsFromCriu:
      'CRIU counts any error but ENOSYS as present; an EPERM or EACCES (a ' +
      'seccomp filter, an LSM) we answer unknown, and an ENOSYS under a ' +
      'seccomp filter too',
  }),
  row('prctl', 'required', sys.prctl, {
    summary: 'PR_GET_TID_ADDRESS and PR_SET_MM (map, or the older field-by-field interface)',
    criuUses:
      "On dump, the parasite reads each thread's clear_child_tid address with PR_GET_TID_ADDRESS; the restorer " +
      'falls back to field-by-field PR_SET_MM without PR_SET_MM_MAP.',
    kconfig: [CR],
    fix: `enable ${CR}`,
    needs: 'CAP_SYS_RESOURCE for the older interface',
  }),
  row('fcntl', 'required', proc.fcntl, {
    summary: 'fcntl F_GETOWNER_UIDS',
    criuUses:
      "On dump, the parasite reads the uid and euid of each descriptor's F_SETOWN owner with F_GETOWNER_UIDS, so " +
      'signal-driven I/O is restored with them.',
    kconfig: [CR],
    fix: `enable ${CR}`,
  }),
  row('proc_stat', 'required', proc.procStat, {
    summary: '/proc/self/stat has all the fields CRIU reads',
    criuUses:
      "On dump, CRIU reads each process's data, brk, argument and environment boundaries from /proc/PID/stat to " +
      'restore its memory layout.',
    kconfig: [],
    minKernel: '3.5',
  }),
  row('tcp_repair', 'required', sockets.tcpRepair, {
    summary: 'TCP_REPAIR mode and TCP_TIMESTAMP',
    criuUses:
      'With --tcp-established, CRIU puts each connection in TCP_REPAIR mode to read and restore its sequence ' +
      'numbers, queues, options and timestamp.',
    kconfig: [CR, 'CONFIG_INET'],
    fix: `enable ${CR}`,
    needs: 'CAP_NET_ADMIN',
  }),
  row('fdinfo_ext', 'required', proc.fdinfoExt, {
    summary: 'fdinfo shows eventfd, epoll, signalfd and inotify details',
    criuUses:
      'On dump, CRIU reads eventfd counters, epoll targets, signalfd masks and inotify watches from ' +
      '/proc/PID/fdinfo to re-create those descriptors.',
    kconfig: ['CONFIG_EVENTFD', 'CONFIG_EPOLL', 'CONFIG_SIGNALFD', 'CONFIG_INOTIFY_USER', CR],
    fix: `enable ${CR} and the eventfd, epoll, signalfd and inotify options`,
  }),
  row('unaligned_vmsplice', 'required', sys.unalignedVmsplice, {
    summary: 'vmsplice of unaligned buffers with SPLICE_F_GIFT',
    criuUses:
      'On dump, the parasite moves memory pages into pipes with vmsplice and SPLICE_F_GIFT; on restore, CRIU ' +
      'refills pipes from unaligned buffers the same way.',
    kconfig: [],
    minKernel: '3.10',
  }),
  row('tty', 'required', sys.tty, {
    summary: 'pty locking with TIOCSPTLCK',
    criuUses:
      'On restore, CRIU opens a new pty pair through /dev/ptmx, unlocking it with TIOCSPTLCK to connect the peer ' +
      'and locking it again where it was.',
    kconfig: ['CONFIG_UNIX98_PTYS'],
    fix: 'enable CONFIG_UNIX98_PTYS and mount devpts with a ptmx',
    differsFromCriu:
      'CRIU fails when /dev/ptmx cannot be opened; we answer ' +
      'unknown/DeviceUnavailable (a container without the device says nothing ' +
      'of the kernel)',
  }),
  row('so_gets', 'required', sockets.soGets, {
    summary: 'getsockopt SO_GET_FILTER and SO_BINDTODEVICE',
    criuUses:
      "On dump, CRIU reads each socket's BPF filter with SO_GET_FILTER and its bound device with SO_BINDTODEVICE, " +
      'and sets both again on restore.',
    kconfig: [],
    minKernel: '3.8',
  }),
  row('ipc', 'required', proc.ipc, {
    summary: '/proc/sys/kernel/sem_next_id is readable and writable',
    criuUses:
      "On restore of an IPC namespace, CRIU writes each semaphore set's, queue's and segment's old id to " +
      'sem_next_id, msg_next_id or shm_next_id before creating it.',
    kconfig: ['CONFIG_SYSVIPC', CR],
    fix: `enable CONFIG_SYSVIPC and ${CR}; run as root with a writable /proc/sys`,
    needs: 'CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN',
    differsFromCriu:
      'CRIU skips it for non-root and otherwise asks access(R_OK|W_OK); we ' +
      'write the current value back (the default -1 is refused with EINVAL ' +
      'only after the privilege check passed, so nothing changes)',
  }),
  row('sigqueueinfo', 'required', sys.sigqueueinfo, {
    summary: 'rt_sigqueueinfo with a positive si_code to itself',
    criuUses:
      'On restore, the restorer queues each pending signal again with rt_sigqueueinfo, keeping the siginfo it was ' +
      'dumped with.',
    kconfig: [],
    minKernel: '3.9',
  }),
  row('ptrace_peeksiginfo', 'required', ptrace.ptracePeeksiginfo, {
    summary: 'PTRACE_PEEKSIGINFO and PTRACE_GETSIGMASK on a traced child',
    criuUses:
      "On dump, CRIU reads every pending signal with PTRACE_PEEKSIGINFO without dequeuing it, and each thread's " +
      'blocked mask with PTRACE_GETSIGMASK.',
    kconfig: [],
    minKernel: '3.10',
    fix: 'ptrace must be allowed (Yama, seccomp)',
    needs: 'ptrace of its own child',
    differsFromCriu:
      'CRIU peeks an empty queue and accepts 0; we queue a SIGUSR1 to the ' +
      'stopped child and require PTRACE_PEEKSIGINFO to return it',
  }),
  row('special_mapping_mremap', 'required', ptrace.specialMappingMremap, {
    summary: 'a process can move its vdso and still take signals',
    criuUses:
      'On restore, the restorer moves its own vDSO and vvar with mremap to where the dumped process had them; ' +
      'signals must still return through them.',
    kconfig: [],
    minKernel: '4.0',
    fix: 'without CONFIG_MSEAL_SYSTEM_MAPPINGS (sealed system mappings cannot be moved)',
    needs: 'ptrace of its own child',
    differsFromCriu:
      'CRIU packs [vvar] and [vdso] side by side in a forked child; we move ' +
      '[vvar], [vvar_vclock] and [vdso] keeping their layout, by code run in ' +
      'a traced child, and check the handler really ran once. No vDSO at all ' +
      '(vdso=0) is unknown/NotApplicable where CRIU fails',
  }),

  // extra: CRIU's category 2
  row('prctl_set_mm_map', 'extra', sys.prctlSetMmMap, {
    summary: 'PR_SET_MM_MAP_SIZE (the one-call PR_SET_MM interface)',
    criuUses:
      'On restore, the restorer sets the code, data, brk, stack, arguments, environment, auxv and executable of ' +
      'each process in one PR_SET_MM_MAP call.',
    kconfig: [CR],
    minKernel: '3.18',
    fix: `enable ${CR}`,
  }),
  row('seccomp_suspend', 'extra', ptrace.seccompSuspend, {
    summary: 'PTRACE_O_SUSPEND_SECCOMP on a traced child',
    criuUses:
      'When it seizes a process with a seccomp filter, CRIU sets PTRACE_O_SUSPEND_SECCOMP so the filter cannot ' +
      "block the parasite's or restorer's system calls.",
    kconfig: ['CONFIG_SECCOMP', CR],
    fix: `enable CONFIG_SECCOMP and ${CR}`,
    needs: 'CAP_SYS_ADMIN',
    differsFromCriu: 'CRIU only sets the option; we also show the child runs past a filter of its own once it is set',
  }),
  row('seccomp_filters', 'extra', ptrace.seccompFilters, {
    summary: 'PTRACE_SECCOMP_GET_FILTER on a traced child with a filter',
    criuUses:
      "On dump, CRIU reads each process's seccomp filter programs with PTRACE_SECCOMP_GET_FILTER, and the restorer " +
      'installs them again.',
    kconfig: ['CONFIG_SECCOMP_FILTER', CR],
    fix: `enable CONFIG_SECCOMP_FILTER and ${CR}`,
    needs: 'CAP_SYS_ADMIN',
    differsFromCriu: 'we also read the program back and compare it with the one the child installed',
  }),
  row('mem_dirty_track', 'extra', memory.memDirtyTrack, {
    summary: 'soft-dirty page tracking',
    criuUses:
      'For pre-dumps and --track-mem, CRIU clears the soft-dirty bits and later dumps only the pages written ' +
      'since, so the final freeze is short.',
    kconfig: ['CONFIG_MEM_SOFT_DIRTY'],
    minKernel: '3.11',
    fix: 'enable CONFIG_MEM_SOFT_DIRTY',
    differsFromCriu:
      'CRIU answers unsupported when clear_refs cannot be written; we answer unknown for EACCES/EPERM/EROFS',
  }),
  row('posix_timers', 'extra', proc.posixTimers, {
    summary: '/proc/self/timers is readable',
    criuUses:
      "On dump, CRIU reads each POSIX timer's id, clock, signal and notification from /proc/PID/timers, and " +
      're-creates the timers on restore.',
    kconfig: ['CONFIG_POSIX_TIMERS', CR],
    fix: `enable ${CR} and CONFIG_POSIX_TIMERS`,
  }),
  row('tun_cr', 'extra', sockets.tunCr, {
    summary: 'TUNSETIFINDEX on /dev/net/tun',
    criuUses:
      'On restore, CRIU opens /dev/net/tun and gives each tun or tap device its old interface index with ' +
      'TUNSETIFINDEX before creating it.',
    kconfig: ['CONFIG_TUN'],
    minKernel: '3.8',
    fix: 'enable CONFIG_TUN or load the tun module; give the container /dev/net/tun',
    needs: 'access to /dev/net/tun',
    differsFromCriu: 'CRIU passes when /dev/net/tun cannot be opened; we answer unknown',
  }),
  row('timerfd', 'extra', sys.timerfd, {
    summary: 'TFD_IOC_SET_TICKS on a timerfd',
    criuUses: "On restore, the restorer sets each timerfd's count of expirations not yet read with TFD_IOC_SET_TICKS.",
    kconfig: ['CONFIG_TIMERFD', CR],
    minKernel: '3.17',
    fix: `enable ${CR}`,
  }),
  row('mnt_id', 'extra', proc.mntId, {
    summary: 'fdinfo shows mnt_id',
    criuUses:
      "On dump, CRIU reads each open file's mnt_id from fdinfo to know the mount it was opened through, and " +
      'reopens it from that mount.',
    kconfig: [],
    minKernel: '3.15',
  }),
  row('aio_remap', 'extra', memory.aioRemap, {
    summary: 'an AIO ring can be moved with mremap',
    runsFirst: true, // its io_destroy waits out an RCU grace period, in the background
    criuUses:
      'On restore, the restorer makes a new AIO ring and moves it with mremap to the address the dumped process ' +
      'had its ring at.',
    kconfig: ['CONFIG_AIO'],
    minKernel: '3.19',
    fix: 'enable CONFIG_AIO',
  }),
  row('fdinfo_lock', 'extra', proc.fdinfoLock, {
    summary: 'fdinfo shows file locks',
    criuUses:
      'On dump, CRIU matches file locks to descriptors from the lock lines in fdinfo; without them it falls back ' +
      'to parsing /proc/locks.',
    kconfig: ['CONFIG_FILE_LOCKING'],
    minKernel: '4.1',
    fix: 'enable CONFIG_FILE_LOCKING',
  }),
  row('clone_parent_vs_pid', 'extra', namespaces.cloneParentVsPid, {
    summary: 'clone with CLONE_NEWPID|CLONE_PARENT',
    criuUses:
      'With --restore-sibling, as runc restores containers, CRIU forks the root task with CLONE_PARENT, and with ' +
      'CLONE_NEWPID when it has its own pid namespace.',
    kconfig: ['CONFIG_PID_NS'],
    minKernel: '4.1',
    fix: 'enable CONFIG_PID_NS',
    needs: 'CAP_SYS_ADMIN',
  }),
  row('cgroupns', 'extra', namespaces.cgroupns, {
    summary: 'cgroup namespaces',
    criuUses:
      "CRIU dumps each process's cgroup namespace root and, on restore, unshares a new cgroup namespace rooted at " +
      'the same cgroup.',
    kconfig: ['CONFIG_CGROUPS'],
    minKernel: '4.6',
    fix: 'enable CONFIG_CGROUPS',
  }),
  row('tcp_window', 'extra', sockets.tcpWindow, {
    summary: 'TCP_REPAIR_WINDOW',
    criuUses:
      "With --tcp-established, CRIU saves and restores each connection's send and receive windows with " +
      'TCP_REPAIR_WINDOW; without it they are skipped.',
    kconfig: ['CONFIG_INET', CR],
    minKernel: '4.8',
    needs: 'CAP_NET_ADMIN',
  }),
  row('tcp_half_closed', 'extra', sockets.tcpHalfClosed, {
    summary: 'TCP_REPAIR on a half-closed connection',
    criuUses:
      'With --tcp-established, CRIU also dumps and restores connections one side has shut down (FIN_WAIT, ' +
      'CLOSE_WAIT, LAST_ACK, CLOSING) in TCP_REPAIR mode.',
    kconfig: ['CONFIG_INET', CR],
    minKernel: '4.11',
    needs: 'CAP_NET_ADMIN',
  }),
  row('userns', 'extra', sys.userns, {
    summary: 'user namespaces with PR_SET_MM_MAP',
    criuUses:
      'CRIU dumps user namespaces with their uid and gid maps; inside one, the restorer can set each memory layout ' +
      'only with PR_SET_MM_MAP.',
    kconfig: ['CONFIG_USER_NS', CR],
    minKernel: '3.18',
    fix: `enable CONFIG_USER_NS and ${CR}`,
  }),
  row('loginuid', 'extra', proc.loginuid, {
    summary: '/proc/self/loginuid can be written',
    criuUses:
      "On dump, CRIU saves each process's audit loginuid; on restore it writes it back to /proc/PID/loginuid, " +
      'skipping that where the kernel cannot.',
    kconfig: ['CONFIG_AUDIT', 'CONFIG_AUDITSYSCALL'],
    fix: 'enable CONFIG_AUDITSYSCALL',
    needs: 'CAP_AUDIT_CONTROL unless the loginuid is unset',
  }),
  row('can_map_vdso', 'extra', ptrace.canMapVdso, {
    summary: 'arch_prctl ARCH_MAP_VDSO_32',
    criuUses:
      'On restore, the restorer maps a fresh vDSO with arch_prctl ARCH_MAP_VDSO_* where it can; otherwise it parks ' +
      'its own and moves it with mremap.',
    kconfig: ['CONFIG_IA32_EMULATION', CR],
    fix: `enable CONFIG_IA32_EMULATION and ${CR}`,
    needs: 'ptrace of its own child',
    differsFromCriu:
      'CRIU counts 0 or EEXIST; a call that really maps a vDSO returns its ' +
      'size, which CRIU would count as a failure and we count as supported',
  }),
  row('uffd', 'extra', memory.uffd, {
    summary: 'userfaultfd with the UFFDIO_API handshake',
    criuUses:
      'For lazy restore (--lazy-pages, post-copy migration), CRIU registers restored memory with userfaultfd and ' +
      'fills each page when it is first touched.',
    kconfig: ['CONFIG_USERFAULTFD'],
    minKernel: '4.3',
    fix: 'enable CONFIG_USERFAULTFD; for non-root set vm.unprivileged_userfaultfd=1',
    needs: 'CAP_SYS_PTRACE when vm.unprivileged_userfaultfd=0',
  }),
  row('uffd-noncoop', 'extra', memory.uffdNoncoop, {
    summary: 'userfaultfd FORK, REMAP, REMOVE and UNMAP events',
    criuUses:
      'During lazy restore, the lazy-pages daemon follows fork, mremap, madvise and munmap in the restored ' +
      "processes through userfaultfd's non-cooperative events.",
    kconfig: ['CONFIG_USERFAULTFD'],
    minKernel: '4.11',
    fix: 'enable CONFIG_USERFAULTFD',
    needs: 'CAP_SYS_PTRACE when vm.unprivileged_userfaultfd=0',
  }),
  row('sk_ns', 'extra', sockets.skNs, {
    summary: 'SIOCGSKNS on a socket',
    criuUses:
      'On dump, CRIU asks sockets that sock_diag does not report (unbound, unconnected) for their network ' +
      'namespace with SIOCGSKNS.',
    kconfig: ['CONFIG_NET_NS'],
    minKernel: '4.9',
    needs: 'CAP_NET_ADMIN',
    differsFromCriu: 'CRIU takes any descriptor back as success; we also require it to be our own network namespace',
  }),
  row('kcmp_epoll', 'extra', sys.kcmpEpoll, {
    summary: 'kcmp KCMP_EPOLL_TFD',
    criuUses:
      'On dump, CRIU asks kcmp KCMP_EPOLL_TFD which file an epoll target is, so epolls watching closed or passed ' +
      'descriptors can be dumped.',
    kconfig: ['CONFIG_KCMP', 'CONFIG_EPOLL'],
    minKernel: '4.13',
    fix: 'enable CONFIG_KCMP',
  }),
  row('net_diag_raw', 'extra', netlink.netDiagRaw, {
    summary: 'sock_diag answers for RAW sockets',
    criuUses:
      'On dump, CRIU lists RAW sockets through sock_diag; without raw_diag the dump still runs but fails when it ' +
      'meets a RAW socket.',
    kconfig: ['CONFIG_INET_RAW_DIAG', 'CONFIG_INET_DIAG'],
    fix: 'enable CONFIG_INET_RAW_DIAG or load raw_diag',
    needs: 'CAP_NET_RAW (to make the RAW socket looked for)',
    differsFromCriu:
      'CRIU counts ENOENT as success, a false positive when ' +
      'CONFIG_INET_RAW_DIAG is off; we make a real RAW socket (INET, and ' +
      'INET6 where IPv6 is on), dump RAW sockets and look for ours by inode',
  }),
  row('clone3_set_tid', 'extra', sys.clone3SetTid, {
    summary: 'clone3 with set_tid',
    criuUses:
      'On restore, CRIU forks each process with clone3 and set_tid naming its old pid, in place of writing ' +
      'ns_last_pid before each fork.',
    kconfig: [],
    minKernel: '5.5',
    differsFromCriu:
      "under a seccomp filter we answer ENOSYS unknown: container runtimes' " +
      'default filters answer clone3 with ENOSYS on purpose',
  }),
  row('timens', 'extra', namespaces.timens, {
    summary: 'time namespaces',
    criuUses:
      'On restore, CRIU puts the processes in a new time namespace whose offsets keep CLOCK_MONOTONIC and ' +
      'CLOCK_BOOTTIME where they were at dump.',
    kconfig: ['CONFIG_TIME_NS'],
    minKernel: '5.6',
    fix: 'enable CONFIG_TIME_NS',
  }),
  row('newifindex', 'extra', netlink.newifindex, {
    summary: 'RTM_SETLINK with IFLA_NEW_IFINDEX',
    criuUses:
      'On restore, CRIU moves a pre-created veth given as external into the restored namespace with ' +
      'IFLA_NEW_IFINDEX, so it keeps its old index.',
    kconfig: [],
    minKernel: '6.0',
    needs: 'CAP_NET_ADMIN',
  }),
  row('pidfd_store', 'extra', sys.pidfdStore, {
    summary: 'pidfd_open and pidfd_getfd',
    criuUses:
      'Between iterative pre-dumps over RPC, CRIU keeps pidfds of the dumped processes, taken via pidfd_getfd, to ' +
      'notice a reused pid and dump its memory whole.',
    kconfig: [],
    minKernel: '5.6',
  }),
  row('ns_pid', 'extra', namespaces.nsPid, {
    summary: '/proc/self/status has NSpid',
    criuUses:
      'On dump, CRIU reads NSpid from /proc/PID/status to learn pids inside the pid namespace; dumping a timer ' +
      'that notifies a thread there needs it.',
    kconfig: ['CONFIG_PID_NS'],
    minKernel: '4.1',
  }),
  row('network_lock_nftables', 'extra', netfilter.networkLockNftables, {
    summary: 'nftables can make an inet table with a concatenated set',
    criuUses:
      "With --network-lock nftables, CRIU drops the processes' traffic through an inet table of its own during " +
      'dump and restore, listing TCP connections in concatenated sets.',
    kconfig: ['CONFIG_NF_TABLES', 'CONFIG_NF_TABLES_INET'],
    fix: 'enable CONFIG_NF_TABLES and CONFIG_NF_TABLES_INET; install libnftables1',
    needs: 'CAP_SYS_ADMIN and CAP_NET_ADMIN, libnftables',
    differsFromCriu:
      'without libnftables CRIU says unsupported; we answer ' +
      'unknown/MissingDependency (the kernel may well have it). We open a ' +
      'NETLINK_NETFILTER socket before libnftables does, since libnftables ' +
      'exits the process when it cannot',
  }),
  row('sockopt_buf_lock', 'extra', sockets.sockoptBufLock, {
    summary: 'getsockopt SO_BUF_LOCK',
    criuUses:
      "On dump, CRIU saves whether a socket's send and receive buffer sizes were set by the process (SO_BUF_LOCK), " +
      'and sets the lock again on restore.',
    kconfig: [],
    minKernel: '5.14',
  }),
  row('memfd_hugetlb', 'extra', sys.memfdHugetlb, {
    summary: 'memfd_create with MFD_HUGETLB',
    criuUses:
      'CRIU dumps shared hugetlb mappings and hugetlbfs memfds through memfd_create with MFD_HUGETLB, and restores ' +
      'shared hugetlb memory in such a memfd.',
    kconfig: ['CONFIG_HUGETLBFS', 'CONFIG_MEMFD_CREATE'],
    minKernel: '4.14',
    fix: 'enable CONFIG_HUGETLBFS',
  }),
  row('move_mount_set_group', 'extra', mounts.moveMountSetGroup, {
    summary: 'move_mount with MOVE_MOUNT_SET_GROUP',
    criuUses:
      "CRIU's newer mount engine restores shared mount peer groups with MOVE_MOUNT_SET_GROUP; without it, restore " +
      'falls back to --mntns-compat-mode.',
    kconfig: [],
    minKernel: '5.15',
    needs: 'CAP_SYS_ADMIN',
    differsFromCriu:
      "CRIU mounts on the host's /tmp; we work in a private mount namespace, " +
      "and also require mountinfo to show the target in the source's peer " +
      'group',
  }),
  row('openat2', 'extra', sys.openat2, {
    summary: 'the openat2 system call',
    criuUses:
      "CRIU's newer mount engine tells mountpoints apart with openat2 and RESOLVE_NO_XDEV; without openat2, " +
      'restore falls back to --mntns-compat-mode.',
    kconfig: [],
    minKernel: '5.6',
  }),
  row('get_rseq_conf', 'extra', ptrace.getRseqConf, {
    summary: 'PTRACE_GET_RSEQ_CONFIGURATION',
    criuUses:
      "On dump, CRIU reads each thread's registered rseq area with PTRACE_GET_RSEQ_CONFIGURATION; without it a " +
      'process using rseq, as glibc 2.35+ does, cannot be dumped.',
    kconfig: ['CONFIG_RSEQ'],
    minKernel: '5.13',
    fix: 'enable CONFIG_RSEQ',
    needs: 'ptrace of its own child',
    differsFromCriu:
      'the same test (flags 0), except that CRIU requires exactly 24 bytes ' +
      "back and we accept a larger answer (a later kernel's longer struct " +
      'starts with the same fields) and answer unknown for a shorter one; ' +
      'CRIU counts any failure as missing, we count a refused ptrace (EPERM) ' +
      'as unknown',
  }),
  row('ipv6_freebind', 'extra', sockets.ipv6Freebind, {
    summary: 'IPV6_FREEBIND',
    criuUses:
      "CRIU saves and restores IPv6 sockets' freebind flag with IPV6_FREEBIND; without it, the dump reads it " +
      'through IP_FREEBIND, except on RAW sockets.',
    kconfig: ['CONFIG_IPV6'],
    minKernel: '4.15',
    fix: 'enable CONFIG_IPV6',
  }),
  row('pagemap_scan', 'extra', memory.pagemapScan, {
    summary: 'the PAGEMAP_SCAN ioctl',
    criuUses:
      'On dump, CRIU finds the present and swapped pages to save with the PAGEMAP_SCAN ioctl instead of reading ' +
      '/proc/PID/pagemap entry by entry.',
    kconfig: ['CONFIG_PROC_PAGE_MONITOR'],
    minKernel: '6.7',
    differsFromCriu:
      'CRIU scans an empty range; we scan two pages of our own and require the one written to be reported present',
  }),
  row('overlayfs_maps', 'extra', mounts.overlayfsMaps, {
    summary: 'overlayfs files show their real dev:ino in maps',
    criuUses:
      'On dump, CRIU identifies mapped files by the dev:ino in /proc/PID/maps and checks them against stat; on ' +
      'overlayfs, usual in containers, both must agree.',
    kconfig: ['CONFIG_OVERLAY_FS'],
    minKernel: '4.2',
    fix: 'enable CONFIG_OVERLAY_FS',
    needs: 'CAP_SYS_ADMIN and CAP_DAC_OVERRIDE',
    differsFromCriu:
      'CRIU passes when it cannot create a mount namespace; we answer ' +
      'unknown. CRIU mounts with fsopen (kernel 5.2 or later) and fails ' +
      'before; we mount with mount(2), so older kernels are really tested',
  }),
  row('timer_cr_ids', 'extra', sys.timerCrIds, {
    summary: 'prctl PR_TIMER_CREATE_RESTORE_IDS',
    criuUses:
      'On restore, the restorer turns on PR_TIMER_CREATE_RESTORE_IDS so each POSIX timer gets its old id, instead ' +
      'of creating timers until the ids match.',
    kconfig: ['CONFIG_POSIX_TIMERS'],
    minKernel: '6.17',
  }),
  row('pagemap_scan_guard_pages', 'extra', memory.pagemapScanGuardPages, {
    summary: 'PAGEMAP_SCAN reports guard pages',
    criuUses:
      'On dump, CRIU finds MADV_GUARD_INSTALL guard pages with PAGEMAP_SCAN and the restorer installs them again; ' +
      'without it, dumping a process using them fails.',
    kconfig: ['CONFIG_PROC_PAGE_MONITOR'],
    minKernel: '6.15',
    differsFromCriu:
      'CRIU only checks that PAGEMAP_SCAN accepts PAGE_IS_GUARD; where ' +
      'MADV_GUARD_INSTALL works we also require the scan to report a guard ' +
      'page we installed',
  }),
  row('apparmor_stacking', 'extra', lsm.apparmorStacking, {
    summary: 'AppArmor namespace stacking, where AppArmor is active',
    criuUses:
      'Where a process runs in an AppArmor namespace, CRIU dumps the profiles loaded there and loads them again on ' +
      'restore; without stacking it skips them.',
    kconfig: ['CONFIG_SECURITY_APPARMOR'],
    fix: 'an AppArmor with domain stacking (policy version 1.2 or later)',
    differsFromCriu:
      'where AppArmor is not active, criu check --feature apparmor_stacking ' +
      'fails while its --extra run skips the check; we answer supported with ' +
      "reason NotApplicable. CRIU's version test (major >= 1 && minor >= 2) " +
      'would refuse a 2.0; we compare the version as a whole',
  }),

  // experimental: CRIU's category 3
  row('autofs', 'experimental', mounts.autofs, {
    summary: 'autofs mounts show pipe_ino in mountinfo',
    criuUses:
      "CRIU dumps an autofs mount by finding its automount daemon's pipe through the pipe_ino in mountinfo, and " +
      'restores the mount connected to it.',
    kconfig: ['CONFIG_AUTOFS_FS'],
    fix: 'enable CONFIG_AUTOFS_FS or load autofs4',
    needs: 'CAP_SYS_ADMIN (unless an autofs mount is already there)',
    differsFromCriu: "CRIU mounts on the host's /tmp; we work in a private mount namespace",
  }),
  row('compat_cr', 'experimental', ptrace.compatCr, {
    summary: '32-bit syscalls and a 32-bit vdso',
    criuUses:
      'CRIU dumps and restores 32-bit (ia32) processes on x86_64, mapping them a 32-bit vDSO; without it such ' +
      'processes cannot be checkpointed.',
    kconfig: ['CONFIG_IA32_EMULATION'],
    fix: 'enable CONFIG_IA32_EMULATION (and ia32_emulation=1 on the kernel command line)',
    needs: 'ptrace of its own child',
    differsFromCriu:
      'CRIU accepts EEXIST from ARCH_MAP_VDSO_32; we unmap the 64-bit vDSO in ' +
      "a traced child and map the 32-bit one for real, after CRIU's int 0x80 " +
      'mmap2 test',
  }),

  // advisory: checked and reported, never decides a level
  row('breakpoints', 'advisory', ptrace.breakpoints, {
    summary: 'hardware breakpoints reach a traced child',
    criuUses:
      'CRIU stops the parasite and restorer at their final sigreturn with a hardware breakpoint; without one it ' +
      'steps through system calls, which is slower.',
    kconfig: ['CONFIG_HAVE_HW_BREAKPOINT'],
    fix: 'hardware breakpoints are often missing in virtual machines; CRIU then falls back to slower stepping',
    needs: 'ptrace of its own child',
    differsFromCriu:
      'CRIU takes any SIGTRAP; we require the stop at the breakpoint address ' +
      'with si_code TRAP_HWBKPT, so a trap of another kind is not mistaken ' +
      'for one',
  }),
  row('tun', 'advisory', sockets.tun, {
    summary: '/dev/net/tun opens and TUNSETIFINDEX works',
    criuUses:
      'criu check --feature tun fails without /dev/net/tun, which CRIU opens on restore to re-create tun and tap ' +
      'devices with their old indexes.',
    kconfig: ['CONFIG_TUN'],
    minKernel: '3.8',
    fix: 'enable CONFIG_TUN or load the tun module; give the container /dev/net/tun',
    needs: 'access to /dev/net/tun',
    differsFromCriu:
      'CRIU fails when /dev/net/tun cannot be opened; a missing device node ' +
      '(a container without it) is unknown here, only a missing driver is ' +
      'unsupported',
  }),
  row('tun_ns', 'advisory', sockets.tunNs, {
    summary: 'SIOCGSKNS on a tun device',
    criuUses:
      'On dump, CRIU asks each open tun file for its network namespace with SIOCGSKNS, so the file is attached to ' +
      'the device in that namespace.',
    kconfig: ['CONFIG_TUN', 'CONFIG_NET_NS'],
    minKernel: '4.17',
    fix: 'enable CONFIG_TUN; give the container /dev/net/tun',
    needs: 'CAP_NET_ADMIN and access to /dev/net/tun',
    differsFromCriu:
      'CRIU fails when /dev/net/tun cannot be opened; we answer unknown (no ' +
      'device is no verdict on the ioctl). We also require the namespace ' +
      'returned to be our own',
  }),
  row('sk_unix_file', 'advisory', sockets.skUnixFile, {
    summary: 'SIOCUNIXFILE on a unix socket',
    criuUses:
      "On dump of a mount namespace, CRIU opens a bound unix socket's file with SIOCUNIXFILE to learn which mount " +
      'it lives on.',
    kconfig: ['CONFIG_UNIX'],
    minKernel: '4.10',
    needs: 'CAP_NET_ADMIN',
  }),
  row('nsid', 'advisory', netlink.nsid, {
    summary: 'RTM_GETNSID answers',
    criuUses:
      'On dump, CRIU asks RTM_GETNSID which ids network namespaces give each other, so veth pairs across dumped ' +
      'namespaces are restored linked.',
    kconfig: ['CONFIG_NET_NS'],
    minKernel: '4.0',
  }),
  row('link_nsid', 'advisory', netlink.linkNsid, {
    summary: 'veth peers in other namespaces report IFLA_LINK_NETNSID',
    criuUses:
      'criu check only reports it; on dump CRIU reads IFLA_LINK_NETNSID, where the kernel gives it, to find which ' +
      "namespace a veth's peer is in.",
    kconfig: ['CONFIG_VETH', 'CONFIG_NET_NS'],
    minKernel: '4.0',
    fix: 'enable CONFIG_VETH',
    needs: 'CAP_SYS_ADMIN and CAP_NET_ADMIN',
  }),
  row('external_net_ns', 'advisory', namespaces.externalNetNs, {
    summary: 'external network namespaces (no kernel dependency)',
    criuUses:
      'Not a kernel test: criu always passes it, so that tools can ask whether this criu restores into external ' +
      'network namespaces (--external net).',
    kconfig: [],
  }),
  row('nftables', 'advisory', netfilter.nftables, {
    summary: 'libnftables is installed',
    criuUses:
      "A criu built with libnftables dumps and restores each network namespace's nftables ruleset; criu check only " +
      'reports whether it was built with it.',
    kconfig: ['CONFIG_NF_TABLES'],
    differsFromCriu:
      'without libnftables CRIU says unsupported; we answer ' +
      'unknown/MissingDependency: the library is userspace, and the node may ' +
      'have it where this process (in an image without it) does not',
    fix: 'install libnftables1',
  }),
  row('has_ipt_legacy', 'advisory', netfilter.hasIptLegacy, {
    ahead: netfilter.hasIptLegacyAhead,
    summary: 'a legacy iptables-save is installed',
    criuUses:
      'A criu built with libnftables saves legacy iptables rules with iptables-legacy-save, and skips them when ' +
      'none is installed.',
    kconfig: ['CONFIG_IP_NF_IPTABLES'],
    fix: 'install iptables with the legacy backend (iptables-legacy-save)',
  }),

  // runtime: the userspace chain a container checkpoint goes through (the checkpoint level)
  row('criu_binary', 'runtime', () => criuBinary(), {
    summary: 'criu on PATH or in /usr/local/sbin, /usr/sbin, /usr/bin, /sbin, /bin (or $CRIU), an executable file',
    criuUses:
      'runc and crun start this criu (as criu swrk, driven over RPC) for every checkpoint and restore that podman, ' +
      'containerd or CRI-O asks for.',
    kconfig: [],
    fix: CRIU_PACKAGE_HINT,
  }),
  row('criu_version', 'runtime', () => criuVersion(), {
    ahead: () => criuVersionAhead(),
    summary: 'criu --version at least 3.0, the oldest runc accepts (3.11 where podman is installed; containerd 3.16)',
    criuUses:
      "runc refuses a criu older than 3.0 for checkpoints, podman one older than 3.11, and containerd 2.0's CRI " +
      'checkpoint one older than 3.16.',
    kconfig: [],
    fix: 'install criu 3.16 or later (package "criu" on Debian, Ubuntu and Fedora; 3.0 is the oldest runc accepts)',
  }),
  row('criu_runs', 'runtime', () => criuRuns(runtimeEnv(), kernelFeatureNames()), {
    summary:
      "the installed criu's own criu check says Looks good. (and, beside it, " +
      "criu's verdict on each of our kernel features)",
    criuUses:
      'criu probes the kernel (kerndat) at the start of every dump and restore that runc or crun starts; a criu ' +
      'failing here fails those too.',
    kconfig: [],
    fix: 'install a criu newer than the kernel (an old criu cannot start on a new kernel)',
    needs:
      'root or CAP_SYS_ADMIN for criu; the host itself, or a container given the host root at ' +
      "CRIU_READINESS_HOST_ROOT and the host's mount namespace at CRIU_READINESS_HOST_MOUNT_NS",
  }),
  row('criu_canary', 'runtime', () => criuCanary(), {
    summary: 'criu dumps a canary process tree into a private directory and restores it with the same pids',
    criuUses:
      'A container checkpoint is this same criu dump and restore with the old pids, run by runc or crun inside the ' +
      "container's namespaces and cgroups.",
    kconfig: [],
    fix: 'install a criu that can checkpoint on this kernel; when one fails, the message has the error that stopped it',
    needs:
      'root or CAP_SYS_ADMIN, becoming a child subreaper meanwhile; the host itself, or a privileged ' +
      "container in the host's PID namespace given its mount namespace at CRIU_READINESS_HOST_MOUNT_NS",
  }),
  row('oci_runtime', 'runtime', () => ociRuntime(), {
    ahead: () => versionsAhead(['runc', 'crun']),
    summary: 'the OCI runtime podman, containerd and CRI-O use (runc, crun) can checkpoint',
    criuUses:
      'podman, containerd and CRI-O checkpoint a container by calling runc or crun checkpoint, which hand criu the ' +
      "container's namespaces, mounts and cgroups.",
    kconfig: [],
    fix: `${CRUN_HINT}; for podman set [engine] runtime = "runc" in containers.conf`,
  }),
  row('cri_checkpoint', 'runtime', () => criCheckpoint(), {
    ahead: () => versionsAhead(['containerd', 'crio']),
    summary: 'containerd 2.0+ (enable_criu from 2.4) or CRI-O with enable_criu_support can checkpoint for the kubelet',
    criuUses:
      'The kubelet asks containerd or CRI-O to checkpoint over the CRI CheckpointContainer call; they checkpoint ' +
      'through runc or crun and write a tar archive.',
    kconfig: [],
    fix: 'containerd 2.0 or later with criu 3.16+, or CRI-O with enable_criu_support = true in [crio.runtime]',
  }),
  row('kubelet_checkpoint', 'runtime', () => kubeletCheckpoint(), {
    ahead: () => versionsAhead(['kubelet']),
    summary: "the kubelet's ContainerCheckpoint feature gate is on (default from 1.30)",
    criuUses:
      'With the gate on, the kubelet serves POST /checkpoint/NAMESPACE/POD/CONTAINER and has the CRI runtime write ' +
      'an archive under its checkpoints directory.',
    kconfig: [],
    fix:
      'featureGates: {ContainerCheckpoint: true} in the KubeletConfiguration, ' +
      'or --feature-gates=ContainerCheckpoint=true',
    needs: "the host's /proc (at $CRIU_READINESS_HOST_ROOT/proc) to read a running kubelet's flags",
  }),
  row('checkpoint_storage', 'runtime', () => checkpointStorage(), {
    summary: 'the checkpoint directory is writable with at least CRIU_READINESS_CHECKPOINT_MIN_FREE (10 GiB) free',
    criuUses:
      'The kubelet writes each checkpoint archive, memory pages and changed files included, under its checkpoints ' +
      'directory; containerd and podman keep theirs in their own storage.',
    kconfig: [],
    fix: 'free space or mount a larger filesystem at the checkpoint directory',
    needs: 'write access to the directory (a test file is created and removed)',
  }),
];

/**
 * The kernel's features, which criu_runs asks criu about too (criu answers "Unknown feature" for names it does not
 * have).
 */
function kernelFeatureNames(): string[] {
  return CATALOGUE.filter((f) => f.category !== 'runtime').map((f) => f.name);
}

/** Every feature name, in catalogue order (for enums, --feature list and errors). */
export const FEATURE_NAMES: readonly string[] = CATALOGUE.map((f) => f.name);

const byName = new Map(CATALOGUE.map((f) => [f.name, f]));

export function findFeature(name: string): Feature | undefined {
  return byName.get(name);
}
