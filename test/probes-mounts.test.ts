import t from 'tap';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProbeEngine, type ProbeResult } from '../src/engine/engine.js';
import type { ProbeOutcome } from '../src/model.js';
import * as mounts from '../src/probes/mounts.js';
import * as namespaces from '../src/probes/namespaces.js';
import * as lsm from '../src/probes/lsm.js';
import { runProbes } from './helpers/probe.js';
import { underRefusals } from './helpers/refusals.js';
import { MOUNT_PROBES, type RunnerPlace } from './fixtures/mountns-probes.js';
import { callProbe } from './helpers/direct.js';
import * as libc from '../src/native/libc.js';
import {
  CAP_DATA_SIZE,
  CAP_DATA_WORD_SIZE,
  CAP_HEADER_SIZE,
  CAP_SYS_CHROOT,
  LINUX_CAPABILITY_VERSION_3,
  SYS,
} from '../src/native/constants.js';

/** Need CAP_SYS_ADMIN: without it the answer is "could not tell", never "the kernel lacks it". */
const SYS_ADMIN_PROBES = ['clone_parent_vs_pid', 'move_mount_set_group', 'overlayfs_maps', 'autofs'];
/** The sources the probes give their mounts, and the filesystem types only they would add. */
const OUR_SOURCES = new Set(['criu-readiness', 'criu.move_mount_set_group']);
const OUR_FS_TYPES = new Set(['overlay', 'autofs', 'tmpfs']);
/** What the probes make inside their private tmpfs; none of it may appear on the host. */
const OUR_ENTRIES = ['shared', 'l', 'u', 'w', 'm', 'autofs'];
const SCRATCH_PARENTS = ['/tmp', '/run', '/mnt', '/var/tmp', '/media', '/srv', '/opt'];
const IS_ROOT = process.getuid?.() === 0;

function byName(results: ProbeResult[]): Map<string, ProbeOutcome> {
  return new Map(results.map((r) => [r.name, r.outcome]));
}

interface MountLine {
  id: string;
  mountPoint: string;
  fsType: string;
  source: string;
  line: string;
}

function parseMountinfo(text: string): Map<string, MountLine> {
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [before, after] = line.split(' - ');
      const fields = before.split(' ');
      const [fsType, source] = after.split(' ');
      return { id: fields[0], mountPoint: fields[4], fsType, source, line };
    });
  return new Map(lines.map((m) => [m.id, m]));
}

/**
 * What the probes could have done to a mount table: added a mount of theirs,
 * or changed a mount that was there (its propagation, say). Other tests may
 * mount and unmount their own things meanwhile: those are not counted.
 */
function traces(beforeText: string, afterText: string): string[] {
  const before = parseMountinfo(beforeText);
  const after = parseMountinfo(afterText);
  const found: string[] = [];
  for (const [id, m] of after) {
    const was = before.get(id);
    if (!was && (OUR_SOURCES.has(m.source) || (OUR_FS_TYPES.has(m.fsType) && m.fsType !== 'tmpfs')))
      found.push(`added: ${m.line}`);
    if (was && was.mountPoint === m.mountPoint && was.line !== m.line) found.push(`changed: ${was.line} -> ${m.line}`);
  }
  return found;
}

function hostEntries(): Set<string> {
  const entries = new Set<string>();
  for (const dir of SCRATCH_PARENTS.filter((d) => existsSync(d))) {
    for (const entry of readdirSync(dir)) if (OUR_ENTRIES.includes(entry)) entries.add(`${dir}/${entry}`);
  }
  return entries;
}

/** What of the probes' entries is on the host's filesystems now and was not `before`. */
function addedEntries(before: Set<string>): string[] {
  return [...hostEntries()].filter((entry) => !before.has(entry));
}

const asRoot = byName(runProbes(MOUNT_PROBES));
const asNobody = byName(runProbes(MOUNT_PROBES, { unprivileged: true }));

