// x86-64 constants of the mount API and of file mappings, for the mount probes
// (include/uapi/linux/mount.h, asm-generic/mman-common.h, asm-generic/fcntl.h).
export { PROT_READ, PROT_WRITE, MAP_SHARED, PAGE_SIZE } from './constants.js';

/** mount(2) flags. */
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SHARED = 0x100000;

/** move_mount(2): make the target join the source's peer group instead of moving it. */
export const MOVE_MOUNT_SET_GROUP = 0x100;

/** open(2) flags for a handle on a directory that is not opened for reading. */
export const O_DIRECTORY = 0o200000;
export const O_PATH = 0o10000000;

/** Capability numbers (linux/capability.h): unshare and setns of a mount namespace need both. */
export const CAP_SYS_CHROOT = 18;
export const CAP_SYS_ADMIN = 21;

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
/** The minor's high bits: 32 bits of (dev >> 12) above the low byte, as glibc's gnu_dev_minor (not the major's bits above them). */
const DEV_MINOR_HIGH_MASK = 0xffffff00n;

/** Major and minor of a dev_t as stat() returns it. */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> DEV_MAJOR_LOW_SHIFT) & DEV_MAJOR_LOW_MASK) | ((dev >> DEV_MAJOR_HIGH_SHIFT) & ~DEV_MAJOR_LOW_MASK);
  const minor = (dev & DEV_MINOR_LOW_MASK) | ((dev >> DEV_MINOR_HIGH_SHIFT) & DEV_MINOR_HIGH_MASK);
  return { major: Number(major), minor: Number(minor) };
}
