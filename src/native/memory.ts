// Memory bindings and x86-64 constants for the memory probes: anonymous
// mappings handled by address (a number), plus the kernel structures of
// PAGEMAP_SCAN, userfaultfd and AIO. Named as in the kernel headers.
import * as libc from './libc.js';
import { SYS, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MREMAP_MAYMOVE, MREMAP_FIXED } from './constants.js';
export { PAGE_SIZE, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MREMAP_MAYMOVE, MREMAP_FIXED } from './constants.js';


/** mmap's MAP_FAILED, as the number our binding returns. */
export const MAP_FAILED = -1;
/** madvise(2): turn a range into guard pages (6.13+). */
export const MADV_GUARD_INSTALL = 102;

/** System calls not in constants.ts. */
export const SYS_madvise = 28;
export const SYS_io_destroy = 207;

/** /proc/PID/pagemap: one u64 per page; bit 55 is soft-dirty. */
export const PAGEMAP_ENTRY_SIZE = 8;
export const PM_SOFT_DIRTY = 1n << 55n;
/** What /proc/PID/clear_refs takes to clear the soft-dirty bits. */
export const CLEAR_REFS_SOFT_DIRTY = '4';

/** ioctl(PAGEMAP_SCAN) = _IOWR('f', 16, struct pm_scan_arg). */
export const PAGEMAP_SCAN = 0xc0606610;
/** struct pm_scan_arg: twelve u64 fields. */
export const PM_SCAN_ARG_SIZE = 96;
/** struct page_region: start, end, categories (three u64). */
export const PAGE_REGION_SIZE = 24;
export const PAGE_IS_PRESENT = 1n << 3n;
export const PAGE_IS_GUARD = 1n << 8n;

/** userfaultfd(2) and its handshake. */
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

/** How many events the probe's AIO context is set up for (CRIU uses 16). */
export const AIO_NR_EVENTS = 16;
/** aio_context_t: the unsigned long io_setup writes the context id (its ring's address) to. */
export const AIO_CONTEXT_SIZE = 8;

const rawMemset = libc.libcFunction('unsigned long memset(unsigned long dst, int c, unsigned long n)');

/** Write `len` bytes of `value` at `addr` (memory the caller mapped): makes the pages present and dirty. */
export function fill(addr: number, value: number, len: number): void {
  rawMemset(addr, value, len);
}

/** A private anonymous read-write mapping of `len` bytes; the address, or the errno. */
export function mapAnonymous(len: number): { addr: number; errno: number } {
  const res = libc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return res.ret === MAP_FAILED ? { addr: 0, errno: res.errno } : { addr: res.ret, errno: 0 };
}

/**
 * Map `len` anonymous bytes, hand the address to `use` (or the errno when
 * mmap failed), unmap on every path.
 */
export function withMapping<T>(len: number, use: (addr: number) => T, failed: (errno: number) => T): T {
  const map = mapAnonymous(len);
  if (map.errno) return failed(map.errno);
  try {
    return use(map.addr);
  } finally {
    libc.munmap(map.addr, len);
  }
}

export function madvise(addr: number, len: number, advice: number): libc.SysResult {
  return libc.syscall(SYS_madvise, ['long', addr], ['long', len], ['int', advice]);
}

/** mremap(old, len, len, MREMAP_FIXED|MREMAP_MAYMOVE, target): move a mapping onto `target`. */
export function moveMapping(from: number, len: number, target: number): libc.SysResult {
  return libc.syscall(SYS.mremap, ['long', from], ['long', len], ['long', len], ['int', MREMAP_FIXED | MREMAP_MAYMOVE], ['long', target]);
}

/** A struct pm_scan_arg for the range [start, end); the kernel writes page_regions into `vec`. */
export function pmScanArg(start: number, end: number, vec: Buffer, masks: { anyof: bigint; ret: bigint }): Buffer {
  const arg = Buffer.alloc(PM_SCAN_ARG_SIZE);
  const fields = [
    BigInt(PM_SCAN_ARG_SIZE), // size
    0n, // flags
    BigInt(start),
    BigInt(end),
    0n, // walk_end (out)
    libc.addressOf(vec),
    BigInt(vec.length / PAGE_REGION_SIZE), // vec_len, in regions
    0n, // max_pages: no limit
    0n, // category_inverted
    0n, // category_mask
    masks.anyof, // category_anyof_mask
    masks.ret, // return_mask
  ];
  fields.forEach((value, i) => arg.writeBigUInt64LE(value, i * 8));
  return arg;
}

/** One struct page_region from a PAGEMAP_SCAN answer. */
export interface PageRegion {
  start: number;
  end: number;
  categories: bigint;
}

export function pageRegion(vec: Buffer, index: number): PageRegion {
  const at = index * PAGE_REGION_SIZE;
  return {
    start: Number(vec.readBigUInt64LE(at)),
    end: Number(vec.readBigUInt64LE(at + 8)),
    categories: vec.readBigUInt64LE(at + 16),
  };
}
