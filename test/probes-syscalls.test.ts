import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { runProbes } from './helpers/probe.js';
import { underRefusals } from './helpers/refusals.js';
import {
  assertKernelAnswers,
  assertSupportedWhereBrought,
  byName,
  type Brought,
  assertSameAsRoot,
  assertFoundMissing,
  assertFilterSuspected,
} from './helpers/kernel-answers.js';
import { fromErrno, missingSyscall } from '../src/probes/outcome.js';
import { errno as E } from '../src/native/constants.js';
import * as syscalls from '../src/probes/syscalls.js';
import { callProbe } from './helpers/direct.js';

/**
 * This family's new probes, with the config options that bring each one (the
 * kernel release is the catalogue's minKernel): on a kernel that has them all,
 * the probe must say supported.
 */
const EXPECTED: Brought = {
  prctl_set_mm_map: ['CONFIG_CHECKPOINT_RESTORE'],
  userns: ['CONFIG_USER_NS', 'CONFIG_CHECKPOINT_RESTORE'],
  timerfd: ['CONFIG_TIMERFD', 'CONFIG_CHECKPOINT_RESTORE'],
  kcmp_epoll: ['CONFIG_KCMP', 'CONFIG_EPOLL'],
  clone3_set_tid: [],
  pidfd_store: [],
  memfd_hugetlb: ['CONFIG_HUGETLBFS'],
  openat2: [],
  timer_cr_ids: ['CONFIG_POSIX_TIMERS'],
};
const PROBES = Object.keys(EXPECTED);
const SYSCTL_PROBES = ['ns_last_pid', 'ipc'];

const asRoot = byName(runProbes([...PROBES, ...SYSCTL_PROBES]));
const asNobody = byName(runProbes([...PROBES, ...SYSCTL_PROBES], { unprivileged: true }));

t.test('as root every syscall probe gets a kernel answer: supported, or unsupported naming the errno', async (t) => {
  assertKernelAnswers(t, asRoot, PROBES);
});

t.test('a kernel with the release and config a feature came with is found to support it', async (t) => {
  assertSupportedWhereBrought(t, asRoot, EXPECTED);
});

t.test("these probes need no privilege: nobody gets root's answer", async (t) => {
  assertSameAsRoot(t, asNobody, asRoot, PROBES);
});

t.test('ns_last_pid and ipc are written back as root', async (t) => {
  t.equal(asRoot.get('ns_last_pid')?.status, 'supported', String(asRoot.get('ns_last_pid')?.message));
  t.match(asRoot.get('ns_last_pid')?.message, /^wrote the value back$/);
  t.equal(asRoot.get('ipc')?.status, 'supported', String(asRoot.get('ipc')?.message));
});

t.test(
  'ns_last_pid and ipc answer unknown/PermissionDenied to nobody, whom access() would have let through',
  async (t) => {
    for (const name of SYSCTL_PROBES) {
      t.equal(asNobody.get(name)?.status, 'unknown', `${name}: ${asNobody.get(name)?.message}`);
      t.equal(asNobody.get(name)?.reason, 'PermissionDenied', name);
    }
    // The kernel checks ns_last_pid's privilege on write: the error is the write's EPERM.
    t.match(asNobody.get('ns_last_pid')?.message, /EPERM/);
  },
);

t.test(
  'the ipc probe leaves sem_next_id as it found it',
  { skip: process.getuid?.() !== 0 && 'needs root' },
  async (t) => {
    const path = '/proc/sys/kernel/sem_next_id';
    const before = readFileSync(path, 'latin1');
    const [outcome] = runProbes(['ipc']);
    t.equal(outcome.outcome.status, 'supported', outcome.outcome.message);
    t.equal(readFileSync(path, 'latin1'), before);
  },
);

t.test('called directly, the syscall probes close every descriptor they open', async (t) => {
  const direct = [
    syscalls.prctlSetMmMap,
    syscalls.userns,
    syscalls.timerfd,
    syscalls.kcmpEpoll,
    syscalls.clone3SetTid,
    syscalls.pidfdStore,
    syscalls.memfdHugetlb,
    syscalls.openat2,
    syscalls.timerCrIds,
  ];
  const before = readdirSync('/proc/self/fd').sort();
  for (const probe of direct) callProbe(probe);
  // kcmp_epoll's descriptors are closed on a libuv thread (see fds.ts): give them a moment, not forever.
  const fds = () => readdirSync('/proc/self/fd').sort();
  for (let waited = 0; fds().length !== before.length && waited < 2_000; waited += 20)
    await new Promise((r) => setTimeout(r, 20));
  t.same(fds(), before);
});

/** The probes whose refusal is a missing system call (ENOSYS). */
const MISSING_SYSCALL = ['clone3_set_tid', 'pidfd_store', 'openat2'];

t.test(
  'a kernel that refuses each feature as one without it does (EINVAL, ENOTTY) is found not to support it',
  async (t) => {
    const names = PROBES.filter((name) => !MISSING_SYSCALL.includes(name));
    assertFoundMissing(t, underRefusals(names), names);
  },
);

t.test(
  "under a seccomp filter a missing system call (ENOSYS) is not taken for the kernel's: unknown, naming the filter",
  async (t) => {
    // Container runtimes' default filters answer ENOSYS for calls they do not know, and for clone3 on purpose.
    const names = [...MISSING_SYSCALL, 'kcmp'];
    assertFilterSuspected(t, underRefusals(names), names);
  },
);

t.test("without a seccomp filter, ENOSYS is the kernel's answer: the call is missing", async (t) => {
  t.match(fromErrno(E.ENOSYS, 'pidfd_open'), { status: 'unsupported', reason: 'NotInKernel' });
  t.match(missingSyscall('No openat2 syscall support'), { status: 'unsupported', reason: 'NotInKernel' });
});

t.test("a filter's EPERM never makes a system call look present: kcmp and openat2 answer unknown", async (t) => {
  // (clone3 cannot be refused so: glibc makes Node's threads with it and falls back to clone only on ENOSYS.)
  const refused = underRefusals(['kcmp=EPERM', 'openat2=EACCES']);
  for (const name of ['kcmp', 'openat2']) {
    t.match(
      refused.get(name),
      { status: 'unknown', reason: 'PermissionDenied' },
      `${name}: ${refused.get(name)?.message}`,
    );
  }
});

t.test('the refusing filter refuses only what it names: the other prctl and kcmp uses still work', async (t) => {
  const results = underRefusals(['timer_cr_ids', 'kcmp_epoll', '+prctl_set_mm_map', '+timerfd']);
  t.equal(results.get('timer_cr_ids')?.status, 'unsupported');
  t.equal(results.get('kcmp_epoll')?.status, 'unsupported');
  t.equal(results.get('prctl_set_mm_map')?.status, asRoot.get('prctl_set_mm_map')?.status);
  t.equal(results.get('timerfd')?.status, asRoot.get('timerfd')?.status);
});
