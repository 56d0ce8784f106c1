// Checks of single system calls and prctl interfaces.
import { accessSync, readFileSync } from 'node:fs';
import * as libc from '../native/libc.js';
import {
  SYS,
  errno as E,
  O_RDWR,
  O_NOCTTY,
  PR_GET_TID_ADDRESS,
  PR_SET_MM,
  PR_SET_MM_MAP_SIZE,
  PR_SET_MM_BRK,
  PR_SET_MM_EXE_FILE,
  PR_SET_MM_AUXV,
  SPLICE_F_GIFT,
  SPLICE_F_NONBLOCK,
  TIOCSPTLCK,
  TIOCGPTN,
  SIGURG,
  SIGINFO_SIZE,
  SIGINFO_CODE_OFFSET,
  IOVEC_SIZE,
  IOVEC_BASE_OFFSET,
  IOVEC_LEN_OFFSET,
  KCMP_EPOLL_TFD,
  AF_UNIX,
  SOCK_DGRAM,
  SIGKILL,
  __WALL,
  INT_SIZE,
  POINTER_SIZE,
  CLOCK_MONOTONIC,
  TFD_IOC_SET_TICKS,
  MFD_HUGETLB,
  PR_TIMER_CREATE_RESTORE_IDS,
  PR_TIMER_CREATE_RESTORE_IDS_GET,
  AT_FDCWD,
  CLONE_ARGS_SIZE_VER1,
  CLONE_ARGS_SET_TID_OFFSET,
  CLONE_ARGS_SET_TID_SIZE_OFFSET,
  KCMP_EPOLL_SLOT_SIZE,
  KCMP_EPOLL_SLOT_EFD_OFFSET,
  KCMP_EPOLL_SLOT_TFD_OFFSET,
} from '../native/constants.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, fromExistenceTest, fromFsError, missingSyscall, errnoName } from './outcome.js';
import { epollWithTarget, withFds } from './fds.js';

export function kcmp(): ProbeOutcome {
  // Comparing nothing: any error but ENOSYS shows the call exists (EPERM may be a filter's, hiding it).
  const res = libc.syscall(SYS.kcmp, ['int', process.pid], ['int', -1], ['int', -1], ['long', -1], ['long', -1]);
  return res.ret < 0 ? fromExistenceTest(res.errno, 'System call kcmp is not supported') : supported();
}

/** PR_SET_MM_MAP_SIZE: the kernel writes the size of struct prctl_mm_map. */
function prctlMapSize(): libc.SysResult {
  return libc.prctl(PR_SET_MM, ['long', PR_SET_MM_MAP_SIZE], ['void *', Buffer.alloc(INT_SIZE)]);
}

export function prctl(): ProbeOutcome {
  const tid = libc.prctl(PR_GET_TID_ADDRESS, ['void *', Buffer.alloc(POINTER_SIZE)]);
  if (tid.ret !== 0) return fromErrno(tid.errno, 'prctl: PR_GET_TID_ADDRESS is not supported');

  if (prctlMapSize().ret === 0) return supported('PR_SET_MM_MAP');

  // The older, field-by-field interface; it needs CAP_SYS_RESOURCE.
  const brk = libc.syscall(SYS.brk, ['long', 0]);
  const setBrk = libc.prctl(PR_SET_MM, ['long', PR_SET_MM_BRK], ['long', brk.ret]);
  if (setBrk.ret !== 0) {
    if (setBrk.errno === E.EPERM)
      return unknown('PermissionDenied', 'prctl: One needs CAP_SYS_RESOURCE capability to perform testing');
    return fromErrno(setBrk.errno, 'prctl: PR_SET_MM is not supported');
  }
  const exe = libc.prctl(PR_SET_MM, ['long', PR_SET_MM_EXE_FILE], ['long', -1]);
  if (exe.errno !== E.EBADF) return fromErrno(exe.errno, 'prctl: PR_SET_MM_EXE_FILE is not supported');
  // Write back the auxv we already have, so nothing changes.
  const auxv = readFileSync('/proc/self/auxv');
  const setAuxv = libc.prctl(PR_SET_MM, ['long', PR_SET_MM_AUXV], ['void *', auxv], ['long', auxv.length]);
  if (setAuxv.ret !== 0) return fromErrno(setAuxv.errno, 'prctl: PR_SET_MM_AUXV is not supported');
  return supported('PR_SET_MM (older interface)');
}