const hostHasAutofs = [...parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).values()].some(
  (m) => m.fsType === 'autofs',
);
t.test(
  'as root the mount probes get a kernel answer: supported, or unsupported saying what the kernel did',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    for (const name of SYS_ADMIN_PROBES) {
      const outcome = asRoot.get(name);
      t.ok(outcome, `${name} ran`);
      if (!outcome) continue;
      t.comment(`${name}: ${outcome.status} (${outcome.reason}) ${outcome.message}`);
      t.not(outcome.status, 'unknown', `${name} is not unknown as root: ${outcome.message}`);
      t.equal(outcome.reason, outcome.status === 'supported' ? 'Supported' : 'NotInKernel', name);
    }
  },
);

t.test(
  'a kernel that refuses MOVE_MOUNT_SET_GROUP, or CLONE_NEWPID with CLONE_PARENT, as older ones do (EINVAL) is found not to support them',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    const refused = underRefusals(['move_mount_set_group', 'clone_parent_vs_pid', '+overlayfs_maps']);
    for (const name of ['move_mount_set_group', 'clone_parent_vs_pid']) {
      t.equal(refused.get(name)?.status, 'unsupported', `${name}: ${refused.get(name)?.message}`);
      t.equal(refused.get(name)?.reason, 'NotInKernel', name);
    }
    t.equal(
      refused.get('overlayfs_maps')?.status,
      asRoot.get('overlayfs_maps')?.status,
      'the other mount probes are untouched',
    );
  },
);

t.test('without CAP_SYS_ADMIN the namespace probes answer unknown/PermissionDenied, never unsupported', async (t) => {
  for (const name of SYS_ADMIN_PROBES) {
    const outcome = asNobody.get(name);
    // CRIU reads an autofs mount already on the host without any privilege; so do we.
    if (name === 'autofs' && hostHasAutofs) {
      t.equal(outcome?.status, asRoot.get(name)?.status, `${name}: ${outcome?.message}`);
      continue;
    }
    t.equal(outcome?.status, 'unknown', `${name}: ${outcome?.message}`);
    t.equal(outcome?.reason, 'PermissionDenied', name);
  }
});

t.test(
  'without CAP_SYS_CHROOT the mount probes answer as root does: as in CRIU, CAP_SYS_ADMIN is what they need',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    const names = ['move_mount_set_group', 'overlayfs_maps', 'autofs'];
    const withoutChroot = byName(runProbes(names, { without: ['sys_chroot'] }));
    for (const name of names) t.same(withoutChroot.get(name), asRoot.get(name), name);
  },
);

t.test(
  'the runner is back in its mount namespace, root and cwd after each mount probe, and no mount is left',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    const hostBefore = hostEntries();
    const engine = new ProbeEngine({
      probeModule: fileURLToPath(new URL('./fixtures/mountns-probes.ts', import.meta.url)),
    });
    t.teardown(() => engine.close());
    const names = [
      'place_before',
      'move_mount_set_group',
      'place_1',
      'overlayfs_maps',
      'place_2',
      'autofs',
      'place_3',
      'clone_parent_vs_pid',
      'apparmor_stacking',
      'place_after',
    ];
    const results = byName(await engine.run(names));
    const places = ['place_before', 'place_1', 'place_2', 'place_3', 'place_after'].map(
      (name) => JSON.parse(results.get(name)?.message ?? '{}') as RunnerPlace,
    );
    const [home, ...later] = places;
    t.ok(home.mountNs.startsWith('mnt:['), home.mountNs);
    for (const place of later) {
      t.equal(place.mountNs, home.mountNs, 'same mount namespace');
      t.equal(place.root, home.root, 'same root');
      t.equal(place.cwd, home.cwd, 'same cwd');
      t.same(traces(home.mountinfo, place.mountinfo), [], 'no mount of the probes, no changed mount');
    }
    for (const name of ['move_mount_set_group', 'overlayfs_maps', 'autofs'])
      t.equal(results.get(name)?.status, asRoot.get(name)?.status, name);
    t.same(addedEntries(hostBefore), [], 'nothing of the probes on the host filesystem');
  },
);

