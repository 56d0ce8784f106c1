// Checks of mounts. Everything mounted is mounted in a private mount
// namespace, on a tmpfs that covers /tmp (or another existing directory) in
// that namespace only: the host's mount table and filesystems never change.
// Where the runner holds CAP_SYS_CHROOT, its main thread makes the namespace
// and returns to its own before the probe does (the cheapest way); without
// it, it could not return (setns into a mount namespace wants CAP_SYS_CHROOT,
// which CRIU does without), so a tracee of ours makes the namespace, runs the
// same system calls placed in it, and takes the namespace with it when it is
// killed.
import { closeSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import * as libc from '../native/libc.js';
import {
  O_CLOEXEC,
  O_CREAT,
  O_RDONLY,
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
  CAP_SYS_CHROOT,
  STAT_SIZE,
  STAT_DEV_OFFSET,
  STAT_INO_OFFSET,
  splitDev,
  AT_FDCWD,
} from '../native/constants.js';
import {
  hasCapability,
  mappingAt,
  mountInfo,
  procPath,
  procStat,
  type Mapping,
  type MountInfo,
} from '../native/procfs.js';
import type { Tracee } from '../native/tracee.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, missingSyscall, errnoName } from './outcome.js';
import { closeInBackground, inPrivateNamespace, traced } from './resources.js';

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

/** rwxr-xr-x for the directories, rw-r--r-- for the test file: only ever used by the probe. */
const DIRECTORY_MODE = 0o755;
const TEST_FILE_MODE = 0o644;

/** A system call's argument: a string is passed as a C string, null as NULL, a bigint as an address. */
type Argument = number | bigint | string | null;
type CallResult = { ret: bigint; errno: number };

/**
 * The process in the private mount namespace, as the probes use it: system
 * calls run there, memory for calls to fill, and what it sees. Descriptors
 * and mappings a probe makes are handed back with release(): the runner's
 * own must be undone, a tracee's go with it.
 */
interface MountSandbox {
  /** The directory the private tmpfs covers. */
  readonly base: string;
  /** The process, for its /proc files. */
  readonly pid: number;
  call(nr: number, ...args: Argument[]): CallResult;
  /** `length` bytes for a call to fill, by address. */
  buffer(length: number): bigint;
  read(address: bigint, length: number): Buffer;
  release(what: { fd: number } | { address: bigint; length: number }): void;
  /** The mount table as the process sees it. */
  mounts(): MountInfo[];
}

/** The runner's main thread, in a private mount namespace for the probe's time (see inPrivateNamespace). */
class ThreadSandbox implements MountSandbox {
  readonly pid = process.pid;
  /** Strings and buffers passed by address, kept from the garbage collector, by address. */
  private readonly memory = new Map<bigint, Buffer>();
  private readonly releases: (() => void)[] = [];

  constructor(readonly base: string) {}

  call(nr: number, ...args: Argument[]): CallResult {
    const typed = args.map((arg): libc.SyscallArg => {
      if (arg === null) return ['void *', null];
      if (typeof arg === 'string') return ['long', this.keep(Buffer.from(`${arg}\0`))];
      return ['long', arg];
    });
    const res = libc.syscall(nr, ...typed);
    return { ret: BigInt(res.ret), errno: res.errno };
  }

  buffer(length: number): bigint {
    return this.keep(Buffer.alloc(length));
  }

  private keep(bytes: Buffer): bigint {
    const address = libc.addressOf(bytes);
    this.memory.set(address, bytes);
    return address;
  }

  read(address: bigint, length: number): Buffer {
    const bytes = this.memory.get(address);
    if (!bytes) throw new RangeError(`no buffer of the probe at ${address}`);
    return bytes.subarray(0, length);
  }

  release(what: { fd: number } | { address: bigint; length: number }): void {
    this.releases.push('fd' in what ? () => closeSync(what.fd) : () => libc.munmap(Number(what.address), what.length));
  }

  mounts(): MountInfo[] {
    // The namespace is this thread's alone.
    return mountInfo('thread-self');
  }

  /** Undo what the probe made, last first, before the thread leaves the namespace. */
  close(): void {
    this.releases.reverse().forEach((release) => release());
  }
}

/** A tracee alone in its mount namespace: system calls placed in it, its memory read by ptrace. */
class TraceeSandbox implements MountSandbox {
  constructor(
    private readonly tracee: Tracee,
    readonly base: string,
  ) {}

  get pid(): number {
    return this.tracee.pid;
  }

  call(nr: number, ...args: Argument[]): CallResult {
    return this.tracee.injectSyscall(
      nr,
      args.map((arg) => (typeof arg === 'string' ? this.tracee.placeData(Buffer.from(`${arg}\0`)) : (arg ?? 0))),
    );
  }

  buffer(length: number): bigint {
    return this.tracee.placeData(Buffer.alloc(length));
  }

  read(address: bigint, length: number): Buffer {
    return this.tracee.read(address, length);
  }

  release(): void {
    // The tracee is killed when the probe ends: its descriptors and mappings go with it.
  }

  mounts(): MountInfo[] {
    return mountInfo(this.tracee.pid);
  }
}

/** The common start: everything private, then the scratch tmpfs over `base`. */
function prepare(box: MountSandbox, work: (box: MountSandbox) => ProbeOutcome): ProbeOutcome {
  const privatized = mount(box, null, '/', null, MS_REC | MS_PRIVATE, null);
  if (privatized.errno) return fromErrno(privatized.errno, 'Unable to remount / with MS_PRIVATE');
  const scratch = mount(box, 'criu-readiness', box.base, 'tmpfs', 0, null);
  if (scratch.errno) return mountFailed(scratch.errno, `Unable to mount tmpfs on ${box.base}`, 'tmpfs');
  return work(box);
}

function mount(
  box: MountSandbox,
  source: string | null,
  target: string,
  type: string | null,
  flags: number,
  data: string | null,
): CallResult {
  return box.call(SYS.mount, source, target, type, flags, data);
}

const noNamespace = (errno: number): ProbeOutcome =>
  errno === E.EPERM
    ? unknown('PermissionDenied', 'Unable to create a new mount namespace: EPERM')
    : unknown('UnexpectedResult', `Unable to create a new mount namespace: ${errnoName(errno)}`);

/**
 * Run `work` in a new mount namespace, with a fresh tmpfs at `base` to build
 * in. Everything is made private first, so nothing propagates out; the tmpfs
 * covers an existing directory in that namespace only, so nothing is made on
 * the host's filesystems either. No mount is taken down one by one (each
 * umount waits for an RCU grace period): the namespace is dropped whole, by
 * the runner closing its last descriptor on a libuv pool thread, or with the
 * tracee.
 */
function inPrivateMountNs(work: (box: MountSandbox) => ProbeOutcome): ProbeOutcome {
  // Asked first, so that no namespace or tracee is made only to be refused.
  if (!hasCapability(CAP_SYS_ADMIN))
    return unknown('PermissionDenied', 'Unable to create a new mount namespace: needs CAP_SYS_ADMIN');
  const base = SCRATCH_MOUNT_POINTS.find(isDirectory);
  if (!base)
    return unknown('UnexpectedResult', `None of ${SCRATCH_MOUNT_POINTS.join(', ')} is a directory to mount on`);
  if (!hasCapability(CAP_SYS_CHROOT)) {
    return traced((tracee) => {
      const box = new TraceeSandbox(tracee, base);
      const unshared = box.call(SYS.unshare, CLONE_NEWNS);
      return unshared.errno ? noNamespace(unshared.errno) : prepare(box, work);
    });
  }
  let privateNs = -1;
  try {
    return inPrivateNamespace({ kind: 'mnt', onError: noNamespace }, () => {
      privateNs = libc.open(procPath('thread-self', 'ns/mnt'), O_RDONLY | O_CLOEXEC, 0).ret;
      const box = new ThreadSandbox(base);
      try {
        return prepare(box, work);
      } finally {
        box.close();
      }
    });
  } finally {
    // After the thread has left: the namespace goes with this last descriptor, in the background.
    if (privateNs >= 0) closeInBackground(privateNs);
  }
}

/** The topmost mount at `path` in the sandbox's namespace. */
function mountAt(box: MountSandbox, path: string): MountInfo | undefined {
  return box
    .mounts()
    .filter((m) => m.mountPoint === path)
    .pop();
}

/** Make the directories, in order: the first failure is the probe's answer. */
function makeDirectories(box: MountSandbox, paths: readonly string[], what: string): ProbeOutcome | undefined {
  for (const path of paths) {
    const made = box.call(SYS.mkdirat, AT_FDCWD, path, DIRECTORY_MODE);
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
    const tmpfs = mount(box, 'criu.move_mount_set_group', source, 'tmpfs', 0, null);
    if (tmpfs.errno) return mountFailed(tmpfs.errno, `Fail to mount tmpfs to ${source}`, 'tmpfs');
    const noTarget = makeDirectories(box, [target], 'Fail to make dir');
    if (noTarget) return noTarget;
    const bind = mount(box, target, target, null, MS_BIND, null);
    if (bind.errno) return fromErrno(bind.errno, `Fail to make bind-mount ${target}`);
    const shared = mount(box, null, source, null, MS_SHARED, null);
    if (shared.errno) return fromErrno(shared.errno, `Fail to make ${source} shared`);
    const moved = box.call(SYS.move_mount, AT_FDCWD, source, AT_FDCWD, target, MOVE_MOUNT_SET_GROUP);
    if (moved.errno) {
      if (moved.errno === E.EINVAL) return unsupported('No MOVE_MOUNT_SET_GROUP kernel feature (EINVAL)');
      if (moved.errno === E.ENOSYS) return missingSyscall('No MOVE_MOUNT_SET_GROUP kernel feature (ENOSYS)');
      return fromErrno(moved.errno, 'Fail to MOVE_MOUNT_SET_GROUP');
    }
    // The kernel said yes: the bind mount must now be a peer of the tmpfs.
    const group = mountAt(box, source)?.tags.find((tag) => tag.startsWith('shared:'));
    const joined = mountAt(box, target)?.tags.find((tag) => tag.startsWith('shared:'));
    if (!group || group !== joined) {
      return unknown(
        'UnexpectedResult',
        `MOVE_MOUNT_SET_GROUP succeeded but the target is in ${joined ?? 'no'} peer group, not ${group ?? 'none'}`,
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
    const overlay = mount(box, 'criu-readiness', merged, 'overlay', 0, options);
    if (overlay.errno) return mountFailed(overlay.errno, 'Unable to mount overlayfs', 'overlay');
    const file = join(merged, 'test');
    const opened = box.call(SYS.openat, AT_FDCWD, file, O_RDWR | O_CREAT | O_CLOEXEC, TEST_FILE_MODE);
    if (opened.errno) return fromErrno(opened.errno, 'Unable to create a file on overlayfs');
    const fd = opened.ret;
    box.release({ fd: Number(fd) });
    const mapped = box.call(SYS.mmap, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped.errno) return fromErrno(mapped.errno, 'Unable to map the test file');
    box.release({ address: mapped.ret, length: PAGE_SIZE });
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

/** Two int: pipe2(2)'s read and write ends, in this order. */
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
    const ends = box.read(fds, PIPE_FDS_SIZE);
    [0, PIPE_WRITE_END_OFFSET].forEach((offset) => box.release({ fd: ends.readInt32LE(offset) }));
    const writeEnd = ends.readInt32LE(PIPE_WRITE_END_OFFSET);
    const dir = join(box.base, 'autofs');
    const noDirectory = makeDirectories(box, [dir], 'failed to make');
    if (noDirectory) return noDirectory;
    // pgrp is the mounting process's own (the runner's group, which a tracee
    // shares): the kernel treats this group as the daemon and never blocks it
    // waiting for a mount, should anything of ours touch dir. The mount, and
    // its reference to the pipe, go with the namespace.
    const pgrp = procStat(box.pid)?.pgrp;
    if (pgrp === undefined) return unknown('UnexpectedResult', 'Unable to read the process group');
    const options = `fd=${writeEnd},pgrp=${pgrp},minproto=5,maxproto=5,direct`;
    const mounted = mount(box, 'criu-readiness', dir, 'autofs', 0, options);
    if (mounted.errno) return mountFailed(mounted.errno, 'failed to mount autofs', 'autofs');
    return autofsPipeIno(box.mounts()) ?? unknown('UnexpectedResult', 'the autofs mount does not show in mountinfo');
  });
}