export function unalignedVmsplice(): ProbeOutcome {
  const fds = [0, 0];
  const made = libc.pipe2(fds, 0);
  if (made.ret !== 0) return fromErrno(made.errno, "Can't create pipe");
  try {
    const data = Buffer.alloc(2);
    const iov = Buffer.alloc(IOVEC_SIZE);
    iov.writeBigUInt64LE(libc.addressOf(data) + 1n, IOVEC_BASE_OFFSET); // one byte, off its alignment
    iov.writeBigUInt64LE(1n, IOVEC_LEN_OFFSET);
    const res = libc.syscall(
      SYS.vmsplice,
      ['int', fds[1]],
      ['void *', iov],
      ['long', 1],
      ['int', SPLICE_F_GIFT | SPLICE_F_NONBLOCK],
    );
    return res.ret < 0 ? fromErrno(res.errno, "Unaligned vmsplice doesn't work") : supported();
  } finally {
    fds.forEach((fd) => libc.close(fd));
  }
}

export function tty(): ProbeOutcome {
  const master = libc.open('/dev/ptmx', O_RDWR | O_NOCTTY, 0);
  if (master.ret < 0) {
    if (master.errno === E.ENOENT || master.errno === E.ENODEV || master.errno === E.ENXIO) {
      return unknown('DeviceUnavailable', `Can't open /dev/ptmx: ${errnoName(master.errno)}`);
    }
    return fromErrno(master.errno, "Can't open /dev/ptmx");
  }
  try {
    const lock = Buffer.alloc(INT_SIZE);
    lock.writeInt32LE(1);
    const locked = libc.ioctlPtr(master.ret, TIOCSPTLCK, lock);
    if (locked.ret < 0) return fromErrno(locked.errno, 'Unable to lock pty device');
    const ptyNumber = Buffer.alloc(INT_SIZE);
    const numbered = libc.ioctlPtr(master.ret, TIOCGPTN, ptyNumber);
    if (numbered.ret < 0) return fromErrno(numbered.errno, "Can't get pty number");
    const slave = libc.open(`/dev/pts/${ptyNumber.readInt32LE()}`, O_RDWR | O_NOCTTY, 0);
    if (slave.ret >= 0) {
      libc.close(slave.ret);
      return unsupported('Unable to detect tty lock: the locked slave opened');
    }
    if (slave.errno !== E.EIO) return fromErrno(slave.errno, 'Unable to detect tty lock');
    return supported();
  } finally {
    libc.close(master.ret);
  }
}

export function sigqueueinfo(): ProbeOutcome {
  const info = Buffer.alloc(SIGINFO_SIZE);
  info.writeInt32LE(1, SIGINFO_CODE_OFFSET); // a positive si_code: only allowed to oneself
  const res = libc.syscall(SYS.rt_sigqueueinfo, ['int', process.pid], ['int', SIGURG], ['void *', info]);
  return res.ret < 0 ? fromErrno(res.errno, 'Unable to send siginfo') : supported();
}

export function prctlSetMmMap(): ProbeOutcome {
  const res = prctlMapSize();
  return res.ret === 0
    ? supported('PR_SET_MM_MAP')
    : fromErrno(res.errno, 'prctl: PR_SET_MM_MAP_SIZE is not supported');
}

