import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { fstatSync, readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runProbes } from './helpers/probe.js';
import { kernelAtLeast, minKernelOf } from './helpers/kernel-answers.js';
import { ProbeEngine, type ProbeResult } from '../src/engine/engine.js';
import { judgeDump, kernelHasSocket, type DiagDump } from '../src/probes/netlink.js';
import * as libc from '../src/native/libc.js';
import {
  AF_UNIX,
  SOCK_STREAM,
  SOCK_CLOEXEC,
  NETLINK_ROUTE,
  NETLINK_SOCK_DIAG,
  SOCK_DIAG_BY_FAMILY,
  IPPROTO_RAW,
  AF_INET,
  errno as E,
  AF_PACKET,
  SOCK_DGRAM,
  SOCK_RAW,
  IPPROTO_UDP,
  NLM_F_REQUEST,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_MULTI,
  RTM_GETLINK,
  RTM_NEWLINK,
  RTM_GETNSID,
  NETNSA_PID,
  IFLA_IFNAME,
  IFLA_LINKINFO,
  IFLA_INFO_KIND,
  IFLA_INFO_DATA,
  IFINFOMSG_SIZE,
  AF_UNSPEC,
  NLMSG_HDRLEN,
} from '../src/native/constants.js';
import {
  NetlinkSocket,
  buildMessage,
  parseAttrs,
  splitMessages,
  attr,
  s32Attr,
  stringAttr,
  nestedAttr,
  ifinfomsg,
  rtgenmsg,
  unixDiagReq,
  inetDiagReq,
} from '../src/native/netlink.js';

const NAMES = ['sock_diag', 'net_diag_raw', 'newifindex', 'nsid', 'link_nsid'];
/** The probes that need CAP_NET_ADMIN (and CAP_SYS_ADMIN for a private namespace). */
const NET_ADMIN_PROBES = ['newifindex', 'link_nsid'];
/** Probes that need no privilege at all: nobody gets root's answer. */
const UNPRIVILEGED_ALIKE = ['sock_diag', 'nsid'];
const NLMSG_NOOP = 1;

function byName(results: ProbeResult[]): Map<string, ProbeResult> {
  return new Map(results.map((r) => [r.name, r]));
}

/** What a leaked device, namespace or table would show on the host. */
function hostNetworkState(): { links: string[]; netns: string[]; tables: string } {
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(': ')[1]);
  let netns: string[] = [];
  try {
    netns = readdirSync('/run/netns');
  } catch {
    netns = [];
  }
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  return { links, netns, tables };
}

/** Does a RAW sock_diag dump answer at all (ENOENT: no raw_diag)? */
function rawDiagAnswers(): boolean {
  const sock = NetlinkSocket.open(NETLINK_SOCK_DIAG) as NetlinkSocket;
  try {
    const reply = sock.request({
      type: SOCK_DIAG_BY_FAMILY,
      flags: NLM_F_REQUEST | NLM_F_DUMP,
      header: inetDiagReq(AF_INET, IPPROTO_RAW, -1),
    });
    return reply.error !== E.ENOENT;
  } finally {
    sock.close();
  }
}

function openRoute(t: Test, timeoutMs?: number): NetlinkSocket {
  const sock = NetlinkSocket.open(NETLINK_ROUTE, timeoutMs);
  if (!(sock instanceof NetlinkSocket)) throw new Error(`netlink socket: errno ${sock.errno}`);
  t.teardown(() => sock.close());
  return sock;
}

const asRoot = byName(runProbes(NAMES));
const asNobody = byName(runProbes(NAMES, { unprivileged: true }));

t.test('sock_diag: every family CRIU collects answers', async (t) => {
  t.match(asRoot.get('sock_diag')?.outcome, { status: 'supported' });
});

t.test(
  'sock_diag: a kernel without a kind of socket (a protocol number nobody has) is told apart from one that has it',
  async (t) => {
    const UNASSIGNED_PROTOCOL = 253; // RFC 3692's "for experimentation": no kernel implements it
    t.equal(kernelHasSocket({ domain: AF_INET, type: SOCK_DGRAM, protocol: UNASSIGNED_PROTOCOL }), false);
    t.equal(kernelHasSocket({ domain: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_UDP }), true);
    t.equal(
      kernelHasSocket({ domain: AF_PACKET, type: SOCK_RAW, protocol: 0 }),
      true,
      'AF_PACKET is there (made, or refused for want of CAP_NET_RAW)',
    );
  },
);

