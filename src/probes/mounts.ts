// Checks of mounts. Everything mounted is mounted by a tracee of ours (a
// stopped child that runs only the system calls we place in it) in a mount
// namespace of its own, on a tmpfs that covers /tmp (or another existing
// directory) in that namespace only. The namespace ends with the tracee,
// which is killed and reaped before the probe returns: the host's mount table
// and filesystems never change, and the runner never leaves its own
// namespace, so no privilege is needed to come back (setns and chroot would
// want CAP_SYS_CHROOT, which CRIU does without).
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import {
  O_CLOEXEC,
  O_CREAT,
  O_RDWR,
  SYS,
  errno as E,
  CLONE_NEWNS,
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
  STAT_SIZE,
  STAT_DEV_OFFSET,
  STAT_INO_OFFSET,
  splitDev,
  AT_FDCWD,
} from '../native/constants.js';
import { hasCapability, mappingAt, mountInfo, procStat, type Mapping, type MountInfo } from '../native/procfs.js';
import type { InjectedResult, Tracee } from '../native/tracee.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, missingSyscall, errnoName } from './outcome.js';
import { traced } from './resources.js';

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

/** rwxr-xr-x for the directories, rw-r--r-- for the test file: only ever used by the tracee. */
const DIRECTORY_MODE = 0o755;
const TEST_FILE_MODE = 0o644;

type Argument = number | bigint | string | null;

/** The tracee, alone in its mount namespace: system calls run in it, and what it sees. */
class MountSandbox {
  constructor(
    private readonly tracee: Tracee,
    /** The directory the private tmpfs covers. */
    readonly base: string,
  ) {}

  /** A system call run in the tracee; a string is passed as a C string placed in its memory, null as NULL. */
  call(nr: number, ...args: Argument[]): InjectedResult {
    return this.tracee.injectSyscall(
      nr,
      args.map((arg) => (typeof arg === 'string' ? this.tracee.placeData(Buffer.from(`${arg}\0`)) : (arg ?? 0))),
    );
  }

  mount(source: string | null, target: string, fsType: string | null, flags: number, data: string | null) {
    return this.call(SYS.mount, source, target, fsType, flags, data);
  }

  mkdir(path: string): InjectedResult {
    return this.call(SYS.mkdirat, AT_FDCWD, path, DIRECTORY_MODE);
  }

  /** `length` bytes of the tracee's memory to be written by a call; read back with `read`. */
  buffer(length: number): bigint {
    return this.tracee.placeData(Buffer.alloc(length));
  }

  read(address: bigint, length: number): Buffer {
    return this.tracee.read(address, length);
  }

  /** The mount table as the tracee sees it. */
  mounts(): MountInfo[] {
    return mountInfo(this.tracee.pid);
  }

  /** The topmost mount at `path`. */
  mountAt(path: string): MountInfo | undefined {
    return this.mounts()
      .filter((m) => m.mountPoint === path)
      .pop();
  }

  get pid(): number {
    return this.tracee.pid;
  }
}

/**
 * Run `work` in a tracee alone in a new mount namespace, with a fresh tmpfs
 * at `base` to build in. Everything is made private first, so nothing
 * propagates out; the tmpfs covers an existing directory in that namespace
 * only, so nothing is made on the host's filesystems either. Nothing is
 * taken down: the namespace goes with the tracee (and with the runner, should
 * the runner die first: the tracee dies with its tracer).
 */
