// Checks of memory tracking and remapping: soft-dirty bits, AIO rings,
// userfaultfd and PAGEMAP_SCAN. Each maps its own anonymous pages and unmaps
// them on every path.
import { readSync, writeSync } from 'node:fs';
import * as libc from '../native/libc.js';
import {
  SYS,
  O_CLOEXEC,
  O_RDONLY,
  O_WRONLY,
  errno as E,
  PAGE_SIZE,
  PAGEMAP_ENTRY_SIZE,
  PM_SOFT_DIRTY,
  CLEAR_REFS_SOFT_DIRTY,
  PAGEMAP_SCAN,
  PAGE_REGION_SIZE,
  PAGE_IS_PRESENT,
  PAGE_IS_GUARD,
  MADV_GUARD_INSTALL,
  UFFDIO_API,
  UFFD_API,
  UFFDIO_API_SIZE,
  UFFDIO_API_API_OFFSET,
  UFFDIO_API_FEATURES_OFFSET,
  UFFD_FEATURE_EVENT_FORK,
  UFFD_FEATURE_EVENT_REMAP,
  UFFD_FEATURE_EVENT_REMOVE,
  UFFD_FEATURE_EVENT_UNMAP,
  AIO_CONTEXT_SIZE,
  CAPABILITIES,
} from '../native/constants.js';
import { mapAnonymous, madvise, moveMapping, pmScanArg, pageRegion, type PageRegion } from '../native/memory.js';
import { hasCapability, mappingAt, seccompMode } from '../native/procfs.js';
import { stop, supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, fromFsError } from './outcome.js';
import { withMapping, withProcFile } from './resources.js';

/** How many events the probe's AIO context is set up for (CRIU uses 16). */
const AIO_NR_EVENTS = 16;

export function memDirtyTrack(): ProbeOutcome {
  return withMapping({ len: PAGE_SIZE }, (page) => {
    // Clearing soft-dirty bits applies to the whole runner process: its pages
    // lose the bit and each takes one extra minor fault at its next write.
    // Harmless to the runner, and no one else tracks its memory.
    withProcFile({ name: 'clear_refs', flags: O_WRONLY }, (fd) => {
      try {
        writeSync(fd, CLEAR_REFS_SOFT_DIRTY);
      } catch (err) {
        // EINVAL: the kernel has no soft-dirty clearing (CONFIG_MEM_SOFT_DIRTY off).
        stop(fromFsError(err, "Can't reset dirty memory tracker"));
      }
    });
    libc.memset(page, 1, 1); // a write after the clear must mark the page soft-dirty
    return withProcFile({ name: 'pagemap', flags: O_RDONLY }, (fd) => {
      const entry = Buffer.alloc(PAGEMAP_ENTRY_SIZE);
      const got = readSync(fd, entry, 0, PAGEMAP_ENTRY_SIZE, (page / PAGE_SIZE) * PAGEMAP_ENTRY_SIZE);
      if (got !== PAGEMAP_ENTRY_SIZE)
        return unknown('UnexpectedResult', `pagemap gave ${got} of the ${PAGEMAP_ENTRY_SIZE} bytes of an entry`);
      if (entry.readBigUInt64LE() & PM_SOFT_DIRTY) return supported();
      return unsupported(
        'Dirty tracking is OFF. Memory snapshot will not work. (no soft-dirty ' +
          'bit in pagemap on a page written after clear_refs)',
      );
    });
  });
}

/** The length of the mapping that starts at `addr`, if /proc/self/maps shows it as an AIO ring. */
function aioRingLength(addr: number): number {
  const ring = mappingAt(addr);
  return ring?.name === '/[aio] (deleted)' ? Number(ring.end - ring.start) : 0;
}

export function aioRemap(): ProbeOutcome {
  const context = Buffer.alloc(AIO_CONTEXT_SIZE);
  const setup = libc.syscall(SYS.io_setup, ['long', AIO_NR_EVENTS], ['void *', context]);
  if (setup.ret < 0) return fromErrno(setup.errno, 'No AIO syscall');
  // The context id is the address of its ring; after the move it is the new address.
  let ring = Number(context.readBigUInt64LE());
  let len = 0;
  try {
    len = aioRingLength(ring);
    if (!len) return unsupported('No AIO ring at expected location');
    const target = mapAnonymous(len);
    if (target.errno) return fromErrno(target.errno, "Can't find place for new AIO ring");
    const moved = moveMapping(ring, len, target.addr);
    if (moved.ret < 0) {
      libc.munmap(target.addr, len);
      return fromErrno(moved.errno, "Can't remap AIO ring");
    }
    ring = target.addr;
    const events = libc.syscall(
      SYS.io_getevents,
      ['long', ring],
      ['long', 0],
      ['long', 1],
      ['void *', null],
      ['void *', null],
    );
    return events.ret < 0 ? fromErrno(events.errno, "AIO remap doesn't work properly") : supported();
  } finally {
    // io_destroy unmaps the ring, but waits out an RCU grace period:
    // it runs in the background. A kernel that lost the ring in the move
    // cannot destroy it by either address: unmap it, and the context goes
    // with the runner process.
    const movedRing = ring;
    void libc.syscallInBackground(SYS.io_destroy, movedRing).then((ret) => {
      if (ret < 0 && len) libc.munmap(movedRing, len);
    });
  }
}

/**
 * Why userfaultfd was refused: the capability it needs while
 * vm.unprivileged_userfaultfd is 0, or, when that is held, what else refuses
 * (a container's seccomp profile allows userfaultfd to no one).
 */
