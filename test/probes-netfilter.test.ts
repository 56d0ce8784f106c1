import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeResult } from '../src/engine/engine.js';
import { classifyNftError, hasIptLegacy } from '../src/probes/netfilter.js';
import { ipv6Enabled } from '../src/native/procfs.js';
import { runProbes } from './helpers/probe.js';
import { underRefusals } from './helpers/refusals.js';
import { callProbe } from './helpers/direct.js';

/** nsid is here to show the runner lives on after network_lock_nftables. */
const NAMES = ['network_lock_nftables', 'nftables', 'has_ipt_legacy', 'nsid'];
/** Probes that need no privilege at all: nobody gets root's answer. */
const UNPRIVILEGED_ALIKE = ['nftables', 'has_ipt_legacy'];

/** PATH is `dir` alone for the rest of the test. */
function searchOnly(t: Test, dir: string): void {
  const path = process.env.PATH;
  process.env.PATH = dir;
  t.teardown(() => {
    process.env.PATH = path;
  });
}

function byName(results: ProbeResult[]): Map<string, ProbeResult> {
  return new Map(results.map((r) => [r.name, r]));
}

const asRoot = byName(runProbes(NAMES));
const asNobody = byName(runProbes(NAMES, { unprivileged: true }));

t.test(
  'network_lock_nftables: a kernel without nfnetlink is found not to support it, and the runner survives libnftables',
  async (t) => {
    // libnftables exit()s when it cannot open its netlink socket: the probe must ask first.
    const refused = underRefusals(['network_lock_nftables', '+nsid']);
    t.match(refused.get('network_lock_nftables'), {
      status: 'unsupported',
      reason: 'NotInKernel',
      message: /nfnetlink: EPROTONOSUPPORT/,
    });
    t.match(
      refused.get('nsid'),
      { status: asRoot.get('nsid')?.outcome.status },
      'the runner lived on to run the next probe',
    );
  },
);

t.test(
  'network_lock_nftables: nfnetlink refused (EPERM) is unknown/PermissionDenied, not a crashed probe',
  async (t) => {
    const refused = underRefusals(['network_lock_nftables=EPERM']);
    t.match(refused.get('network_lock_nftables'), { status: 'unknown', reason: 'PermissionDenied' });
  },
);

t.test('network_lock_nftables: libnftables makes an inet table with a concatenated set', async (t) => {
  t.match(asRoot.get('network_lock_nftables')?.outcome, { status: 'supported' });
});

t.test('nftables: libnftables loads', async (t) => {
  t.match(asRoot.get('nftables')?.outcome, { status: 'supported', message: /libnftables\.so\.1/ });
});

t.test('has_ipt_legacy: finds an iptables-save that says legacy', async (t) => {
  const outcome = asRoot.get('has_ipt_legacy')?.outcome;
  t.match(outcome, { status: 'supported', message: /iptables cmd: \/\S+save/ });
  const path = /iptables cmd: (\S+?),?(\s|$)/.exec(outcome?.message ?? '')?.[1] ?? '';
  t.match(execFileSync(path, ['-V'], { encoding: 'utf8' }), /legacy/);
});

t.test(
  "has_ipt_legacy: iptables' multi-call binary is started once for both its names",
  { skip: !ipv6Enabled() && 'IPv6 is off here: only the iptables name is asked' },
  async (t) => {
    const dir = t.testdir({
      'xtables-legacy-multi':
        '#!/bin/sh\necho run >> "$(dirname "$0")/runs"\necho "$(basename "$0") v1.8.9 (legacy)"\n',
      'iptables-legacy-save': t.fixture('symlink', 'xtables-legacy-multi'),
      'ip6tables-legacy-save': t.fixture('symlink', 'xtables-legacy-multi'),
    });
    chmodSync(join(dir, 'xtables-legacy-multi'), 0o755);
    searchOnly(t, dir);
    t.match(callProbe(hasIptLegacy), {
      status: 'supported',
      message: `iptables cmd: ${dir}/iptables-legacy-save, ip6tables cmd: ${dir}/ip6tables-legacy-save`,
    });
    t.equal(readFileSync(join(dir, 'runs'), 'utf8'), 'run\n');
  },
);

t.test(
  'has_ipt_legacy: an iptables-save that does not answer -V in time is unknown/Timeout, not "no legacy iptables"',
  async (t) => {
    const dir = t.testdir({ 'iptables-legacy-save': '#!/bin/sh\nexec sleep 10\n' });
    chmodSync(join(dir, 'iptables-legacy-save'), 0o755);
    searchOnly(t, dir);
    t.match(callProbe(hasIptLegacy), {
      status: 'unknown',
      reason: 'Timeout',
      message: /iptables-legacy-save -V did not answer/,
    });
  },
);

t.test(
  'has_ipt_legacy: an iptables-save that is there but cannot run here (a filter refusing getuid) is unknown, not "no legacy iptables"',
  async (t) => {
    const dir = t.testdir({
      'iptables-legacy-save': '#!/bin/sh\necho "can\'t initialize iptables: Function not implemented" >&2\nexit 111\n',
    });
    chmodSync(join(dir, 'iptables-legacy-save'), 0o755);
    searchOnly(t, dir);
    t.match(callProbe(hasIptLegacy), {
      status: 'unknown',
      reason: 'UnexpectedResult',
      message: /iptables-legacy-save -V did not run here \(exit 111\)/,
    });
  },
);

t.test(
  'as nobody, network_lock_nftables (CAP_NET_ADMIN, CAP_SYS_ADMIN) answers unknown/PermissionDenied, never unsupported',
  async (t) => {
    t.match(asNobody.get('network_lock_nftables')?.outcome, { status: 'unknown', reason: 'PermissionDenied' });
  },
);

t.test('as nobody, the probes that need no privilege answer as for root', async (t) => {
  for (const name of UNPRIVILEGED_ALIKE) {
    t.equal(asNobody.get(name)?.outcome.status, asRoot.get(name)?.outcome.status, name);
  }
});

t.test("network_lock_nftables: only a kernel's words make libnftables' failure unsupported", async (t) => {
  t.match(classifyNftError('Could not process rule: Operation not supported', 'm'), {
    status: 'unsupported',
    reason: 'NotInKernel',
  });
  t.match(classifyNftError('Could not process rule: Operation not permitted', 'm'), {
    status: 'unknown',
    reason: 'PermissionDenied',
  });
  // A refused sendmsg or recvmsg (a seccomp filter): libnftables' own failure, nothing of the kernel.
  t.match(classifyNftError('Error: Could not process rule: Function not implemented', 'm'), {
    status: 'unknown',
    reason: 'UnexpectedResult',
  });
  t.match(classifyNftError('internal error: netlink: Bad file descriptor', 'm'), {
    status: 'unknown',
    reason: 'UnexpectedResult',
  });
});
