import t from 'tap';
import { findFeature, type Feature } from '../src/catalogue.js';
import { hintFor, oneLine, SECCOMP_HINT, toVerdict, type Confinement } from '../src/service/check.js';
import { CAPABILITIES } from '../src/native/constants.js';
import { unknown, unsupported, type KconfigValue, type ProbeOutcome } from '../src/model.js';
import type { KernelConfig } from '../src/service/kconfig.js';

const ALL_CAPS = (1n << 41n) - 1n;
const root: Confinement = { seccompFiltered: false, capabilities: ALL_CAPS };
const filtered: Confinement = { seccompFiltered: true, capabilities: ALL_CAPS };
const nobody: Confinement = { seccompFiltered: false, capabilities: 0n };

function feature(name: string): Feature {
  const f = findFeature(name);
  if (!f) throw new Error(`no feature ${name}`);
  return f;
}

/** A kernel config where every option asked for has `value`. */
const configWith = (value: string): KernelConfig => ({ source: 'test', get: () => value });

function verdictOf(name: string, outcome: ProbeOutcome, confinement: Confinement, config = configWith('y')) {
  return toVerdict(feature(name), { name, outcome, durationMs: 1 }, config, confinement);
}

t.test('an unknown under a seccomp filter names the filter, not a kernel option', async (t) => {
  const v = verdictOf('kcmp', unknown('PermissionDenied', 'kcmp is not supported: EPERM'), filtered);
  t.equal(v.hint, SECCOMP_HINT);
  t.notMatch(v.hint, /CONFIG_KCMP/);
});

t.test('an unknown under a seccomp filter names the filter, not a capability root holds', async (t) => {
  for (const name of ['seccomp_suspend', 'seccomp_filters', 'uffd', 'uffd-noncoop', 'unaligned_vmsplice']) {
    t.equal(verdictOf(name, unknown('PermissionDenied', `${name}: EPERM`), filtered).hint, SECCOMP_HINT, name);
  }
});

t.test(
  'under a seccomp filter, a refusal to a process lacking the capability names the capability, then the filter',
  async (t) => {
    const unprivilegedFiltered: Confinement = { seccompFiltered: true, capabilities: 0n };
    const v = verdictOf('tcp_repair', unknown('PermissionDenied', 'EPERM'), unprivilegedFiltered);
    t.equal(v.hint, `needs CAP_NET_ADMIN; also, ${SECCOMP_HINT}`);
    // A check that needs no capability: the filter alone.
    t.equal(verdictOf('kcmp', unknown('PermissionDenied', 'EPERM'), unprivilegedFiltered).hint, SECCOMP_HINT);
  },
);

t.test('no /dev/net/tun: each tun check tells to give the container the device', async (t) => {
  for (const name of ['tun', 'tun_cr', 'tun_ns']) {
    const outcome = unknown('DeviceUnavailable', 'open /dev/net/tun: ENOENT');
    for (const confinement of [root, filtered])
      t.match(verdictOf(name, outcome, confinement).hint, 'give the container /dev/net/tun', name);
  }
});

t.test('no runner under a seccomp filter: the hint names the filter', async (t) => {
  t.equal(
    verdictOf('kcmp', unknown('RunnerUnavailable', 'could not start the runner: spawn ENOSYS'), filtered).hint,
    SECCOMP_HINT,
  );
});

t.test('a permission refused to a process without the capability names the capability', async (t) => {
  t.equal(verdictOf('tcp_repair', unknown('PermissionDenied', 'EPERM'), nobody).hint, 'needs CAP_NET_ADMIN');
});

t.test('a permission refused to a process holding every capability named blames no capability', async (t) => {
  t.notMatch(verdictOf('tcp_repair', unknown('PermissionDenied', 'EPERM'), root).hint, /needs CAP_/);
});

t.test('the capabilities a feature needs are read from its needs text', async (t) => {
  const withoutNetAdmin = ALL_CAPS & ~(1n << BigInt(CAPABILITIES.CAP_NET_ADMIN));
  t.equal(
    hintFor(feature('tcp_repair'), 'unknown', 'PermissionDenied', [], {
      seccompFiltered: false,
      capabilities: withoutNetAdmin,
    }),
    'needs CAP_NET_ADMIN',
  );
});

t.test('never advice to enable an option the kernel config shows enabled', async (t) => {
  const kconfig: KconfigValue[] = [
    { option: 'CONFIG_KCMP', value: 'y' },
    { option: 'CONFIG_CHECKPOINT_RESTORE', value: 'y' },
  ];
  t.notMatch(hintFor(feature('kcmp'), 'unknown', 'UnexpectedResult', kconfig, root), /enable CONFIG_KCMP/);
  t.notMatch(
    hintFor(
      feature('kcmp_epoll'),
      'unsupported',
      'NotInKernel',
      [
        { option: 'CONFIG_KCMP', value: 'y' },
        { option: 'CONFIG_EPOLL', value: 'y' },
      ],
      root,
    ),
    /enable CONFIG_KCMP/,
  );
});

t.test('advice to enable an option the config shows off is kept', async (t) => {
  t.match(
    hintFor(feature('kcmp'), 'unknown', 'UnexpectedResult', [{ option: 'CONFIG_KCMP', value: 'unknown' }], root),
    /enable CONFIG_KCMP/,
  );
});

t.test('a message that spans lines (libnftables) becomes one line', async (t) => {
  const v = verdictOf(
    'network_lock_nftables',
    unsupported('Error: Could not process rule: No such file\ncreate table inet CRIU\n^^^^^\n'),
    root,
    configWith('not set'),
  );
  t.equal(v.message, 'Error: Could not process rule: No such file; create table inet CRIU; ^^^^^');
  t.equal(oneLine('a\r\n  b'), 'a; b');
});

t.test('uffd-noncoop says what it needs, not "as uffd"', async (t) => {
  t.notMatch(feature('uffd-noncoop').needs ?? '', /^as /);
});
