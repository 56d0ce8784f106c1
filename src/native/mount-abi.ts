// x86-64 constants of the mount API and of file mappings, for the mount probes
// (include/uapi/linux/mount.h, asm-generic/mman-common.h, asm-generic/fcntl.h).
export { PROT_READ, PROT_WRITE, MAP_SHARED, PAGE_SIZE } from './constants.js';

/** mount(2) flags. */
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SHARED = 0x100000;

/** umount2(2): detach now, free when no longer busy. */
export const MNT_DETACH = 2;

/** move_mount(2): make the target join the source's peer group instead of moving it. */
export const MOVE_MOUNT_SET_GROUP = 0x100;

/** open(2) flags for a handle on a directory that is not opened for reading. */
export const O_DIRECTORY = 0o200000;
export const O_PATH = 0o10000000;

/** mmap(2). */

/** Capability numbers (linux/capability.h): unshare and setns of a mount namespace need both. */
export const CAP_SYS_CHROOT = 18;
export const CAP_SYS_ADMIN = 21;
