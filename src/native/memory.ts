// Anonymous mappings handled by address (a number), and the structures of
// PAGEMAP_SCAN, for the memory probes.
import * as libc from './libc.js';
import {
  SYS,
  PROT_READ,
  PROT_WRITE,
  MAP_PRIVATE,
  MAP_ANONYMOUS,
  MAP_FAILED,
  MREMAP_MAYMOVE,
  MREMAP_FIXED,
  PM_SCAN_ARG_SIZE,
  PAGE_REGION_SIZE,
} from './constants.js';

/** A private anonymous read-write mapping of `len` bytes; the address, or the errno. */
export function mapAnonymous(len: number): { addr: number; errno: number } {
  const res = libc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return res.ret === MAP_FAILED ? { addr: 0, errno: res.errno } : { addr: res.ret, errno: 0 };
}

export function madvise(addr: number, len: number, advice: number): libc.SysResult {
  return libc.syscall(SYS.madvise, ['long', addr], ['long', len], ['int', advice]);
}

/** mremap(old, len, len, MREMAP_FIXED|MREMAP_MAYMOVE, target): move a mapping onto `target`. */
export function moveMapping(from: number, len: number, target: number): libc.SysResult {
  return libc.syscall(
    SYS.mremap,
    ['long', from],
    ['long', len],
    ['long', len],
    ['int', MREMAP_FIXED | MREMAP_MAYMOVE],
    ['long', target],
  );
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
