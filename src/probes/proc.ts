// Checks that read or write files under /proc.
import { readFileSync, readdirSync, writeFileSync, writeSync, openSync, closeSync } from 'node:fs';
import * as libc from '../native/libc.js';
import { F_GETOWNER_UIDS, F_OWNER_UIDS_SIZE, LOCK_NB, LOCK_SH, O_RDONLY, errno as E } from '../native/constants.js';
import * as procfs from '../native/procfs.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, fromFsError } from './outcome.js';
import { eventfd, epollWithTarget, signalfd, inotifyWatch, withFds } from './fds.js';

export function mapFiles(): ProbeOutcome {
  try {
    readdirSync('/proc/self/map_files');
    return supported();
  } catch (err) {
    return fromFsError(err, "Can't read /proc/self/map_files");
  }
}

/**
 * Write a sysctl's own value back to it: the kernel checks the privilege of
 * ns_last_pid only when it is written (the file is 0666, so access() says
 * yes to anyone), so nothing short of a write tells. Writing the value it
 * already has changes nothing. `refused` is a value the kernel turns down
 * (with that errno) only after the permission check passed.
 */
function writeBack(path: string, what: string, refused?: { value: string; errno: number }): ProbeOutcome {
  let value: string;
  try {
    value = readFileSync(path, 'latin1').trim();
  } catch (err) {
    return fromFsError(err, what);
  }
  try {
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
    // The value itself changes from run to run (a pid counter): messages hold only what the verdict depends on.
    return supported('wrote the value back');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (refused && value === refused.value && code !== undefined && E[code as keyof typeof E] === refused.errno) {
      return supported('writable (the kernel took the write and refused the value written back)');
    }
    return fromFsError(err, what);
  }
}

export function nsLastPid(): ProbeOutcome {
  return writeBack('/proc/sys/kernel/ns_last_pid', '/proc/sys/kernel/ns_last_pid sysctl is inaccessible');
}

export function ipc(): ProbeOutcome {
  // sem_next_id's default, -1, is below the minimum a write may set (0):
  // the kernel checks the privilege first and then refuses -1 with EINVAL,
  // which proves the write was allowed without changing anything.
  return writeBack('/proc/sys/kernel/sem_next_id', '/proc/sys/kernel/sem_next_id is inaccessible', {
    value: '-1',
    errno: E.EINVAL,
  });
}

export function fcntl(): ProbeOutcome {
  const fd = openSync('/proc/self/comm', O_RDONLY);
  try {
    const uids = Buffer.alloc(F_OWNER_UIDS_SIZE);
    const res = libc.fcntlPtr(fd, F_GETOWNER_UIDS, uids);
    return res.ret === 0 ? supported() : fromErrno(res.errno, "Can't fetch owner uids (F_GETOWNER_UIDS)");
  } finally {
    closeSync(fd);
  }
}

/** CRIU parses 50 fields after the command name (the last being exit_code). */
const PROC_STAT_FIELDS = 50;

export function procStat(): ProbeOutcome {
  const afterComm = procfs.procStat('self')?.fields ?? [];
  if (afterComm.length >= PROC_STAT_FIELDS) return supported(`${afterComm.length} fields after the command`);
  return unsupported(`Can't parse /proc/self/stat: only ${afterComm.length} of ${PROC_STAT_FIELDS} fields`);
}

/** Each fd kind and the line its fdinfo must show. */
const FDINFO_EXT = [
  { kind: 'eventfd', make: eventfd, line: /^eventfd-count:/m },
  { kind: 'epoll', make: epollWithTarget, line: /^tfd:/m },
  { kind: 'signalfd', make: signalfd, line: /^sigmask:/m },
  { kind: 'inotify', make: inotifyWatch, line: /^inotify wd:/m },
] as const;

export function fdinfoExt(): ProbeOutcome {
  for (const { kind, make, line } of FDINFO_EXT) {
    const shown = withFds({ make, what: `Can't create ${kind}` }, (fds) => line.test(procfs.fdinfo(fds[0])));
    if (!shown) return unsupported(`No ${kind} details in fdinfo`);
  }
  return supported();
}

export function mntId(): ProbeOutcome {
  const fd = openSync('/proc/self/comm', O_RDONLY);
  try {
    return /^mnt_id:/m.test(procfs.fdinfo(fd)) ? supported() : unsupported('fdinfo has no mnt_id');
  } finally {
    closeSync(fd);
  }
}

export function fdinfoLock(): ProbeOutcome {
  // /proc/locks, as CRIU: a file nobody else has a reason to lock. Never
  // waiting all the same: a lock held elsewhere must not stall the runner.
  let fd: number;
  try {
    fd = openSync('/proc/locks', O_RDONLY);
  } catch (err) {
    return fromFsError(err, "Can't open /proc/locks");
  }
  try {
    const res = libc.flock(fd, LOCK_SH | LOCK_NB);
    if (res.ret !== 0 && res.errno === E.EWOULDBLOCK)
      return unknown('UnexpectedResult', "Can't take a file lock: another process holds /proc/locks exclusively");
    if (res.ret !== 0) return fromErrno(res.errno, "Can't take a file lock");
    return /^lock:/m.test(procfs.fdinfo(fd)) ? supported() : unsupported('fdinfo has no lock: line');
  } finally {
    closeSync(fd); // closing the last descriptor drops the lock
  }
}

function readable(path: string, what: string): ProbeOutcome {
  try {
    readFileSync(path);
    return supported();
  } catch (err) {
    return fromFsError(err, what);
  }
}

export function posixTimers(): ProbeOutcome {
  return readable('/proc/self/timers', "Can't read /proc/self/timers");
}

/** (uid_t)-1: the loginuid of a process no login session set. */
const LOGINUID_UNSET = '4294967295';

export function loginuid(): ProbeOutcome {
  const path = '/proc/self/loginuid';
  let old: string;
  try {
    old = readFileSync(path, 'latin1').trim();
  } catch (err) {
    return fromFsError(err, "Can't read /proc/self/loginuid");
  }
  try {
    // Unset first, then put the old value back, as CRIU's restore would.
    writeFileSync(path, LOGINUID_UNSET);
    writeFileSync(path, old);
    return supported();
  } catch (err) {
    const outcome = fromFsError(err, "Can't write /proc/self/loginuid");
    // Once set, a loginuid can be changed only with CAP_AUDIT_CONTROL.
    return (err as NodeJS.ErrnoException).code === 'EPERM' && old !== LOGINUID_UNSET
      ? unknown('PermissionDenied', `${outcome.message} (needs CAP_AUDIT_CONTROL)`)
      : outcome;
  }
}
