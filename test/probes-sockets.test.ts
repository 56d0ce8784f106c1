import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runProbes, UNPRIVILEGED } from './helpers/probe.js';
import { underRefusals } from './helpers/refusals.js';
import {
  assertKernelAnswers,
  assertFoundMissing,
  assertSupportedWhereBrought,
  byName,
  type Brought,
  assertSameAsRoot,
} from './helpers/kernel-answers.js';
import type { ProbeResult } from '../src/engine/engine.js';
import * as sockets from '../src/probes/sockets.js';
import { TS_LOADER } from './helpers/node.js';
import { callProbe } from './helpers/direct.js';

/** This family's probes that were placeholders, and the finished ones they must not disturb. */
const NEW_PROBES = [
  'tun_cr',
  'tcp_window',
  'tcp_half_closed',
  'sk_ns',
  'sockopt_buf_lock',
  'ipv6_freebind',
  'tun',
  'tun_ns',
  'sk_unix_file',
];
const FINISHED_PROBES = ['sock_peek_off', 'tcp_repair', 'so_gets'];
/** Need CAP_NET_ADMIN: without it the answer is "could not tell", never "the kernel lacks it". */
const NET_ADMIN_PROBES = ['tcp_window', 'tcp_half_closed', 'sk_ns', 'tun_ns', 'sk_unix_file'];
/** Need no privilege: nobody gets root's answer. */
const UNPRIVILEGED_ALIKE = ['sockopt_buf_lock', 'ipv6_freebind', 'sock_peek_off', 'so_gets'];
/** Need only access to /dev/net/tun, which nobody may or may not have. */
const TUN_DEVICE_PROBES = ['tun_cr', 'tun'];

/** The config options each feature needs (its kernel release is the catalogue's minKernel); the tun ones also need the device node here. */
const BROUGHT: Brought = {
  tcp_window: ['CONFIG_INET'],
  tcp_half_closed: ['CONFIG_INET'],
  sk_ns: ['CONFIG_NET_NS'],
  sockopt_buf_lock: ['CONFIG_INET'],
  ipv6_freebind: ['CONFIG_IPV6'],
  sk_unix_file: ['CONFIG_UNIX'],
  ...(existsSync('/dev/net/tun')
    ? {
        tun_cr: ['CONFIG_TUN'],
        tun: ['CONFIG_TUN'],
        tun_ns: ['CONFIG_TUN', 'CONFIG_NET_NS'],
      }
    : {}),
};

function linkNames(): string[] {
  return execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(': ')[1]);
}

const asRoot = byName(runProbes([...NEW_PROBES, ...FINISHED_PROBES]));
const asNobody = byName(runProbes([...NEW_PROBES, ...FINISHED_PROBES], { unprivileged: true }));

t.test('as root every socket probe gets a kernel answer: supported, or unsupported naming the errno', async (t) => {
  assertKernelAnswers(t, asRoot, [...NEW_PROBES, ...FINISHED_PROBES], /did not stick/);
});

t.test('a kernel with the release and config a feature came with is found to support it', async (t) => {
  assertSupportedWhereBrought(t, asRoot, BROUGHT);
});

t.test(
  'without CAP_NET_ADMIN the repair and namespace ioctls answer unknown/PermissionDenied, never unsupported',
  async (t) => {
    for (const name of NET_ADMIN_PROBES) {
      const outcome = asNobody.get(name);
      t.equal(outcome?.status, 'unknown', `${name}: ${outcome?.message}`);
      t.equal(outcome?.reason, 'PermissionDenied', name);
    }
  },
);

t.test('probes that need no privilege give nobody the answer root gets', async (t) => {
  assertSameAsRoot(t, asNobody, asRoot, UNPRIVILEGED_ALIKE);
});

t.test('a tun device nobody may not open is unknown/PermissionDenied, never unsupported', async (t) => {
  for (const name of TUN_DEVICE_PROBES) {
    const outcome = asNobody.get(name);
    if (outcome?.status === 'unknown') t.equal(outcome.reason, 'PermissionDenied', `${name}: ${outcome.message}`);
    else t.equal(outcome?.status, asRoot.get(name)?.status, `${name} as nobody, with access to the device`);
  }
});

t.test('the tun probes leave no network device behind', async (t) => {
  const before = linkNames();
  const results = runProbes(['tun_cr', 'tun', 'tun_ns', 'tun_cr', 'tun', 'tun_ns']);
  t.equal(results.length, 6);
  t.same(linkNames(), before);
});

t.test('the socket probes close every descriptor they open', async (t) => {
  const probes = [
    sockets.tunCr,
    sockets.tcpWindow,
    sockets.tcpHalfClosed,
    sockets.skNs,
    sockets.sockoptBufLock,
    sockets.ipv6Freebind,
    sockets.tun,
    sockets.tunNs,
    sockets.skUnixFile,
  ];
  const before = readdirSync('/proc/self/fd').length;
  for (const probe of probes) callProbe(probe);
  t.equal(readdirSync('/proc/self/fd').length, before);
});

t.test('tcp_half_closed leaves no closing or TIME-WAIT connection, with or without TCP_REPAIR', async (t) => {
  // In a network namespace of its own, so every TCP socket ss sees is the probe's.
  const probeOnce = fileURLToPath(new URL('./fixtures/probe-once.ts', import.meta.url));
  const probe = [process.execPath, ...TS_LOADER, probeOnce, 'tcp_half_closed'];
  const script = 'ip link set lo up && "$@" && ' + UNPRIVILEGED.join(' ') + ' "$@" && ss -Htan';
  const lines = execFileSync('unshare', ['--net', 'sh', '-c', script, 'sh', ...probe], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const [root, nobody] = lines.slice(0, 2).map((line) => (JSON.parse(line) as ProbeResult[])[0].outcome);
  t.equal(root.status, asRoot.get('tcp_half_closed')?.status, `as root: ${root.message}`);
  t.equal(nobody.reason, 'PermissionDenied', `as nobody: ${nobody.message}`);
  t.same(lines.slice(2), [], 'no socket is left');
});

/** What each probe meets under the refusing filter: the answer a kernel without the feature gives. */
const REFUSABLE = [
  'tcp_window',
  'sockopt_buf_lock',
  'ipv6_freebind',
  'sk_ns',
  'sk_unix_file',
  'tun_cr',
  'tun',
  'tun_ns',
];

t.test('a kernel that refuses each socket feature as one without it does is found not to support it', async (t) => {
  // tun_cr and tun need the device first: where it cannot be opened they are not about the ioctl.
  const names = existsSync('/dev/net/tun') ? REFUSABLE : REFUSABLE.filter((name) => !name.startsWith('tun'));
  const refused = underRefusals(names);
  assertFoundMissing(t, refused, names);
});

t.test('the refusals name one socket option each: the others on the same level still work', async (t) => {
  const results = underRefusals(['tcp_window', 'sockopt_buf_lock', '+tcp_repair', '+sock_peek_off']);
  t.equal(results.get('tcp_window')?.status, 'unsupported');
  t.equal(results.get('sockopt_buf_lock')?.status, 'unsupported');
  t.equal(
    results.get('tcp_repair')?.status,
    asRoot.get('tcp_repair')?.status,
    'TCP_REPAIR and TCP_TIMESTAMP on SOL_TCP',
  );
  t.equal(results.get('sock_peek_off')?.status, asRoot.get('sock_peek_off')?.status, 'SO_PEEK_OFF on SOL_SOCKET');
});