export function userns(): ProbeOutcome {
  // Asked with the error kept: a refused access() (a filter) is no missing file.
  try {
    accessSync('/proc/self/ns/user');
  } catch (err) {
    return fromFsError(err, 'No userns proc file');
  }
  const res = prctlMapSize();
  return res.ret === 0 ? supported() : fromErrno(res.errno, 'prctl: PR_SET_MM_MAP_SIZE is not supported');
}

export function timerfd(): ProbeOutcome {
  const fd = libc.syscall(SYS.timerfd_create, ['int', CLOCK_MONOTONIC], ['int', 0]);
  if (fd.ret < 0) return fromErrno(fd.errno, 'timerfd_create failed');
  try {
    // A NULL tick count: a kernel that knows the ioctl faults on reading it.
    const res = libc.ioctlPtr(fd.ret, TFD_IOC_SET_TICKS, null);
    if (res.ret < 0 && res.errno === E.EFAULT) return supported();
    if (res.ret < 0) return fromErrno(res.errno, 'No timerfd support for c/r');
    return unknown('UnexpectedResult', 'TFD_IOC_SET_TICKS accepted a NULL tick count');
  } finally {
    libc.close(fd.ret);
  }
}

export function kcmpEpoll(): ProbeOutcome {
  return withFds({ make: epollWithTarget, what: "Can't create epoll" }, ([epollFd, targetFd]) => {
    const slot = Buffer.alloc(KCMP_EPOLL_SLOT_SIZE);
    slot.writeUInt32LE(epollFd, KCMP_EPOLL_SLOT_EFD_OFFSET);
    slot.writeUInt32LE(targetFd, KCMP_EPOLL_SLOT_TFD_OFFSET); // toff 0: the first registration of that fd
    const res = libc.syscall(
      SYS.kcmp,
      ['int', process.pid],
      ['int', process.pid],
      ['int', KCMP_EPOLL_TFD],
      ['long', targetFd],
      ['void *', slot],
    );
    if (res.ret === 0) return supported();
    if (res.ret < 0) return fromErrno(res.errno, 'kcmp: KCMP_EPOLL_TFD is not supported');
    return unknown('UnexpectedResult', `kcmp: KCMP_EPOLL_TFD says the epoll target differs from itself (${res.ret})`);
  });
}

export function clone3SetTid(): ProbeOutcome {
  // set_tid given with set_tid_size 0: a kernel that reads set_tid refuses
  // the pair (EINVAL); one with only the 64-byte clone_args refuses the
  // longer struct (E2BIG); one without clone3 has no such call (ENOSYS).
  const args = Buffer.alloc(CLONE_ARGS_SIZE_VER1);
  args.writeBigInt64LE(-1n, CLONE_ARGS_SET_TID_OFFSET);
  args.writeBigUInt64LE(0n, CLONE_ARGS_SET_TID_SIZE_OFFSET);
  const res = libc.syscall(SYS.clone3, ['void *', args], ['long', CLONE_ARGS_SIZE_VER1]);
  if (res.ret >= 0) return unexpectedClone(res.ret);
  if (res.errno === E.EINVAL) return supported();
  if (res.errno === E.E2BIG) return unsupported('clone3() with set_tid not supported (E2BIG)');
  if (res.errno === E.ENOSYS) return missingSyscall('clone3() with set_tid not supported (ENOSYS)');
  if (res.errno === E.EPERM || res.errno === E.EACCES) return fromErrno(res.errno, 'clone3()');
  return unknown('UnexpectedResult', `Unexpected error from clone3: ${errnoName(res.errno)}`);
}

/** No kernel lets that clone3 succeed; if one did, the copy must vanish at once. */
function unexpectedClone(pid: number): ProbeOutcome {
  if (pid === 0) libc.syscall(SYS.exit_group, ['int', 0]); // the copy of this process: leave without running anything
  libc.kill(pid, SIGKILL);
  libc.waitpid(pid, [0], __WALL);
  return unknown('UnexpectedResult', 'Unexpected success: clone3() made a process');
}

