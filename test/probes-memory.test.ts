import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runProbes } from './helpers/probe.js';
import { underRefusals } from './helpers/refusals.js';
import {
  assertKernelAnswers,
  assertFoundMissing,
  assertFilterSuspected,
  assertSupportedWhereBrought,
  byName,
  type Brought,
  assertSameAsRoot,
} from './helpers/kernel-answers.js';
import * as memory from '../src/probes/memory.js';
import { PAGE_SIZE } from '../src/native/constants.js';
import { callProbe } from './helpers/direct.js';

/** The config options each feature needs; its kernel release is the catalogue's minKernel. */
const BROUGHT: Brought = {
  mem_dirty_track: ['CONFIG_MEM_SOFT_DIRTY'],
  aio_remap: ['CONFIG_AIO'],
  uffd: ['CONFIG_USERFAULTFD'],
  'uffd-noncoop': ['CONFIG_USERFAULTFD'],
  pagemap_scan: ['CONFIG_PROC_PAGE_MONITOR'],
  pagemap_scan_guard_pages: ['CONFIG_PROC_PAGE_MONITOR'],
};
const PROBES = Object.keys(BROUGHT);
/** Need no privilege: nobody gets root's answer. */
const UNPRIVILEGED_ALIKE = ['mem_dirty_track', 'aio_remap', 'pagemap_scan', 'pagemap_scan_guard_pages'];
const UFFD_PROBES = ['uffd', 'uffd-noncoop'];

const asRoot = byName(runProbes(PROBES));
const asNobody = byName(runProbes(PROBES, { unprivileged: true }));

t.test(
  'as root every memory probe gets a kernel answer: supported, or unsupported saying what the kernel did',
  async (t) => {
    // Answers that are not an errno: what the probe saw instead.
    assertKernelAnswers(
      t,
      asRoot,
      PROBES,
      /Dirty tracking is OFF|No AIO ring|Non-cooperative UFFD|Incompatible uffd API|did not report/,
    );
  },
);

t.test('a kernel with the release and config a feature came with is found to support it', async (t) => {
  assertSupportedWhereBrought(t, asRoot, BROUGHT);
});

t.test('probes that need no privilege give nobody the answer root gets', async (t) => {
  assertSameAsRoot(t, asNobody, asRoot, UNPRIVILEGED_ALIKE);
});

t.test('userfaultfd as nobody answers what vm.unprivileged_userfaultfd allows', async (t) => {
  const unprivilegedAllowed = readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'latin1').trim() === '1';
  t.comment(`vm.unprivileged_userfaultfd=${unprivilegedAllowed ? 1 : 0}`);
  for (const name of UFFD_PROBES) {
    const outcome = asNobody.get(name);
    // No userfaultfd at all (ENOSYS) is the same answer for everyone.
    const noSyscall = /ENOSYS/.test(asRoot.get(name)?.message ?? '');
    if (unprivilegedAllowed || noSyscall) {
      t.equal(outcome?.status, asRoot.get(name)?.status, `${name}: ${outcome?.message}`);
    } else {
      t.equal(outcome?.status, 'unknown', `${name}: ${outcome?.message}`);
      t.equal(outcome?.reason, 'PermissionDenied', name);
    }
  }
});

t.test(
  'a filter refusing userfaultfd with EPERM to a holder of CAP_SYS_PTRACE: unknown, blaming the filter, not the capability',
  { skip: process.getuid?.() !== 0 && 'needs root (CAP_SYS_PTRACE held)' },
  async (t) => {
    const refused = underRefusals(['uffd=EPERM', 'uffd-noncoop=EPERM']);
    for (const name of UFFD_PROBES) {
      const outcome = refused.get(name);
      t.match(outcome, { status: 'unknown', reason: 'PermissionDenied', message: /seccomp mode 2/ }, name);
      t.notMatch(outcome?.message, /CAP_SYS_PTRACE/, `${name}: ${outcome?.message}`);
    }
  },
);

function aioRings(): number {
  return readFileSync('/proc/self/maps', 'latin1')
    .split('\n')
    .filter((line) => line.includes('[aio]')).length;
}

t.test('the memory probes close every descriptor, and aio_remap destroys its AIO ring', async (t) => {
  const probes = [
    memory.memDirtyTrack,
    memory.aioRemap,
    memory.uffd,
    memory.uffdNoncoop,
    memory.pagemapScan,
    memory.pagemapScanGuardPages,
  ];
  const fdsBefore = readdirSync('/proc/self/fd').length;
  const ringsBefore = aioRings();
  for (const probe of probes) callProbe(probe);
  t.equal(readdirSync('/proc/self/fd').length, fdsBefore);
  // The ring is destroyed in the background: give it a moment, not forever.
  for (let waited = 0; aioRings() !== ringsBefore && waited < 2_000; waited += 20)
    await new Promise((r) => setTimeout(r, 20));
  t.equal(aioRings(), ringsBefore);
});

/** V8's gc(), so that heap growth does not hide in the measurement. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function mappedBytes(): number {
  return readFileSync('/proc/self/maps', 'latin1')
    .split('\n')
    .map((line) => /^([0-9a-f]+)-([0-9a-f]+) /.exec(line))
    .reduce((sum, m) => sum + (m ? parseInt(m[2], 16) - parseInt(m[1], 16) : 0), 0);
}

t.test('the memory probes unmap what they map', async (t) => {
  // aio_remap is left out: its ring replaces the mapping made for it, and the
  // ring count above shows io_destroy took it away (and each call waits ~30 ms).
  const probes = [memory.memDirtyTrack, memory.pagemapScan, memory.pagemapScanGuardPages];
  const ROUNDS = 2000;
  for (const probe of probes) {
    // Warm up first: bindings, malloc arenas and the heap settle; after that a
    // leak of even one page a call grows the address space by ROUNDS pages.
    for (let round = 0; round < ROUNDS / 4; round++) callProbe(probe);
    gc();
    const before = mappedBytes();
    for (let round = 0; round < ROUNDS; round++) callProbe(probe);
    gc();
    const growth = mappedBytes() - before;
    t.ok(
      growth < (ROUNDS / 2) * PAGE_SIZE,
      `${probe.name}: the address space grew by ${growth} bytes in ${ROUNDS} calls`,
    );
  }
});

t.test('a kernel that refuses each memory feature as one without it does is found not to support it', async (t) => {
  // mem_dirty_track is left out: its refusal is a write to clear_refs, which a filter cannot pick out.
  const names = ['aio_remap', 'pagemap_scan', 'pagemap_scan_guard_pages'];
  const refused = underRefusals([...names, '+mem_dirty_track']);
  t.equal(
    refused.get('mem_dirty_track')?.status,
    asRoot.get('mem_dirty_track')?.status,
    'the filter refuses nothing else',
  );
  assertFoundMissing(t, refused, names);
});

t.test(
  'under a seccomp filter, userfaultfd answering ENOSYS is not taken for a kernel without it: unknown, naming the filter',
  async (t) => {
    const names = ['uffd', 'uffd-noncoop'];
    assertFilterSuspected(t, underRefusals(names), names);
  },
);