function inPrivateMountNs(work: (box: MountSandbox) => ProbeOutcome): ProbeOutcome {
  // Asked first, so that no tracee is started only to be refused.
  if (!hasCapability(CAP_SYS_ADMIN))
    return unknown('PermissionDenied', 'Unable to create a new mount namespace: needs CAP_SYS_ADMIN');
  const base = SCRATCH_MOUNT_POINTS.find(isDirectory);
  if (!base)
    return unknown('UnexpectedResult', `None of ${SCRATCH_MOUNT_POINTS.join(', ')} is a ` + `directory to mount on`);
  return traced((tracee) => {
    const box = new MountSandbox(tracee, base);
    const unshared = box.call(SYS.unshare, CLONE_NEWNS);
    if (unshared.errno) {
      return unshared.errno === E.EPERM
        ? unknown('PermissionDenied', 'Unable to create a new mount namespace: EPERM')
        : unknown('UnexpectedResult', `Unable to create a new mount namespace: ${errnoName(unshared.errno)}`);
    }
    const privatized = box.mount(null, '/', null, MS_REC | MS_PRIVATE, null);
    if (privatized.errno) return fromErrno(privatized.errno, 'Unable to remount / with MS_PRIVATE');
    const scratch = box.mount('criu-readiness', base, 'tmpfs', 0, null);
    if (scratch.errno) return mountFailed(scratch.errno, `Unable to mount tmpfs on ${base}`, 'tmpfs');
    return work(box);
  });
}

/** Make the directories, in order: the first failure is the probe's answer. */
function makeDirectories(box: MountSandbox, paths: readonly string[], what: string): ProbeOutcome | undefined {
  for (const path of paths) {
    const made = box.mkdir(path);
    if (made.errno) return fromErrno(made.errno, `${what} ${path}`);
  }
  return undefined;
}

export function moveMountSetGroup(): ProbeOutcome {
  return inPrivateMountNs((box) => {
    // As CRIU: a tmpfs made shared, and a private bind mount of its own
    // subdirectory that is then put into the tmpfs's peer group.
    const source = join(box.base, 'shared');
    const target = join(source, 'subdir');
    const noSource = makeDirectories(box, [source], 'Fail to make dir');
    if (noSource) return noSource;
    const tmpfs = box.mount('criu.move_mount_set_group', source, 'tmpfs', 0, null);
    if (tmpfs.errno) return mountFailed(tmpfs.errno, `Fail to mount tmpfs to ${source}`, 'tmpfs');
    const noTarget = makeDirectories(box, [target], 'Fail to make dir');
    if (noTarget) return noTarget;
    const bind = box.mount(target, target, null, MS_BIND, null);
    if (bind.errno) return fromErrno(bind.errno, `Fail to make bind-mount ${target}`);
    const shared = box.mount(null, source, null, MS_SHARED, null);
    if (shared.errno) return fromErrno(shared.errno, `Fail to make ${source} shared`);
    const moved = box.call(SYS.move_mount, AT_FDCWD, source, AT_FDCWD, target, MOVE_MOUNT_SET_GROUP);
    if (moved.errno) {
      if (moved.errno === E.EINVAL) return unsupported('No MOVE_MOUNT_SET_GROUP kernel feature (EINVAL)');
      if (moved.errno === E.ENOSYS) return missingSyscall('No MOVE_MOUNT_SET_GROUP kernel feature (ENOSYS)');
      return fromErrno(moved.errno, 'Fail to MOVE_MOUNT_SET_GROUP');
    }
    // The kernel said yes: the bind mount must now be a peer of the tmpfs.
    const group = box.mountAt(source)?.tags.find((tag) => tag.startsWith('shared:'));
    const joined = box.mountAt(target)?.tags.find((tag) => tag.startsWith('shared:'));
    if (!group || group !== joined) {
      return unknown(
        'UnexpectedResult',
        `MOVE_MOUNT_SET_GROUP succeeded but the target is in ` + `${joined ?? 'no'} peer group, not ${group ?? 'none'}`,
      );
    }
    return supported("the bind mount joined the tmpfs's peer group");
  });
}

