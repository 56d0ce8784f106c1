// Checks of single system calls and prctl interfaces.
import { readFileSync } from 'node:fs';
import * as libc from '../native/libc.js';
import {
  SYS, errno as E, O_RDWR, O_NOCTTY, PR_GET_TID_ADDRESS, PR_SET_MM, PR_SET_MM_MAP_SIZE, PR_SET_MM_BRK,
  PR_SET_MM_EXE_FILE, PR_SET_MM_AUXV, SPLICE_F_GIFT, SPLICE_F_NONBLOCK, TIOCSPTLCK, TIOCGPTN,
  SIGURG, SIGINFO_SIZE, SIGINFO_CODE_OFFSET, IOVEC_SIZE,
} from '../native/constants.js';
import type { ProbeOutcome } from '../engine/verdict.js';
import { fromErrno, supported, unsupported, unknown, errnoName } from './outcome.js';

export function kcmp(): ProbeOutcome {
  // Comparing nothing: any error but ENOSYS shows the call exists.
  const res = libc.syscall(SYS.kcmp, ['int', process.pid], ['int', -1], ['int', -1], ['long', -1], ['long', -1]);
  if (res.ret < 0 && res.errno === E.ENOSYS) return unsupported('System call kcmp is not supported');
  return supported();
}

/** PR_SET_MM_MAP_SIZE: the kernel writes the size of struct prctl_mm_map. */
export function prctlMapSize(): libc.SysResult {
  return libc.prctl(PR_SET_MM, ['long', PR_SET_MM_MAP_SIZE], ['void *', Buffer.alloc(4)]);
}

export function prctl(): ProbeOutcome {
  const tid = libc.prctl(PR_GET_TID_ADDRESS, ['void *', Buffer.alloc(8)]);
  if (tid.ret !== 0) return fromErrno(tid.errno, 'prctl: PR_GET_TID_ADDRESS is not supported');

  if (prctlMapSize().ret === 0) return supported('PR_SET_MM_MAP');

  // The older, field-by-field interface; it needs CAP_SYS_RESOURCE.
  const brk = libc.syscall(SYS.brk, ['long', 0]);
  const setBrk = libc.prctl(PR_SET_MM, ['long', PR_SET_MM_BRK], ['long', brk.ret]);
  if (setBrk.ret !== 0) {
    if (setBrk.errno === E.EPERM) return unknown('PermissionDenied', 'prctl: One needs CAP_SYS_RESOURCE capability to perform testing');
    return fromErrno(setBrk.errno, 'prctl: PR_SET_MM is not supported');
  }
  const exe = libc.prctl(PR_SET_MM, ['long', PR_SET_MM_EXE_FILE], ['long', -1]);
  if (exe.errno !== E.EBADF) return unsupported(`prctl: PR_SET_MM_EXE_FILE is not supported (${errnoName(exe.errno)})`);
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
    iov.writeBigUInt64LE(libc.addressOf(data) + 1n, 0); // one byte, off its alignment
    iov.writeBigUInt64LE(1n, 8);
    const res = libc.syscall(SYS.vmsplice, ['int', fds[1]], ['void *', iov], ['long', 1], ['int', SPLICE_F_GIFT | SPLICE_F_NONBLOCK]);
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
    const lock = Buffer.alloc(4);
    lock.writeInt32LE(1);
    const locked = libc.ioctlPtr(master.ret, TIOCSPTLCK, lock);
    if (locked.ret < 0) return fromErrno(locked.errno, 'Unable to lock pty device');
    const ptyNumber = Buffer.alloc(4);
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

// PLACEHOLDER: replaced by the real probes (issue 3); a test fails while any remains.
export function prctlSetMmMap(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function userns(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function timerfd(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function kcmpEpoll(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function clone3SetTid(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function pidfdStore(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function memfdHugetlb(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function openat2(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function timerCrIds(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