/** The value pidfd_store sends through the socket pair, as CRIU does. */
const PIDFD_PROBE_VALUE = 1984;

export function pidfdStore(): ProbeOutcome {
  // Node learns its pid from getpid(); a refused getpid leaves -1, which pidfd_open would call invalid.
  if (process.pid <= 0)
    return unknown('UnexpectedResult', `this process could not learn its own pid (${process.pid}): getpid was refused`);
  const pair = [0, 0];
  const made = libc.socketpair(AF_UNIX, SOCK_DGRAM, 0, pair);
  if (made.ret !== 0) return fromErrno(made.errno, "Can't open unix socket pair");
  const opened: number[] = [...pair];
  try {
    const pidfd = libc.syscall(SYS.pidfd_open, ['int', process.pid], ['int', 0]);
    if (pidfd.ret < 0) return fromErrno(pidfd.errno, 'Pidfd store requires pidfd_open syscall which is not supported');
    opened.push(pidfd.ret);
    const stolen = libc.syscall(SYS.pidfd_getfd, ['int', pidfd.ret], ['int', pair[1]], ['int', 0]);
    if (stolen.ret < 0)
      return fromErrno(stolen.errno, 'Pidfd store requires pidfd_getfd syscall which is not supported');
    opened.push(stolen.ret);
    // The stolen descriptor must be the same socket: what one end sends, it receives.
    const sent = Buffer.alloc(INT_SIZE);
    sent.writeInt32LE(PIDFD_PROBE_VALUE);
    if (libc.write(pair[0], sent, sent.length).ret !== sent.length)
      return unknown('UnexpectedResult', "Can't write to socket");
    const received = Buffer.alloc(INT_SIZE);
    const got = libc.read(stolen.ret, received, received.length);
    if (got.ret !== received.length || received.readInt32LE() !== PIDFD_PROBE_VALUE) {
      return unknown('UnexpectedResult', 'Unexpected value read from socket');
    }
    return supported();
  } finally {
    opened.forEach((fd) => libc.close(fd));
  }
}

export function memfdHugetlb(): ProbeOutcome {
  // Succeeds even with no huge pages reserved: pages are only taken on use.
  const fd = libc.syscall(SYS.memfd_create, ['void *', Buffer.from('\0')], ['int', MFD_HUGETLB]);
  if (fd.ret >= 0) {
    libc.close(fd.ret);
    return supported();
  }
  // ENOENT: no hugetlbfs mount for the default huge page size.
  if (fd.errno === E.ENOENT) return unsupported('memfd_create("", MFD_HUGETLB): ENOENT');
  return fromErrno(fd.errno, 'memfd_create("", MFD_HUGETLB)');
}

export function openat2(): ProbeOutcome {
  // No open_how at all: a kernel with openat2 refuses it (EFAULT/EINVAL), one without says ENOSYS.
  const res = libc.syscall(
    SYS.openat2,
    ['int', AT_FDCWD],
    ['void *', Buffer.from('.\0')],
    ['void *', null],
    ['long', 0],
  );
  if (res.ret >= 0) {
    libc.close(res.ret);
    return unknown('UnexpectedResult', 'openat2 should fail');
  }
  return fromExistenceTest(res.errno, 'No openat2 syscall support');
}

export function timerCrIds(): ProbeOutcome {
  const res = libc.prctl(PR_TIMER_CREATE_RESTORE_IDS, ['long', PR_TIMER_CREATE_RESTORE_IDS_GET]);
  if (res.ret >= 0) return supported();
  if (res.errno === E.EINVAL) return unsupported("PR_TIMER_CREATE_RESTORE_IDS isn't supported");
  if (res.errno === E.EPERM || res.errno === E.EACCES)
    return fromErrno(res.errno, 'prctl(PR_TIMER_CREATE_RESTORE_IDS)');
  return unknown('UnexpectedResult', `prctl returned unexpected error code: ${errnoName(res.errno)}`);
}