t.test(
  "sock_diag: a dump's ENOENT is a missing diag module, unless the kernel lacks that kind of socket altogether",
  async (t) => {
    const dump: DiagDump = { family: 'INET', proto: 'UDPLITE', fix: 'load udp_diag', header: Buffer.alloc(0) };
    const noEntry = { messages: [], error: E.ENOENT };
    t.match(judgeDump(dump, noEntry, false), {
      status: 'unsupported',
      message: /ENOENT: diag module missing: load udp_diag/,
    });
    t.equal(judgeDump(dump, noEntry, true), undefined, 'forgiven: no process can hold a UDP-Lite socket there');
    t.equal(judgeDump(dump, { messages: [], error: 0 }, false), undefined);
  },
);

t.test('net_diag_raw: supported exactly when a RAW dump answers, and names raw_diag when not', async (t) => {
  const outcome = asRoot.get('net_diag_raw')?.outcome;
  if (rawDiagAnswers()) t.match(outcome, { status: 'supported' });
  else t.match(outcome, { status: 'unsupported', reason: 'NotInKernel', message: /raw_diag/ });
});

t.test("newifindex: a kernel at least the catalogue's minKernel refuses a negative IFLA_NEW_IFINDEX", async (t) => {
  const outcome = asRoot.get('newifindex')?.outcome;
  if (kernelAtLeast(minKernelOf('newifindex'))) t.match(outcome, { status: 'supported' });
  else t.not(outcome?.status, 'unknown');
});

t.test('nsid: RTM_GETNSID answers for our own pid', async (t) => {
  t.match(asRoot.get('nsid')?.outcome, { status: 'supported' });
});

t.test('link_nsid: a veth peer in another namespace reports IFLA_LINK_NETNSID', async (t) => {
  t.match(asRoot.get('link_nsid')?.outcome, { status: 'supported' });
});

t.test('as nobody, the CAP_NET_ADMIN probes answer unknown/PermissionDenied, never unsupported', async (t) => {
  for (const name of NET_ADMIN_PROBES) {
    t.match(asNobody.get(name)?.outcome, { status: 'unknown', reason: 'PermissionDenied' }, name);
  }
});

t.test('as nobody, net_diag_raw is unknown for want of CAP_NET_RAW unless raw_diag is missing', async (t) => {
  const outcome = asNobody.get('net_diag_raw')?.outcome;
  if (rawDiagAnswers()) t.match(outcome, { status: 'unknown', reason: 'PermissionDenied', message: /CAP_NET_RAW/ });
  else t.match(outcome, { status: 'unsupported', reason: 'NotInKernel', message: /raw_diag/ });
});

t.test('as nobody, the probes that need no privilege answer as for root', async (t) => {
  for (const name of UNPRIVILEGED_ALIKE) {
    t.equal(asNobody.get(name)?.outcome.status, asRoot.get(name)?.outcome.status, name);
  }
});

t.test('no network namespace, device or nftables table is left behind', async (t) => {
  const before = hostNetworkState();
  const results = byName(runProbes(['link_nsid', 'network_lock_nftables', 'newifindex', 'nsid']));
  t.same(hostNetworkState(), before);
  // nsid ran on the runner thread link_nsid and network_lock_nftables had moved around.
  t.match(results.get('link_nsid')?.outcome, { status: 'supported' });
  t.match(results.get('nsid')?.outcome, { status: 'supported' });
});

t.test("the runner's main thread is back in its own network namespace after each probe", async (t) => {
  const engine = new ProbeEngine({
    probeModule: fileURLToPath(new URL('./fixtures/netns-probes.ts', import.meta.url)),
  });
  t.teardown(() => engine.close());
  const results = byName(
    await engine.run(['netns_before', 'link_nsid', 'netns_between', 'network_lock_nftables', 'netns_after']),
  );
  const home = readlinkSync('/proc/self/ns/net');
  t.equal(results.get('netns_before')?.outcome.message, home);
  t.equal(results.get('netns_between')?.outcome.message, home);
  t.equal(results.get('netns_after')?.outcome.message, home);
  t.match(results.get('link_nsid')?.outcome, { status: 'supported' });
});

t.test('netlink: a request is laid out as nlmsghdr, a header padded to 4, then attributes', async (t) => {
  const msg = buildMessage(
    {
      type: RTM_GETNSID,
      flags: NLM_F_REQUEST | NLM_F_ACK,
      header: rtgenmsg(AF_UNSPEC),
      attrs: [s32Attr(NETNSA_PID, 0x01020304)],
    },
    7,
  );
  t.equal(
    msg.toString('hex'),
    [
      '1c000000',
      '5a00',
      '0500',
      '07000000',
      '00000000', // len 28, RTM_GETNSID, REQUEST|ACK, seq 7, to the kernel
      '00000000', // rtgenmsg, padded
      '0800',
      '0200',
      '04030201', // NETNSA_PID
    ].join(''),
  );
});