function uffdRefusal(): string {
  if (!hasCapability(CAPABILITIES.CAP_SYS_PTRACE))
    return 'it needs CAP_SYS_PTRACE unless vm.unprivileged_userfaultfd=1';
  const held = 'refused with the capability it needs held';
  const mode = seccompMode();
  return mode === '0'
    ? `${held}: an LSM may refuse it`
    : `${held}: this process runs under seccomp mode ${mode}, whose filter may refuse it`;
}

/**
 * userfaultfd(2) and the UFFDIO_API handshake, as CRIU opens it: without
 * UFFD_USER_MODE_ONLY, because lazy restore must also catch faults the
 * kernel takes on a process's behalf. The features offered; a failure ends
 * the probe.
 */
function uffdFeatures(): bigint {
  const uffd = libc.syscall(SYS.userfaultfd, ['int', O_CLOEXEC]);
  if (uffd.ret < 0) {
    if (uffd.errno === E.EPERM)
      stop(unknown('PermissionDenied', `Lazy pages are not permitted: userfaultfd: EPERM (${uffdRefusal()})`));
    stop(fromErrno(uffd.errno, 'UFFD is not supported: userfaultfd'));
  }
  try {
    const api = Buffer.alloc(UFFDIO_API_SIZE);
    api.writeBigUInt64LE(UFFD_API, UFFDIO_API_API_OFFSET);
    const res = libc.ioctlPtr(uffd.ret, UFFDIO_API, api);
    if (res.ret < 0) stop(fromErrno(res.errno, 'Failed to get uffd API'));
    const given = api.readBigUInt64LE(UFFDIO_API_API_OFFSET);
    if (given !== UFFD_API) stop(unsupported(`Incompatible uffd API: expected ${UFFD_API}, got ${given}`));
    return api.readBigUInt64LE(UFFDIO_API_FEATURES_OFFSET);
  } finally {
    libc.close(uffd.ret);
  }
}

export function uffd(): ProbeOutcome {
  return supported(`features 0x${uffdFeatures().toString(16)}`);
}

/** What CRIU's lazy restore needs beyond the handshake (its NEED_UFFD_API_FEATURES). */
const NONCOOPERATIVE_FEATURES =
  UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;

export function uffdNoncoop(): ProbeOutcome {
  const missing = NONCOOPERATIVE_FEATURES & ~uffdFeatures();
  if (missing) return unsupported(`Non-cooperative UFFD is not supported: features 0x${missing.toString(16)} missing`);
  return supported();
}

/**
 * ioctl(PAGEMAP_SCAN) over [start, start+len) for pages in any of the
 * categories of `mask`, reporting those categories: the regions found. A
 * refusal ends the probe.
 */
function pagemapScanRange(start: number, len: number, mask: bigint, what: string): PageRegion[] {
  return withProcFile({ name: 'pagemap', flags: O_RDONLY }, (fd) => {
    const vec = Buffer.alloc((len / PAGE_SIZE) * PAGE_REGION_SIZE); // at most one region per page
    const res = libc.ioctlPtr(fd, PAGEMAP_SCAN, pmScanArg(start, start + len, vec, { anyof: mask, ret: mask }));
    // EINVAL or ENOTTY: no PAGEMAP_SCAN, or not for these categories.
    if (res.ret < 0) stop(fromErrno(res.errno, what));
    return Array.from({ length: res.ret }, (_, i) => pageRegion(vec, i));
  });
}

export function pagemapScan(): ProbeOutcome {
  return withMapping({ len: 2 * PAGE_SIZE }, (addr) => {
    libc.memset(addr, 1, PAGE_SIZE); // the first page present, the second never touched
    const regions = pagemapScanRange(addr, 2 * PAGE_SIZE, PAGE_IS_PRESENT, "PAGEMAP_SCAN isn't supported");
    const [first] = regions;
    if (first && first.start === addr && first.categories & PAGE_IS_PRESENT) return supported();
    return unknown('UnexpectedResult', `PAGEMAP_SCAN did not report the present page (${regions.length} regions)`);
  });
}

export function pagemapScanGuardPages(): ProbeOutcome {
  return withMapping({ len: 2 * PAGE_SIZE }, (addr) => {
    const guard = madvise(addr, PAGE_SIZE, MADV_GUARD_INSTALL);
    // EINVAL: a kernel before 6.13, where no process can have guard pages.
    if (guard.ret < 0 && guard.errno !== E.EINVAL)
      return fromErrno(guard.errno, 'madvise failed (has_madv_guard check)');
    const regions = pagemapScanRange(
      addr,
      2 * PAGE_SIZE,
      PAGE_IS_GUARD,
      "ioctl(PAGEMAP_SCAN) doesn't support PAGE_IS_GUARD flag",
    );
    // CRIU's test: the kernel accepts PAGE_IS_GUARD. Without guard pages there is nothing more to see.
    if (guard.ret < 0) return supported('PAGE_IS_GUARD is accepted; this kernel has no MADV_GUARD_INSTALL');
    const [first] = regions;
    if (
      regions.length === 1 &&
      first.start === addr &&
      first.end === addr + PAGE_SIZE &&
      first.categories & PAGE_IS_GUARD
    ) {
      return supported('PAGEMAP_SCAN reported the guard page');
    }
    return unsupported('ioctl(PAGEMAP_SCAN) accepts PAGE_IS_GUARD but did not report the guard page');
  });
}
