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

/** A probe does the real kernel test, in the runner process. */
export type Probe = () => ProbeOutcome | Promise<ProbeOutcome>;

export interface Feature {
  /** CRIU's --feature name where it has one, else the name CATALOGUE.md gives. */
  name: string;
  category: Category;
  /** One line: what the kernel must do. */
  summary: string;
  /** Related kernel config options, cross-checked against the running kernel's config. */
  kconfig: readonly string[];
  /** What would make it supported: a config option, module, sysctl or kernel version. */
  hint: string;
  /** Privileges the check needs; without them it answers unknown, never unsupported. */
  needs?: string;
  /** Where our verdict can differ from upstream CRIU's probe, and why. */
  differsFromCriu?: string;
  probe: Probe;
}

const CR = 'CONFIG_CHECKPOINT_RESTORE';

export const CATALOGUE: readonly Feature[] = [
  // required: CRIU's category 1
  { name: 'map_files', category: 'required', summary: '/proc/self/map_files is readable', kconfig: [CR], hint: `enable ${CR}`, probe: proc.mapFiles },
  { name: 'sock_diag', category: 'required', summary: 'sock_diag netlink dumps UNIX, INET/INET6, PACKET and NETLINK sockets', kconfig: ['CONFIG_UNIX_DIAG', 'CONFIG_INET_DIAG', 'CONFIG_INET_TCP_DIAG', 'CONFIG_INET_UDP_DIAG', 'CONFIG_PACKET_DIAG', 'CONFIG_NETLINK_DIAG'], hint: 'enable the *_DIAG options or load unix_diag, inet_diag, tcp_diag, udp_diag, packet_diag and netlink_diag', differsFromCriu: 'criu check forgives every failed dump (collect_sockets excuses them in CRIU\'s own net namespace) and fails only when the diag socket cannot be made; we require each dump a namespace dump needs to answer, forgiving ENOENT only for RAW, as collect_sockets does, and for a kind of socket the kernel lacks altogether (UDP-Lite, AF_PACKET): no process can hold one. We make an AF_PACKET socket first, which loads af_packet where it is a module; a dump alone does not', probe: netlink.sockDiag },
  { name: 'ns_last_pid', category: 'required', summary: '/proc/sys/kernel/ns_last_pid is writable', kconfig: [CR], hint: `enable ${CR}; mount /proc/sys read-write (a privileged container)`, needs: 'CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, and a writable /proc/sys', differsFromCriu: 'CRIU asks access(W_OK), which says yes to anyone because the file is 0666 while the kernel checks the capability on write; we write the current value back', probe: proc.nsLastPid },
  { name: 'sock_peek_off', category: 'required', summary: 'SO_PEEK_OFF on AF_UNIX datagram sockets', kconfig: ['CONFIG_UNIX'], hint: 'a kernel with SO_PEEK_OFF for unix sockets (3.4+)', probe: sockets.sockPeekOff },
  { name: 'kcmp', category: 'required', summary: 'the kcmp system call', kconfig: ['CONFIG_KCMP', CR], hint: 'enable CONFIG_KCMP', differsFromCriu: 'CRIU counts any error but ENOSYS as present; an EPERM or EACCES (a seccomp filter, an LSM) we answer unknown, and an ENOSYS under a seccomp filter too', probe: sys.kcmp },
  { name: 'prctl', category: 'required', summary: 'PR_GET_TID_ADDRESS and PR_SET_MM (map, or the older field-by-field interface)', kconfig: [CR], hint: `enable ${CR}`, needs: 'CAP_SYS_RESOURCE for the older interface', probe: sys.prctl },
  { name: 'fcntl', category: 'required', summary: 'fcntl F_GETOWNER_UIDS', kconfig: [CR], hint: `enable ${CR}`, probe: proc.fcntl },
  { name: 'proc_stat', category: 'required', summary: '/proc/self/stat has all the fields CRIU reads', kconfig: [], hint: 'a kernel of 3.5 or later', probe: proc.procStat },
  { name: 'tcp_repair', category: 'required', summary: 'TCP_REPAIR mode and TCP_TIMESTAMP', kconfig: [CR, 'CONFIG_INET'], hint: `enable ${CR}`, needs: 'CAP_NET_ADMIN', probe: sockets.tcpRepair },
  { name: 'fdinfo_ext', category: 'required', summary: 'fdinfo shows eventfd, epoll, signalfd and inotify details', kconfig: ['CONFIG_EVENTFD', 'CONFIG_EPOLL', 'CONFIG_SIGNALFD', 'CONFIG_INOTIFY_USER', CR], hint: `enable ${CR} and the eventfd, epoll, signalfd and inotify options`, probe: proc.fdinfoExt },
  { name: 'unaligned_vmsplice', category: 'required', summary: 'vmsplice of unaligned buffers with SPLICE_F_GIFT', kconfig: [], hint: 'a kernel of 3.10 or later', probe: sys.unalignedVmsplice },
  { name: 'tty', category: 'required', summary: 'pty locking with TIOCSPTLCK', kconfig: ['CONFIG_UNIX98_PTYS'], hint: 'enable CONFIG_UNIX98_PTYS and mount devpts with a ptmx', differsFromCriu: 'CRIU fails when /dev/ptmx cannot be opened; we answer unknown/DeviceUnavailable (a container without the device says nothing of the kernel)', probe: sys.tty },
  { name: 'so_gets', category: 'required', summary: 'getsockopt SO_GET_FILTER and SO_BINDTODEVICE', kconfig: [], hint: 'a kernel of 3.8 or later', probe: sockets.soGets },
  { name: 'ipc', category: 'required', summary: '/proc/sys/kernel/sem_next_id is readable and writable', kconfig: ['CONFIG_SYSVIPC', CR], hint: `enable CONFIG_SYSVIPC and ${CR}; run as root with a writable /proc/sys`, needs: 'CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN', differsFromCriu: 'CRIU skips it for non-root and otherwise asks access(R_OK|W_OK); we write the current value back (the default -1 is refused with EINVAL only after the privilege check passed, so nothing changes)', probe: proc.ipc },
  { name: 'sigqueueinfo', category: 'required', summary: 'rt_sigqueueinfo with a positive si_code to itself', kconfig: [], hint: 'a kernel of 3.9 or later', probe: sys.sigqueueinfo },
  { name: 'ptrace_peeksiginfo', category: 'required', summary: 'PTRACE_PEEKSIGINFO and PTRACE_GETSIGMASK on a traced child', kconfig: [], hint: 'a kernel of 3.10 or later; ptrace must be allowed (Yama, seccomp)', needs: 'ptrace of its own child', differsFromCriu: 'CRIU peeks an empty queue and accepts 0; we queue a SIGUSR1 to the stopped child and require PTRACE_PEEKSIGINFO to return it', probe: ptrace.ptracePeeksiginfo },
  { name: 'special_mapping_mremap', category: 'required', summary: 'a process can move its vdso and still take signals', kconfig: [], hint: 'a kernel of 4.0 or later, without CONFIG_MSEAL_SYSTEM_MAPPINGS (sealed system mappings cannot be moved)', needs: 'ptrace of its own child', differsFromCriu: 'CRIU packs [vvar] and [vdso] side by side in a forked child; we move [vvar], [vvar_vclock] and [vdso] keeping their layout, by code run in a traced child, and check the handler really ran once. No vDSO at all (vdso=0) is unknown/NotApplicable where CRIU fails', probe: ptrace.specialMappingMremap },

  // extra: CRIU's category 2
  { name: 'prctl_set_mm_map', category: 'extra', summary: 'PR_SET_MM_MAP_SIZE (the one-call PR_SET_MM interface)', kconfig: [CR], hint: `enable ${CR} (kernel 3.18 or later)`, probe: sys.prctlSetMmMap },
  { name: 'seccomp_suspend', category: 'extra', summary: 'PTRACE_O_SUSPEND_SECCOMP on a traced child', kconfig: ['CONFIG_SECCOMP', CR], hint: `enable CONFIG_SECCOMP and ${CR}`, needs: 'CAP_SYS_ADMIN', differsFromCriu: 'CRIU only sets the option; we also show the child runs past a filter of its own once it is set', probe: ptrace.seccompSuspend },
  { name: 'seccomp_filters', category: 'extra', summary: 'PTRACE_SECCOMP_GET_FILTER on a traced child with a filter', kconfig: ['CONFIG_SECCOMP_FILTER', CR], hint: `enable CONFIG_SECCOMP_FILTER and ${CR}`, needs: 'CAP_SYS_ADMIN', differsFromCriu: 'we also read the program back and compare it with the one the child installed', probe: ptrace.seccompFilters },
  { name: 'mem_dirty_track', category: 'extra', summary: 'soft-dirty page tracking', kconfig: ['CONFIG_MEM_SOFT_DIRTY'], hint: 'enable CONFIG_MEM_SOFT_DIRTY', differsFromCriu: 'CRIU answers unsupported when clear_refs cannot be written; we answer unknown for EACCES/EPERM/EROFS', probe: memory.memDirtyTrack },
  { name: 'posix_timers', category: 'extra', summary: '/proc/self/timers is readable', kconfig: ['CONFIG_POSIX_TIMERS', CR], hint: `enable ${CR} and CONFIG_POSIX_TIMERS`, probe: proc.posixTimers },
  { name: 'tun_cr', category: 'extra', summary: 'TUNSETIFINDEX on /dev/net/tun', kconfig: ['CONFIG_TUN'], hint: 'enable CONFIG_TUN or load the tun module; give the container /dev/net/tun', needs: 'access to /dev/net/tun', differsFromCriu: 'CRIU passes when /dev/net/tun cannot be opened; we answer unknown', probe: sockets.tunCr },
  { name: 'timerfd', category: 'extra', summary: 'TFD_IOC_SET_TICKS on a timerfd', kconfig: ['CONFIG_TIMERFD', CR], hint: `enable ${CR}`, probe: sys.timerfd },
  { name: 'mnt_id', category: 'extra', summary: 'fdinfo shows mnt_id', kconfig: [], hint: 'a kernel of 3.15 or later', probe: proc.mntId },
  { name: 'aio_remap', category: 'extra', summary: 'an AIO ring can be moved with mremap', kconfig: ['CONFIG_AIO'], hint: 'enable CONFIG_AIO (kernel 3.19 or later)', probe: memory.aioRemap },
  { name: 'fdinfo_lock', category: 'extra', summary: 'fdinfo shows file locks', kconfig: ['CONFIG_FILE_LOCKING'], hint: 'enable CONFIG_FILE_LOCKING (kernel 4.1 or later)', probe: proc.fdinfoLock },
  { name: 'clone_parent_vs_pid', category: 'extra', summary: 'clone with CLONE_NEWPID|CLONE_PARENT', kconfig: ['CONFIG_PID_NS'], hint: 'enable CONFIG_PID_NS (kernel 4.1 or later)', needs: 'CAP_SYS_ADMIN', probe: namespaces.cloneParentVsPid },
  { name: 'cgroupns', category: 'extra', summary: 'cgroup namespaces', kconfig: ['CONFIG_CGROUPS'], hint: 'enable CONFIG_CGROUPS (kernel 4.6 or later)', probe: namespaces.cgroupns },
  { name: 'tcp_window', category: 'extra', summary: 'TCP_REPAIR_WINDOW', kconfig: ['CONFIG_INET', CR], hint: 'a kernel of 4.8 or later', needs: 'CAP_NET_ADMIN', probe: sockets.tcpWindow },
  { name: 'tcp_half_closed', category: 'extra', summary: 'TCP_REPAIR on a half-closed connection', kconfig: ['CONFIG_INET', CR], hint: 'a kernel of 4.11 or later', needs: 'CAP_NET_ADMIN', probe: sockets.tcpHalfClosed },
  { name: 'userns', category: 'extra', summary: 'user namespaces with PR_SET_MM_MAP', kconfig: ['CONFIG_USER_NS', CR], hint: `enable CONFIG_USER_NS and ${CR}`, probe: sys.userns },
  { name: 'loginuid', category: 'extra', summary: '/proc/self/loginuid can be written', kconfig: ['CONFIG_AUDIT', 'CONFIG_AUDITSYSCALL'], hint: 'enable CONFIG_AUDITSYSCALL', needs: 'CAP_AUDIT_CONTROL unless the loginuid is unset', probe: proc.loginuid },
  { name: 'can_map_vdso', category: 'extra', summary: 'arch_prctl ARCH_MAP_VDSO_32', kconfig: ['CONFIG_IA32_EMULATION', CR], hint: `enable CONFIG_IA32_EMULATION and ${CR}`, needs: 'ptrace of its own child', differsFromCriu: 'CRIU counts 0 or EEXIST; a call that really maps a vDSO returns its size, which CRIU would count as a failure and we count as supported', probe: ptrace.canMapVdso },
  { name: 'uffd', category: 'extra', summary: 'userfaultfd with the UFFDIO_API handshake', kconfig: ['CONFIG_USERFAULTFD'], hint: 'enable CONFIG_USERFAULTFD; for non-root set vm.unprivileged_userfaultfd=1', needs: 'CAP_SYS_PTRACE when vm.unprivileged_userfaultfd=0', probe: memory.uffd },
  { name: 'uffd-noncoop', category: 'extra', summary: 'userfaultfd FORK, REMAP, REMOVE and UNMAP events', kconfig: ['CONFIG_USERFAULTFD'], hint: 'a kernel of 4.11 or later with CONFIG_USERFAULTFD', needs: 'as uffd', probe: memory.uffdNoncoop },
  { name: 'sk_ns', category: 'extra', summary: 'SIOCGSKNS on a socket', kconfig: ['CONFIG_NET_NS'], hint: 'a kernel of 4.9 or later', needs: 'CAP_NET_ADMIN', differsFromCriu: 'CRIU takes any descriptor back as success; we also require it to be our own network namespace', probe: sockets.skNs },
  { name: 'kcmp_epoll', category: 'extra', summary: 'kcmp KCMP_EPOLL_TFD', kconfig: ['CONFIG_KCMP', 'CONFIG_EPOLL'], hint: 'enable CONFIG_KCMP (kernel 4.13 or later)', probe: sys.kcmpEpoll },
  { name: 'net_diag_raw', category: 'extra', summary: 'sock_diag answers for RAW sockets', kconfig: ['CONFIG_INET_RAW_DIAG', 'CONFIG_INET_DIAG'], hint: 'enable CONFIG_INET_RAW_DIAG or load raw_diag', needs: 'CAP_NET_RAW (to make the RAW socket looked for)', differsFromCriu: 'CRIU counts ENOENT as success, a false positive when CONFIG_INET_RAW_DIAG is off; we make a real RAW socket (INET, and INET6 where IPv6 is on), dump RAW sockets and look for ours by inode', probe: netlink.netDiagRaw },
  { name: 'clone3_set_tid', category: 'extra', summary: 'clone3 with set_tid', kconfig: [], hint: 'a kernel of 5.5 or later', differsFromCriu: 'under a seccomp filter we answer ENOSYS unknown: container runtimes\' default filters answer clone3 with ENOSYS on purpose', probe: sys.clone3SetTid },
  { name: 'timens', category: 'extra', summary: 'time namespaces', kconfig: ['CONFIG_TIME_NS'], hint: 'enable CONFIG_TIME_NS (kernel 5.6 or later)', probe: namespaces.timens },
  { name: 'newifindex', category: 'extra', summary: 'RTM_SETLINK with IFLA_NEW_IFINDEX', kconfig: [], hint: 'a kernel of 6.0 or later', needs: 'CAP_NET_ADMIN', probe: netlink.newifindex },
  { name: 'pidfd_store', category: 'extra', summary: 'pidfd_open and pidfd_getfd', kconfig: [], hint: 'a kernel of 5.6 or later', probe: sys.pidfdStore },
  { name: 'ns_pid', category: 'extra', summary: '/proc/self/status has NSpid', kconfig: ['CONFIG_PID_NS'], hint: 'a kernel of 4.1 or later', probe: namespaces.nsPid },
  { name: 'network_lock_nftables', category: 'extra', summary: 'nftables can make an inet table with a concatenated set', kconfig: ['CONFIG_NF_TABLES', 'CONFIG_NF_TABLES_INET'], hint: 'enable CONFIG_NF_TABLES and CONFIG_NF_TABLES_INET; install libnftables1', needs: 'CAP_SYS_ADMIN and CAP_NET_ADMIN, libnftables', differsFromCriu: 'without libnftables CRIU says unsupported; we answer unknown/MissingDependency (the kernel may well have it). We open a NETLINK_NETFILTER socket before libnftables does, since libnftables exits the process when it cannot', probe: netfilter.networkLockNftables },
  { name: 'sockopt_buf_lock', category: 'extra', summary: 'getsockopt SO_BUF_LOCK', kconfig: [], hint: 'a kernel of 5.14 or later', probe: sockets.sockoptBufLock },
  { name: 'memfd_hugetlb', category: 'extra', summary: 'memfd_create with MFD_HUGETLB', kconfig: ['CONFIG_HUGETLBFS', 'CONFIG_MEMFD_CREATE'], hint: 'enable CONFIG_HUGETLBFS', probe: sys.memfdHugetlb },
  { name: 'move_mount_set_group', category: 'extra', summary: 'move_mount with MOVE_MOUNT_SET_GROUP', kconfig: [], hint: 'a kernel of 5.15 or later', needs: 'CAP_SYS_ADMIN and CAP_SYS_CHROOT (to return from a private mount namespace)', differsFromCriu: 'CRIU mounts on the host\'s /tmp; we work in a private mount namespace, and also require mountinfo to show the target in the source\'s peer group', probe: mounts.moveMountSetGroup },
  { name: 'openat2', category: 'extra', summary: 'the openat2 system call', kconfig: [], hint: 'a kernel of 5.6 or later', probe: sys.openat2 },
  { name: 'get_rseq_conf', category: 'extra', summary: 'PTRACE_GET_RSEQ_CONFIGURATION', kconfig: ['CONFIG_RSEQ'], hint: 'enable CONFIG_RSEQ (kernel 5.13 or later)', needs: 'ptrace of its own child', differsFromCriu: 'the same test (flags 0), except that CRIU requires exactly 24 bytes back and we accept a larger answer (a later kernel\'s longer struct starts with the same fields) and answer unknown for a shorter one; CRIU counts any failure as missing, we count a refused ptrace (EPERM) as unknown', probe: ptrace.getRseqConf },
  { name: 'ipv6_freebind', category: 'extra', summary: 'IPV6_FREEBIND', kconfig: ['CONFIG_IPV6'], hint: 'enable CONFIG_IPV6 (kernel 4.15 or later)', probe: sockets.ipv6Freebind },
  { name: 'pagemap_scan', category: 'extra', summary: 'the PAGEMAP_SCAN ioctl', kconfig: ['CONFIG_PROC_PAGE_MONITOR'], hint: 'a kernel of 6.7 or later', differsFromCriu: 'CRIU scans an empty range; we scan two pages of our own and require the one written to be reported present', probe: memory.pagemapScan },
  { name: 'overlayfs_maps', category: 'extra', summary: 'overlayfs files show their real dev:ino in maps', kconfig: ['CONFIG_OVERLAY_FS'], hint: 'enable CONFIG_OVERLAY_FS (kernel 4.2 or later)', needs: 'CAP_SYS_ADMIN, CAP_SYS_CHROOT and CAP_DAC_OVERRIDE', differsFromCriu: 'CRIU passes when it cannot create a mount namespace; we answer unknown. CRIU mounts with fsopen (kernel 5.2 or later) and fails before; we mount with mount(2), so older kernels are really tested', probe: mounts.overlayfsMaps },
  { name: 'timer_cr_ids', category: 'extra', summary: 'prctl PR_TIMER_CREATE_RESTORE_IDS', kconfig: ['CONFIG_POSIX_TIMERS'], hint: 'a kernel of 6.17 or later', probe: sys.timerCrIds },
  { name: 'pagemap_scan_guard_pages', category: 'extra', summary: 'PAGEMAP_SCAN reports guard pages', kconfig: ['CONFIG_PROC_PAGE_MONITOR'], hint: 'a kernel of 6.15 or later', differsFromCriu: 'CRIU only checks that PAGEMAP_SCAN accepts PAGE_IS_GUARD; where MADV_GUARD_INSTALL works we also require the scan to report a guard page we installed', probe: memory.pagemapScanGuardPages },
  { name: 'apparmor_stacking', category: 'extra', summary: 'AppArmor namespace stacking, where AppArmor is active', kconfig: ['CONFIG_SECURITY_APPARMOR'], hint: 'an AppArmor with domain stacking (policy version 1.2 or later)', differsFromCriu: 'where AppArmor is not active, criu check --feature apparmor_stacking fails while its --extra run skips the check; we answer supported with reason NotApplicable. CRIU\'s version test (major >= 1 && minor >= 2) would refuse a 2.0; we compare the version as a whole', probe: lsm.apparmorStacking },

  // experimental: CRIU's category 3
  { name: 'autofs', category: 'experimental', summary: 'autofs mounts show pipe_ino in mountinfo', kconfig: ['CONFIG_AUTOFS_FS'], hint: 'enable CONFIG_AUTOFS_FS or load autofs4', needs: 'CAP_SYS_ADMIN and CAP_SYS_CHROOT (to return from a private mount namespace)', probe: mounts.autofs },
  { name: 'compat_cr', category: 'experimental', summary: '32-bit syscalls and a 32-bit vdso', kconfig: ['CONFIG_IA32_EMULATION'], hint: 'enable CONFIG_IA32_EMULATION (and ia32_emulation=1 on the kernel command line)', needs: 'ptrace of its own child', differsFromCriu: 'CRIU accepts EEXIST from ARCH_MAP_VDSO_32; we unmap the 64-bit vDSO in a traced child and map the 32-bit one for real, after CRIU\'s int 0x80 mmap2 test', probe: ptrace.compatCr },

  // advisory: checked and reported, never decides a level
  { name: 'breakpoints', category: 'advisory', summary: 'hardware breakpoints reach a traced child', kconfig: ['CONFIG_HAVE_HW_BREAKPOINT'], hint: 'hardware breakpoints are often missing in virtual machines; CRIU then falls back to slower stepping', needs: 'ptrace of its own child', differsFromCriu: 'CRIU takes any SIGTRAP; we require the stop at the breakpoint address with si_code TRAP_HWBKPT, so a trap of another kind is not mistaken for one', probe: ptrace.breakpoints },
  { name: 'tun', category: 'advisory', summary: '/dev/net/tun opens and TUNSETIFINDEX works', kconfig: ['CONFIG_TUN'], hint: 'enable CONFIG_TUN or load the tun module; give the container /dev/net/tun', needs: 'access to /dev/net/tun', differsFromCriu: 'CRIU fails when /dev/net/tun cannot be opened; a missing device node (a container without it) is unknown here, only a missing driver is unsupported', probe: sockets.tun },
  { name: 'tun_ns', category: 'advisory', summary: 'SIOCGSKNS on a tun device', kconfig: ['CONFIG_TUN', 'CONFIG_NET_NS'], hint: 'a kernel of 4.17 or later with CONFIG_TUN', needs: 'CAP_NET_ADMIN', differsFromCriu: 'CRIU fails when /dev/net/tun cannot be opened; we answer unknown (no device is no verdict on the ioctl). We also require the namespace returned to be our own', probe: sockets.tunNs },
  { name: 'sk_unix_file', category: 'advisory', summary: 'SIOCUNIXFILE on a unix socket', kconfig: ['CONFIG_UNIX'], hint: 'a kernel of 4.17 or later', needs: 'CAP_NET_ADMIN', probe: sockets.skUnixFile },
  { name: 'nsid', category: 'advisory', summary: 'RTM_GETNSID answers', kconfig: ['CONFIG_NET_NS'], hint: 'a kernel of 4.0 or later', probe: netlink.nsid },
  { name: 'link_nsid', category: 'advisory', summary: 'veth peers in other namespaces report IFLA_LINK_NETNSID', kconfig: ['CONFIG_VETH', 'CONFIG_NET_NS'], hint: 'enable CONFIG_VETH (kernel 4.0 or later)', needs: 'CAP_SYS_ADMIN and CAP_NET_ADMIN', probe: netlink.linkNsid },
  { name: 'external_net_ns', category: 'advisory', summary: 'external network namespaces (no kernel dependency)', kconfig: [], hint: '', probe: namespaces.externalNetNs },
  { name: 'nftables', category: 'advisory', summary: 'libnftables is installed', kconfig: ['CONFIG_NF_TABLES'], hint: 'install libnftables1', probe: netfilter.nftables },
  { name: 'has_ipt_legacy', category: 'advisory', summary: 'a legacy iptables-save is installed', kconfig: ['CONFIG_IP_NF_IPTABLES'], hint: 'install iptables with the legacy backend (iptables-legacy-save)', probe: netfilter.hasIptLegacy },
];

/** Every feature name, in catalogue order (for enums, --feature list and errors). */
export const FEATURE_NAMES: readonly string[] = CATALOGUE.map((f) => f.name);

const byName = new Map(CATALOGUE.map((f) => [f.name, f]));

export function findFeature(name: string): Feature | undefined {
  return byName.get(name);
}