export function overlayfsMaps(): ProbeOutcome {
  return inPrivateMountNs((box) => {
    const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((name) => join(box.base, name));
    const noDirectory = makeDirectories(box, [lower, upper, work, merged], 'Unable to make the overlay directory');
    if (noDirectory) return noDirectory;
    const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
    const overlay = box.mount('criu-readiness', merged, 'overlay', 0, options);
    if (overlay.errno) return mountFailed(overlay.errno, 'Unable to mount overlayfs', 'overlay');
    // Neither the file nor the mapping is undone: both go with the tracee.
    const file = join(merged, 'test');
    const opened = box.call(SYS.openat, AT_FDCWD, file, O_RDWR | O_CREAT | O_CLOEXEC, TEST_FILE_MODE);
    if (opened.errno) return fromErrno(opened.errno, 'Unable to create a file on overlayfs');
    const fd = opened.ret;
    const mapped = box.call(SYS.mmap, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped.errno) return fromErrno(mapped.errno, 'Unable to map the test file');
    const stat = box.buffer(STAT_SIZE);
    const statted = box.call(SYS.fstat, fd, stat);
    if (statted.errno) return fromErrno(statted.errno, 'Unable to stat the test file');
    const raw = box.read(stat, STAT_SIZE);
    return mapsMatchesStat(mappingAt(BigInt.asUintN(64, mapped.ret), box.pid), {
      dev: raw.readBigUInt64LE(STAT_DEV_OFFSET),
      ino: raw.readBigUInt64LE(STAT_INO_OFFSET),
    });
  });
}

/** As CRIU: the dev:ino /proc/PID/maps shows for the mapping must be what fstat() of the file says. */
function mapsMatchesStat(shown: Mapping | undefined, stat: { dev: bigint; ino: bigint }): ProbeOutcome {
  if (!shown) return unknown('UnexpectedResult', 'Unable to find the mapping');
  const expected = { ...splitDev(stat.dev), ino: stat.ino };
  if (shown.major !== expected.major || shown.minor !== expected.minor || shown.inode !== expected.ino) {
    // No numbers in the message: a fresh overlay gets a new device number at every run.
    return unsupported("unmatched dev:ino: /proc/self/maps does not show the overlay file's device and inode");
  }
  return supported("maps shows the overlay file's dev:ino");
}

/** An autofs mount in the table decides: its options must show pipe_ino= (CRIU's check_autofs_pipe_ino). */
function autofsPipeIno(table: readonly MountInfo[]): ProbeOutcome | undefined {
  const mount = table.find((m) => m.fsType === 'autofs');
  if (!mount) return undefined;
  return /(^|,)pipe_ino=/.test(mount.superOptions)
    ? supported(`autofs at ${mount.mountPoint} shows pipe_ino`)
    : unsupported('autofs not supported.');
}

/** Two int: pipe2(2)'s read and write ends. */
const PIPE_FDS_SIZE = 8;
const PIPE_WRITE_END_OFFSET = 4;

export function autofs(): ProbeOutcome {
  // An autofs mount already there answers without privileges, as in CRIU.
  const existing = autofsPipeIno(mountInfo());
  if (existing) return existing;
  return inPrivateMountNs((box) => {
    const fds = box.buffer(PIPE_FDS_SIZE);
    const piped = box.call(SYS.pipe2, fds, O_CLOEXEC);
    if (piped.errno) return fromErrno(piped.errno, 'failed to create pipe');
    const writeEnd = box.read(fds, PIPE_FDS_SIZE).readInt32LE(PIPE_WRITE_END_OFFSET);
    const dir = join(box.base, 'autofs');
    const noDirectory = makeDirectories(box, [dir], 'failed to make');
    if (noDirectory) return noDirectory;
    // pgrp is the tracee's (the runner's own group): the kernel treats this
    // group as the daemon and never blocks it waiting for a mount, should
    // anything of ours touch dir. The mount, and its reference to the pipe,
    // go with the namespace.
    const pgrp = procStat(box.pid)?.pgrp;
    if (pgrp === undefined) return unknown('UnexpectedResult', "Unable to read the tracee's process group");
    const options = `fd=${writeEnd},pgrp=${pgrp},minproto=5,maxproto=5,direct`;
    const mounted = box.mount('criu-readiness', dir, 'autofs', 0, options);
    if (mounted.errno) return mountFailed(mounted.errno, 'failed to mount autofs', 'autofs');
    return autofsPipeIno(box.mounts()) ?? unknown('UnexpectedResult', 'the autofs mount does not show in mountinfo');
  });
}