t.test('netlink: nested attributes carry their children, padding included', async (t) => {
  const linkinfo = nestedAttr(
    IFLA_LINKINFO,
    stringAttr(IFLA_INFO_KIND, 'veth'),
    nestedAttr(IFLA_INFO_DATA, attr(1, ifinfomsg(AF_UNSPEC, 3))),
  );
  t.equal(linkinfo.readUInt16LE(0), 4 + 12 + 4 + 4 + IFINFOMSG_SIZE); // header, "veth\0" padded, data header, peer header, ifinfomsg
  const inner = parseAttrs(parseAttrs(linkinfo).get(IFLA_LINKINFO) ?? Buffer.alloc(0));
  t.equal(inner.get(IFLA_INFO_KIND)?.toString('latin1'), 'veth\0');
  t.equal(
    parseAttrs(inner.get(IFLA_INFO_DATA) ?? Buffer.alloc(0))
      .get(1)
      ?.readInt32LE(4),
    3,
  );
});

t.test('netlink: a link dump is multipart, ends at NLMSG_DONE and lists lo as ifindex 1', async (t) => {
  const reply = openRoute(t).request({
    type: RTM_GETLINK,
    flags: NLM_F_REQUEST | NLM_F_DUMP,
    header: ifinfomsg(AF_UNSPEC),
  });
  t.equal(reply.error, 0);
  t.equal(reply.transportError, undefined);
  t.ok(reply.messages.length > 0);
  t.ok(reply.messages.every((m) => m.type === RTM_NEWLINK && (m.flags & NLM_F_MULTI) !== 0));
  const lo = reply.messages.find(
    (m) => parseAttrs(m.payload.subarray(IFINFOMSG_SIZE)).get(IFLA_IFNAME)?.toString('latin1') === 'lo\0',
  );
  t.equal(lo?.payload.readInt32LE(4), 1);
});

t.test('netlink: NLMSG_ERROR gives the errno (ENODEV for a missing link)', async (t) => {
  const reply = openRoute(t).request({
    type: RTM_GETLINK,
    flags: NLM_F_REQUEST,
    header: ifinfomsg(AF_UNSPEC),
    attrs: [stringAttr(IFLA_IFNAME, 'no-such-link0')],
  });
  t.equal(reply.error, E.ENODEV);
  t.same(reply.messages, []);
});

t.test('netlink: a UNIX sock_diag dump lists our own socket by inode', async (t) => {
  const pair = [0, 0];
  t.equal(libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair).ret, 0);
  t.teardown(() => pair.forEach((fd) => libc.close(fd)));
  const header = unixDiagReq(-1, 0); // every state, no extras
  const sock = NetlinkSocket.open(NETLINK_SOCK_DIAG) as NetlinkSocket;
  t.teardown(() => sock.close());
  const reply = sock.request({ type: SOCK_DIAG_BY_FAMILY, flags: NLM_F_REQUEST | NLM_F_DUMP, header });
  t.equal(reply.error, 0);
  const inodes = reply.messages.map((m) => m.payload.readUInt32LE(4)); // unix_diag_msg.udiag_ino
  t.ok(inodes.includes(fstatSync(pair[0]).ino));
});

t.test('netlink: a request that gets no answer ends at the receive timeout', async (t) => {
  const started = performance.now();
  const reply = openRoute(t, 100).request({ type: NLMSG_NOOP, flags: NLM_F_REQUEST, header: Buffer.alloc(0) });
  const waited = performance.now() - started;
  t.equal(reply.transportError, E.ETIMEDOUT);
  t.ok(waited >= 90 && waited < 2000, `waited ${waited} ms`);
});

t.test('netlink: a datagram with several messages splits at their aligned lengths', async (t) => {
  const one = buildMessage({ type: RTM_GETLINK, flags: NLM_F_REQUEST, header: rtgenmsg(AF_UNSPEC) }, 1);
  const two = buildMessage({ type: RTM_GETNSID, flags: NLM_F_REQUEST, header: ifinfomsg(AF_UNSPEC) }, 2);
  const messages = splitMessages(Buffer.concat([one, two, Buffer.alloc(3)])); // a torn tail is dropped
  t.same(
    messages.map((m) => [m.type, m.seq, m.payload.length]),
    [
      [RTM_GETLINK, 1, one.length - NLMSG_HDRLEN],
      [RTM_GETNSID, 2, IFINFOMSG_SIZE],
    ],
  );
});