t.test(
  'the mount table of this process is the same before and after a run of all mount probes',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    const before = readFileSync('/proc/self/mountinfo', 'utf8');
    const entriesBefore = hostEntries();
    runProbes(MOUNT_PROBES);
    t.same(traces(before, readFileSync('/proc/self/mountinfo', 'utf8')), []);
    t.same(addedEntries(entriesBefore), []);
  },
);

/** This process's children, from every thread's children list. */
function children(): string[] {
  return readdirSync('/proc/self/task')
    .flatMap((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'latin1').trim().split(/\s+/))
    .filter(Boolean)
    .sort();
}

async function settled(read: () => string[], expected: string[]): Promise<string[]> {
  // The private namespace is dropped on a pool thread after the probe returns: give it a moment.
  for (let i = 0; i < 50; i++) {
    const now = read();
    if (JSON.stringify(now) === JSON.stringify(expected)) return now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return read();
}

t.test(
  'called directly, the mount probes leave the calling thread, its descriptors and its children as they were',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    const mountNs = readlinkSync('/proc/thread-self/ns/mnt');
    const cwd = process.cwd();
    const fds = readdirSync('/proc/self/fd').sort();
    const kids = children();
    for (const probe of [
      mounts.moveMountSetGroup,
      mounts.overlayfsMaps,
      mounts.autofs,
      namespaces.cloneParentVsPid,
      lsm.apparmorStacking,
    ]) {
      const outcome = callProbe(probe);
      t.not(outcome.status, 'unknown', `${probe.name}: ${outcome.message}`);
      t.equal(readlinkSync('/proc/thread-self/ns/mnt'), mountNs, `${probe.name}: same mount namespace`);
      t.equal(readlinkSync('/proc/thread-self/cwd'), cwd, `${probe.name}: same cwd`);
      t.same(
        children(),
        kids,
        `${probe.name}: no child left (the clone's sibling is reaped, never handed to our parent)`,
      );
    }
    t.same(await settled(() => readdirSync('/proc/self/fd').sort(), fds), fds, 'every descriptor closed');
  },
);

/** This thread's capability sets (struct __user_cap_data_struct[2]), or set them. */
function capabilities(set?: Buffer): Buffer {
  const header = Buffer.alloc(CAP_HEADER_SIZE);
  header.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  const data = set ?? Buffer.alloc(CAP_DATA_SIZE);
  const res = libc.syscall(set ? SYS.capset : SYS.capget, ['void *', header], ['void *', data]);
  if (res.ret !== 0) throw new Error(`capget/capset: errno ${res.errno}`);
  return data;
}

/** Run `use` with `cap` out of this thread's effective set; it stays permitted, and comes back after. */
function withoutEffective<T>(cap: number, use: () => T): T {
  const saved = capabilities();
  const lowered = Buffer.from(saved);
  // Each 32-bit word of the sets starts with its effective part.
  const at = Math.floor(cap / 32) * CAP_DATA_WORD_SIZE;
  lowered.writeUInt32LE((lowered.readUInt32LE(at) & ~(1 << (cap % 32))) >>> 0, at);
  capabilities(lowered);
  try {
    return use();
  } finally {
    capabilities(saved);
  }
}

t.test(
  'without CAP_SYS_CHROOT, called directly, the mount probes answer as with it and leave no child, descriptor or mount',
  { skip: !IS_ROOT && 'needs root' },
  async (t) => {
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const entries = hostEntries();
    const fds = readdirSync('/proc/self/fd').sort();
    const kids = children();
    for (const probe of [mounts.moveMountSetGroup, mounts.overlayfsMaps, mounts.autofs]) {
      const withIt = callProbe(probe);
      const without = withoutEffective(CAP_SYS_CHROOT, () => callProbe(probe));
      t.same(without, withIt, `${probe.name}: ${without.message}`);
      t.same(children(), kids, `${probe.name}: no child left`);
    }
    t.same(traces(mountinfo, readFileSync('/proc/self/mountinfo', 'utf8')), [], 'no mount of the probes');
    t.same(addedEntries(entries), [], 'nothing of the probes on the host filesystem');
    t.same(await settled(() => readdirSync('/proc/self/fd').sort(), fds), fds, 'every descriptor closed');
  },
);
