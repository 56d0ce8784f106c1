// Checks of mounts. Everything mounted is mounted in a private
// mount namespace of the runner's main thread, on a tmpfs that covers /tmp
// (or another existing directory) in that namespace only, and the thread
// returns to its own namespace before the probe does: the host's mount table
// and filesystems never change.
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import * as libc from '../native/libc.js';
import {
  O_CLOEXEC,
  O_RDONLY,
  SYS,
  errno as E,
  MS_BIND,
  MS_REC,
  MS_PRIVATE,
  MS_SHARED,
  MOVE_MOUNT_SET_GROUP,
  PROT_READ,
  PROT_WRITE,
  MAP_SHARED,
  PAGE_SIZE,
  CAP_SYS_ADMIN,
  CAP_SYS_CHROOT,
  splitDev,
  AT_FDCWD,
} from '../native/constants.js';
import { hasCapability, mappingAt, mountInfo, procPath, type MountInfo } from '../native/procfs.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, fromFsError, missingSyscall, errnoName } from './outcome.js';
import { closeInBackground, inPrivateNamespace } from './resources.js';

/** The topmost mount at `path` in the calling thread's namespace. */
function mountAt(path: string): MountInfo | undefined {
  return mountInfo()
    .filter((m) => m.mountPoint === path)
    .pop();
}

/** A mount(2) that failed: ENODEV means the kernel has no such filesystem type. */
function mountFailed(errno: number, what: string, fsType?: string): ProbeOutcome {
  if (errno === E.ENODEV && fsType) return unsupported(`${what}: ENODEV (no ${fsType} filesystem in this kernel)`);
  return fromErrno(errno, what);
}

/** The first of these directories that exists gets the private tmpfs mounted over it (CRIU uses /tmp). */
const SCRATCH_MOUNT_POINTS = ['/tmp', '/run', '/mnt', '/var/tmp', '/media', '/srv', '/opt'];

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Run `work` in a private mount namespace of this thread, with a fresh tmpfs
 * at `base` to build in. Everything is made private first, so nothing
 * propagates out; the tmpfs covers an existing directory in this namespace
 * only, so nothing is made on the host's filesystems either. No mount is
 * taken down one by one: each umount waits for an RCU grace period, so the namespace is dropped whole, on a libuv pool
 * thread, by
 * closing the last descriptor that holds it. If the runner dies first, its
 * exit closes that descriptor just the same.
 */
function inPrivateMountNs(work: (base: string) => ProbeOutcome): ProbeOutcome {
  // unshare needs CAP_SYS_ADMIN, and the way back (setns) CAP_SYS_CHROOT too:
  // never leave without being able to return.
  if (!hasCapability(CAP_SYS_ADMIN) || !hasCapability(CAP_SYS_CHROOT)) {
    return unknown(
      'PermissionDenied',
      'Unable to create a new mount namespace: needs CAP_SYS_ADMIN and ' + 'CAP_SYS_CHROOT',
    );
  }
  const base = SCRATCH_MOUNT_POINTS.find(isDirectory);
  if (!base)
    return unknown('UnexpectedResult', `None of ${SCRATCH_MOUNT_POINTS.join(', ')} is a ` + `directory to mount on`);
  const onError = (errno: number): ProbeOutcome =>
    errno === E.EPERM
      ? unknown('PermissionDenied', 'Unable to create a new mount namespace: EPERM')
      : unknown('UnexpectedResult', `Unable to create a new mount namespace: ${errnoName(errno)}`);
  let privateNs = -1;
  try {
    return inPrivateNamespace({ kind: 'mnt', onError }, () => {
      privateNs = libc.open(procPath('thread-self', 'ns/mnt'), O_RDONLY | O_CLOEXEC, 0).ret;
      const privatized = libc.mount(null, '/', null, MS_REC | MS_PRIVATE, null);
      if (privatized.ret !== 0) return fromErrno(privatized.errno, 'Unable to remount / with MS_PRIVATE');
      const scratch = libc.mount('criu-readiness', base, 'tmpfs', 0, null);
      if (scratch.ret !== 0) return mountFailed(scratch.errno, `Unable to mount tmpfs on ${base}`, 'tmpfs');
      return work(base);
    });
  } finally {
    // After the thread has left: the namespace goes with this last descriptor, in the background.
    if (privateNs >= 0) closeInBackground(privateNs);
  }
}

