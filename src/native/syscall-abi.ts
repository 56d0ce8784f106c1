// x86-64 constants and struct layouts of the single-syscall probes, named as
// in the kernel headers. Kept beside constants.ts so that file stays small.

/** timerfd: CLOCK_MONOTONIC and TFD_IOC_SET_TICKS = _IOW('T', 0, u64). */
export const CLOCK_MONOTONIC = 1;
export const TFD_IOC_SET_TICKS = 0x40085400;

/** memfd_create(2) flag asking for hugetlbfs backing. */
export const MFD_HUGETLB = 4;

/** prctl(2) PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17) and its GET operation. */
export const PR_TIMER_CREATE_RESTORE_IDS = 77;
export const PR_TIMER_CREATE_RESTORE_IDS_GET = 2;

/** openat2(2) takes a directory fd; AT_FDCWD is the current directory. */
export const AT_FDCWD = -100;

/**
 * struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1): ten u64
 * fields. A kernel that knows only VER0 (64 bytes) refuses it with E2BIG.
 */
export const CLONE_ARGS_SIZE_VER1 = 80;
export const CLONE_ARGS_SET_TID_OFFSET = 64;
export const CLONE_ARGS_SET_TID_SIZE_OFFSET = 72;

/** struct kcmp_epoll_slot { u32 efd, tfd, toff }. */
export const KCMP_EPOLL_SLOT_SIZE = 12;
export const KCMP_EPOLL_SLOT_EFD_OFFSET = 0;
export const KCMP_EPOLL_SLOT_TFD_OFFSET = 4;

/** exit_group(2), for the child of a clone3 that should never have succeeded. */
export const SYS_exit_group = 231;

/** clone(2): the raw system call, flags first (x86-64 argument order: flags, newsp, parent_tid, child_tid, tls). */
export const SYS_clone = 56;
export const SYS_exit = 60;

/**
 * Code run inside a tracee for clone_parent_vs_pid: a clone whose child
 * exits at once with 0 (CRIU's clone_cb does exit(0)), while the caller
 * jumps over that to an int3 that hands it back to the tracer.
 *   syscall; test rax, rax; jnz +9; mov eax, SYS_exit; xor edi, edi; syscall; int3
 */
export const CLONE_CHILD_EXITS_CODE = Buffer.from([
  0x0f, 0x05,
  0x48, 0x85, 0xc0,
  0x75, 0x09,
  0xb8, SYS_exit, 0x00, 0x00, 0x00,
  0x31, 0xff,
  0x0f, 0x05,
  0xcc,
]);
