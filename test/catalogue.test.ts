import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { CATALOGUE, FEATURE_NAMES, findFeature, kernelHint } from '../src/catalogue.js';
import { runProbes } from './helpers/probe.js';

/** Every check of criu check: CRIU's --feature names and the names given to the checks CRIU leaves unnamed. */
const EXPECTED = {
  required: [
    'map_files',
    'sock_diag',
    'ns_last_pid',
    'sock_peek_off',
    'kcmp',
    'prctl',
    'fcntl',
    'proc_stat',
    'tcp_repair',
    'fdinfo_ext',
    'unaligned_vmsplice',
    'tty',
    'so_gets',
    'ipc',
    'sigqueueinfo',
    'ptrace_peeksiginfo',
    'special_mapping_mremap',
  ],
  extra: [
    'prctl_set_mm_map',
    'seccomp_suspend',
    'seccomp_filters',
    'mem_dirty_track',
    'posix_timers',
    'tun_cr',
    'timerfd',
    'mnt_id',
    'aio_remap',
    'fdinfo_lock',
    'clone_parent_vs_pid',
    'cgroupns',
    'tcp_window',
    'tcp_half_closed',
    'userns',
    'loginuid',
    'can_map_vdso',
    'uffd',
    'uffd-noncoop',
    'sk_ns',
    'kcmp_epoll',
    'net_diag_raw',
    'clone3_set_tid',
    'timens',
    'newifindex',
    'pidfd_store',
    'ns_pid',
    'network_lock_nftables',
    'sockopt_buf_lock',
    'memfd_hugetlb',
    'move_mount_set_group',
    'openat2',
    'get_rseq_conf',
    'ipv6_freebind',
    'pagemap_scan',
    'overlayfs_maps',
    'timer_cr_ids',
    'pagemap_scan_guard_pages',
    'apparmor_stacking',
  ],
  experimental: ['autofs', 'compat_cr'],
  advisory: [
    'breakpoints',
    'tun',
    'tun_ns',
    'sk_unix_file',
    'nsid',
    'link_nsid',
    'external_net_ns',
    'nftables',
    'has_ipt_legacy',
  ],
  // Not criu check's: the userspace chain a container checkpoint goes through.
  runtime: [
    'criu_binary',
    'criu_version',
    'criu_runs',
    'criu_canary',
    'oci_runtime',
    'cri_checkpoint',
    'kubelet_checkpoint',
    'checkpoint_storage',
  ],
};

t.test('the catalogue holds every check of criu check, each in its category', async (t) => {
  for (const [category, names] of Object.entries(EXPECTED)) {
    t.same(
      CATALOGUE.filter((f) => f.category === category)
        .map((f) => f.name)
        .sort(),
      [...names].sort(),
      category,
    );
  }
  t.equal(CATALOGUE.length, Object.values(EXPECTED).flat().length);
});

t.test('the probes that run first in every run: aio_remap, whose clean-up outlives it', async (t) => {
  t.same(
    CATALOGUE.filter((f) => f.runsFirst).map((f) => f.name),
    ['aio_remap'],
  );
});

t.test('feature names are unique and findFeature finds each', async (t) => {
  t.equal(new Set(FEATURE_NAMES).size, FEATURE_NAMES.length);
  for (const name of FEATURE_NAMES) t.equal(findFeature(name)?.name, name);
  t.equal(findFeature('no_such_feature'), undefined);
});

t.test('every row has a summary, well-formed config options, and a hint unless nothing can fix it', async (t) => {
  for (const f of CATALOGUE) {
    t.ok(f.summary.length > 5, `${f.name} summary`);
    for (const option of f.kconfig) t.match(option, /^CONFIG_[A-Z0-9_]+$/, `${f.name} kconfig`);
    if (f.name !== 'external_net_ns') t.ok(f.hint.length > 5, `${f.name} hint`);
  }
});

t.test('every row says, in one sentence of its own, what CRIU (or the checkpoint chain) does with it', async (t) => {
  const seen = new Map<string, string>();
  for (const f of CATALOGUE) {
    t.ok(f.criuUses.trim().length > 20, `${f.name}: not empty`);
    t.match(f.criuUses, /^[^\n]+\.$/, `${f.name}: one line ending with a period`);
    t.notMatch(f.criuUses, /\.\s+[A-Z]/, `${f.name}: no second sentence`);
    t.notMatch(f.criuUses, /`|\*\*|\]\(/, `${f.name}: no markdown`);
    t.ok(f.criuUses.split(/\s+/).length <= 25, `${f.name}: short (${f.criuUses.split(/\s+/).length} words)`);
    t.equal(seen.get(f.criuUses), undefined, `${f.name}: not the same as another row's`);
    seen.set(f.criuUses, f.name);
  }
});

t.test('a hint starts with the minimum kernel, then says the rest of the fix', async (t) => {
  t.equal(kernelHint('5.6', undefined), 'a kernel of 5.6 or later');
  t.equal(kernelHint('4.6', 'enable CONFIG_CGROUPS'), 'a kernel of 4.6 or later; enable CONFIG_CGROUPS');
  t.equal(kernelHint(undefined, 'install libnftables1'), 'install libnftables1');
  t.equal(kernelHint(undefined, undefined), '');
});

t.test("every minimum kernel is a release (major.minor) and the row's hint names it", async (t) => {
  for (const f of CATALOGUE.filter((f) => f.minKernel !== undefined)) {
    t.match(f.minKernel, /^\d+\.\d+$/, f.name);
    t.ok(f.hint.startsWith(`a kernel of ${f.minKernel} or later`), `${f.name}: ${f.hint}`);
  }
  t.notOk(
    CATALOGUE.some((f) => f.minKernel === undefined && /kernel of \d/.test(f.hint)),
    'no version is written into a hint by hand',
  );
});

t.test('no probe is a placeholder', async (t) => {
  const dir = new URL('../src/probes/', import.meta.url);
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
    t.notMatch(readFileSync(new URL(file, dir), 'utf8'), /PLACEHOLDER/, file);
  }
});

const asRoot = runProbes([...FEATURE_NAMES]);
const asNobody = runProbes([...FEATURE_NAMES], { unprivileged: true });

t.test('as root every check gives a definite answer from what the kernel did', async (t) => {
  for (const r of asRoot) {
    t.not(r.outcome.status, 'unknown', `${r.name}: ${r.outcome.reason}: ${r.outcome.message}`);
    // NotApplicable: supported because there is nothing to do (apparmor_stacking without AppArmor).
    const supportedReasons = ['Supported', 'NotApplicable'];
    t.equal(
      supportedReasons.includes(r.outcome.reason),
      r.outcome.status === 'supported',
      `${r.name} reason matches status`,
    );
  }
});

t.test('as an unprivileged user a check never turns unsupported where root found support', async (t) => {
  for (const [i, r] of asNobody.entries()) {
    if (r.outcome.status === 'unsupported')
      t.equal(asRoot[i].outcome.status, 'unsupported', `${r.name}: ${r.outcome.message}`);
  }
});

t.test('as an unprivileged user every check that needs a capability answers unknown/PermissionDenied', async (t) => {
  for (const [i, r] of asNobody.entries()) {
    const feature = findFeature(r.name);
    if (!feature?.needs?.includes('CAP_') || asRoot[i].outcome.status === 'unsupported') continue;
    if (r.outcome.status === 'supported') continue; // the capability is needed only on some kernels or settings
    t.match(r.outcome, { status: 'unknown', reason: 'PermissionDenied' }, r.name);
  }
});
