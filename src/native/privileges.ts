// Giving up privilege for good before an execve(): the image that follows
// holds no capability in any thread (capabilities and no_new_privs are per
// thread, and only an exec makes every thread start from the same set).
import { readFileSync } from 'node:fs';
import * as libc from './libc.js';
import {
  CAP_DATA_INHERITABLE_OFFSET,
  CAP_DATA_SIZE,
  CAP_DATA_WORD_SIZE,
  CAP_HEADER_SIZE,
  CAP_SETPCAP,
  F_SETFD,
  LINUX_CAPABILITY_VERSION_3,
  PR_CAPBSET_DROP,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_SET_NO_NEW_PRIVS,
  SYS,
} from './constants.js';
import { hasCapability } from './procfs.js';

/** What could not be given up; empty when everything was. */
export type DropFailures = string[];

/** The highest capability number this kernel knows. */
function lastCapability(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'latin1').trim());
  } catch {
    return 63;
  }
}

/** Empty this thread's inheritable set, which an exec could turn into permitted capabilities. */
function clearInheritable(): string | undefined {
  const header = Buffer.alloc(CAP_HEADER_SIZE);
  header.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  const data = Buffer.alloc(CAP_DATA_SIZE);
  const got = libc.syscall(SYS.capget, ['void *', header], ['void *', data]);
  if (got.ret !== 0) return `capget: errno ${got.errno}`;
  data.writeUInt32LE(0, CAP_DATA_INHERITABLE_OFFSET);
  data.writeUInt32LE(0, CAP_DATA_WORD_SIZE + CAP_DATA_INHERITABLE_OFFSET);
  const set = libc.syscall(SYS.capset, ['void *', header], ['void *', data]);
  return set.ret === 0 ? undefined : `capset: errno ${set.errno}`;
}

/**
 * Prepare this thread to exec an image without privilege: no_new_privs (no
 * set-uid or file capability can raise it again), an empty bounding set
 * (root's exec then gets no permitted capability; dropping needs
 * CAP_SETPCAP, skipped when not held: then there is nothing to drop), no
 * ambient and no inheritable capability. `keep` are descriptors the image
 * inherits (FD_CLOEXEC cleared). Run on the thread that will call execve.
 */
export function prepareUnprivilegedExec(keep: readonly number[]): DropFailures {
  const failures: DropFailures = [];
  for (const fd of keep) {
    const cleared = libc.fcntlInt(fd, F_SETFD, 0);
    if (cleared.ret !== 0) failures.push(`fcntl(${fd}, F_SETFD): errno ${cleared.errno}`);
  }
  const nnp = libc.prctl(PR_SET_NO_NEW_PRIVS, ['long', 1]);
  if (nnp.ret !== 0) failures.push(`PR_SET_NO_NEW_PRIVS: errno ${nnp.errno}`);
  if (hasCapability(CAP_SETPCAP)) {
    for (let cap = 0; cap <= lastCapability(); cap++) {
      const dropped = libc.prctl(PR_CAPBSET_DROP, ['long', cap]);
      if (dropped.ret !== 0) failures.push(`PR_CAPBSET_DROP ${cap}: errno ${dropped.errno}`);
    }
  }
  // EINVAL on a kernel before 4.3, which has no ambient set to clear.
  libc.prctl(PR_CAP_AMBIENT, ['long', PR_CAP_AMBIENT_CLEAR_ALL]);
  const inheritable = clearInheritable();
  if (inheritable) failures.push(inheritable);
  return failures;
}