export function moveMountSetGroup(): ProbeOutcome {
  return inPrivateMountNs((base) => {
    // As CRIU: a tmpfs made shared, and a private bind mount of its own
    // subdirectory that is then put into the tmpfs's peer group.
    const source = join(base, 'shared');
    const target = join(source, 'subdir');
    mkdirSync(source);
    const tmpfs = libc.mount('criu.move_mount_set_group', source, 'tmpfs', 0, null);
    if (tmpfs.ret !== 0) return mountFailed(tmpfs.errno, `Fail to mount tmpfs to ${source}`, 'tmpfs');
    mkdirSync(target);
    const bind = libc.mount(target, target, null, MS_BIND, null);
    if (bind.ret !== 0) return fromErrno(bind.errno, `Fail to make bind-mount ${target}`);
    const shared = libc.mount(null, source, null, MS_SHARED, null);
    if (shared.ret !== 0) return fromErrno(shared.errno, `Fail to make ${source} shared`);
    const moved = libc.syscall(
      SYS.move_mount,
      ['int', AT_FDCWD],
      ['void *', cString(source)],
      ['int', AT_FDCWD],
      ['void *', cString(target)],
      ['int', MOVE_MOUNT_SET_GROUP],
    );
    if (moved.ret !== 0) {
      if (moved.errno === E.EINVAL) return unsupported('No MOVE_MOUNT_SET_GROUP kernel feature (EINVAL)');
      if (moved.errno === E.ENOSYS) return missingSyscall('No MOVE_MOUNT_SET_GROUP kernel feature (ENOSYS)');
      return fromErrno(moved.errno, 'Fail to MOVE_MOUNT_SET_GROUP');
    }
    // The kernel said yes: the bind mount must now be a peer of the tmpfs.
    const group = mountAt(source)?.tags.find((tag) => tag.startsWith('shared:'));
    const joined = mountAt(target)?.tags.find((tag) => tag.startsWith('shared:'));
    if (!group || group !== joined) {
      return unknown(
        'UnexpectedResult',
        `MOVE_MOUNT_SET_GROUP succeeded but the target is in ` + `${joined ?? 'no'} peer group, not ${group ?? 'none'}`,
      );
    }
    return supported("the bind mount joined the tmpfs's peer group");
  });
}

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

/** rw-r--r--: the test file is only ever opened by this process. */
const TEST_FILE_MODE = 0o644;

export function overlayfsMaps(): ProbeOutcome {
  return inPrivateMountNs((base) => {
    const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((name) => join(base, name));
    try {
      [lower, upper, work, merged].forEach((dir) => mkdirSync(dir));
    } catch (err) {
      return fromFsError(err, 'Unable to make the overlay directories');
    }
    const overlay = libc.mount(
      'criu-readiness',
      merged,
      'overlay',
      0,
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
    );
    if (overlay.ret !== 0) return mountFailed(overlay.errno, 'Unable to mount overlayfs', 'overlay');
    let fd: number;
    try {
      fd = openSync(join(merged, 'test'), 'w+', TEST_FILE_MODE);
    } catch (err) {
      return fromFsError(err, 'Unable to create a file on overlayfs');
    }
    try {
      const address = libc.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (address.ret < 0) return fromErrno(address.errno, 'Unable to map the test file');
      try {
        return mapsMatchesStat(address.ret, fd);
      } finally {
        libc.munmap(address.ret, PAGE_SIZE);
      }
    } finally {
      closeSync(fd);
    }
  });
}

/** As CRIU: the dev:ino /proc/self/maps shows for the mapping must be what fstat() of the file says. */
function mapsMatchesStat(address: number, fd: number): ProbeOutcome {
  const shown = mappingAt(address, 'thread-self');
  if (!shown) return unknown('UnexpectedResult', 'Unable to find the mapping');
  const stat = fstatSync(fd, { bigint: true });
  const expected = { ...splitDev(stat.dev), ino: stat.ino };
  if (shown.major !== expected.major || shown.minor !== expected.minor || shown.inode !== expected.ino) {
    // No numbers in the message: a fresh overlay gets a new device number at every run.
    return unsupported("unmatched dev:ino: /proc/self/maps does not show the overlay file's device and inode");
  }
  return supported("maps shows the overlay file's dev:ino");
}

/** An autofs mount in the table decides: its options must show pipe_ino= (CRIU's check_autofs_pipe_ino). */
function autofsPipeIno(): ProbeOutcome | undefined {
  const mount = mountInfo().find((m) => m.fsType === 'autofs');
  if (!mount) return undefined;
  return /(^|,)pipe_ino=/.test(mount.superOptions)
    ? supported(`autofs at ${mount.mountPoint} shows pipe_ino`)
    : unsupported('autofs not supported.');
}

export function autofs(): ProbeOutcome {
  // An autofs mount already there answers without privileges, as in CRIU.
  const existing = autofsPipeIno();
  if (existing) return existing;
  return inPrivateMountNs((base) => {
    const pipe = [0, 0];
    const made = libc.pipe2(pipe, O_CLOEXEC);
    if (made.ret !== 0) return fromErrno(made.errno, 'failed to create pipe');
    try {
      const dir = join(base, 'autofs');
      mkdirSync(dir);
      // pgrp is ours: the kernel treats this process group as the daemon and
      // never blocks it waiting for a mount, should anything here touch dir.
      // The mount goes with the namespace (and takes its reference to the pipe with it).
      const options = `fd=${pipe[1]},pgrp=${libc.getpgrp().ret},minproto=5,maxproto=5,direct`;
      const mounted = libc.mount('criu-readiness', dir, 'autofs', 0, options);
      if (mounted.ret !== 0) return mountFailed(mounted.errno, 'failed to mount autofs', 'autofs');
      return autofsPipeIno() ?? unknown('UnexpectedResult', 'the autofs mount does not show in mountinfo');
    } finally {
      pipe.forEach((fd) => libc.close(fd));
    }
  });
}
