// Checks that talk netlink: sock_diag and rtnetlink.
import { close, existsSync, fstatSync } from 'node:fs';
import * as libc from '../native/libc.js';
import {
  errno as E,
  AF_INET,
  AF_INET6,
  AF_PACKET,
  SOCK_RAW,
  SOCK_DGRAM,
  SOCK_CLOEXEC,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  IPPROTO_RAW,
  NETLINK_ROUTE,
  NETLINK_SOCK_DIAG,
  SOCK_DIAG_BY_FAMILY,
  O_RDONLY,
  CLONE_NEWNET,
  INT_SIZE,
  NLM_F_REQUEST,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTM_NEWLINK,
  RTM_GETLINK,
  RTM_SETLINK,
  RTM_NEWNSID,
  RTM_GETNSID,
  IFINFOMSG_SIZE,
  RTGENMSG_SIZE,
  IFLA_IFNAME,
  IFLA_LINKINFO,
  IFLA_NET_NS_FD,
  IFLA_LINK_NETNSID,
  IFLA_NEW_IFINDEX,
  IFLA_INFO_KIND,
  IFLA_INFO_DATA,
  VETH_INFO_PEER,
  NETNSA_NSID,
  NETNSA_PID,
  AF_UNSPEC,
  ALL_STATES,
  INET_DIAG_MSG_SIZE,
  INET_DIAG_MSG_INODE_OFFSET,
  UDIAG_SHOW_NAME,
  UDIAG_SHOW_VFS,
  UDIAG_SHOW_PEER,
  UDIAG_SHOW_ICONS,
  UDIAG_SHOW_RQLEN,
  PACKET_SHOW_INFO,
  PACKET_SHOW_MCLIST,
  PACKET_SHOW_RING_CFG,
  PACKET_SHOW_FANOUT,
  NDIAG_PROTO_ALL,
  NDIAG_SHOW_GROUPS,
  TCP_ESTABLISHED,
  TCP_SYN_SENT,
  TCP_FIN_WAIT1,
  TCP_FIN_WAIT2,
  TCP_CLOSE_WAIT,
  TCP_LAST_ACK,
  TCP_LISTEN,
  TCP_CLOSING,
} from '../native/constants.js';
import {
  NetlinkSocket,
  attr,
  s32Attr,
  stringAttr,
  nestedAttr,
  ifinfomsg,
  rtgenmsg,
  parseAttrs,
  nlAlign,
  unixDiagReq,
  inetDiagReq,
  packetDiagReq,
  netlinkDiagReq,
  type NetlinkReply,
} from '../native/netlink.js';
import { stop, supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { ipv6Enabled, procPath } from '../native/procfs.js';
import { inPrivateNamespace, withFd, withNetlink } from './resources.js';
import { fromErrno, errnoName } from './outcome.js';

/** The TCP states CRIU dumps (listening and connected ones). */
const CRIU_TCP_STATES = [
  TCP_LISTEN,
  TCP_ESTABLISHED,
  TCP_FIN_WAIT1,
  TCP_FIN_WAIT2,
  TCP_CLOSE_WAIT,
  TCP_LAST_ACK,
  TCP_CLOSING,
  TCP_SYN_SENT,
].reduce((mask, state) => mask | (1 << state), 0);

/** A netlink answer that failed in transport (timeout, truncation) is no verdict on the feature. */
function transportFailure(reply: NetlinkReply, what: string): ProbeOutcome | undefined {
  if (reply.transportError === undefined) return undefined;
  return unknown(
    reply.transportError === E.ETIMEDOUT ? 'Timeout' : 'UnexpectedResult',
    `${what}: ${errnoName(reply.transportError)}`,
  );
}

// ---------------------------------------------------------------- sock_diag

/** One dump request of CRIU's collect_sockets. */
export interface DiagDump {
  family: string;
  proto: string;
  /** What to load or enable when this family's diag answers ENOENT. */
  fix: string;
  header: Buffer;
  /** RAW is optional for a dump: CRIU forgives ENOENT for it (net_diag_raw tells). */
  optional?: boolean;
  /**
   * The kind of socket the dump lists, where the kernel may lack it
   * altogether (UDP-Lite is being retired; AF_PACKET may be a module). The
   * kernel answers ENOENT for the diag of a protocol it does not have, and
   * no process can hold such a socket, so no dump needs that diag.
   */
  socket?: SocketKind;
}

export interface SocketKind {
  domain: number;
  type: number;
  protocol: number;
  /** The file in /proc/net that the protocol's code makes in every namespace once it is there. */
  procNet?: string;
}

/** Errors of socket() that say the kernel has no such kind of socket. */
const NO_SUCH_SOCKET = new Set<number>([E.EAFNOSUPPORT, E.EPROTONOSUPPORT]);

/**
 * Does the kernel have this kind of socket? Its /proc/net file says yes at
 * no cost. Without one, trying to make a socket also loads its module where
 * it is one (before any privilege check: an EPERM still says yes), which a
 * diag dump does not do by itself for AF_PACKET. The socket is closed in the
 * background: closing a packet socket waits out an RCU grace period.
 */
export function kernelHasSocket({ domain, type, protocol, procNet }: SocketKind): boolean {
  if (procNet !== undefined && existsSync(`/proc/net/${procNet}`)) return true;
  const made = libc.socket(domain, type | SOCK_CLOEXEC, protocol);
  if (made.ret >= 0) close(made.ret, () => undefined);
  return !(made.ret < 0 && NO_SUCH_SOCKET.has(made.errno));
}

const TCP_FIX = 'load inet_diag and tcp_diag (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)';
const UDP_FIX = 'load inet_diag and udp_diag (CONFIG_INET_DIAG, CONFIG_INET_UDP_DIAG)';
const RAW_FIX = 'load raw_diag (CONFIG_INET_RAW_DIAG)';

/** The dumps of CRIU's collect_sockets, in its order (ICMP is not dumped there either). */
function diagDumps(): DiagDump[] {
  const inet = (family: number, familyName: string): DiagDump[] => [
    { family: familyName, proto: 'TCP', fix: TCP_FIX, header: inetDiagReq(family, IPPROTO_TCP, CRIU_TCP_STATES) },
    { family: familyName, proto: 'UDP', fix: UDP_FIX, header: inetDiagReq(family, IPPROTO_UDP, ALL_STATES) },
    {
      family: familyName,
      proto: 'UDPLITE',
      fix: UDP_FIX,
      header: inetDiagReq(family, IPPROTO_UDPLITE, ALL_STATES),
      socket: {
        domain: family,
        type: SOCK_DGRAM,
        protocol: IPPROTO_UDPLITE,
        procNet: family === AF_INET ? 'udplite' : 'udplite6',
      },
    },
    {
      family: familyName,
      proto: 'RAW',
      fix: RAW_FIX,
      header: inetDiagReq(family, IPPROTO_RAW, ALL_STATES),
      optional: true,
    },
  ];
  return [
    {
      family: 'UNIX',
      proto: '0',
      fix: 'load unix_diag (CONFIG_UNIX_DIAG)',
      header: unixDiagReq(
        ALL_STATES,
        UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN,
      ),
    },
    ...inet(AF_INET, 'INET'),
    ...inet(AF_INET6, 'INET6'),
    {
      family: 'PACKET',
      proto: '0',
      fix: 'load packet_diag (CONFIG_PACKET_DIAG)',
      header: packetDiagReq(PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_FANOUT | PACKET_SHOW_RING_CFG),
      socket: { domain: AF_PACKET, type: SOCK_RAW, protocol: 0, procNet: 'packet' },
    },
    {
      family: 'NETLINK',
      proto: 'ALL',
      fix: 'load netlink_diag (CONFIG_NETLINK_DIAG)',
      header: netlinkDiagReq(NDIAG_PROTO_ALL, NDIAG_SHOW_GROUPS),
    },
  ];
}

/**
 * CRIU's collect_err: which answers are a missing module, which are forgiven,
 * which are trouble. `socketAbsent`: the kernel has no socket of the dump's kind.
 */
export function judgeDump(dump: DiagDump, reply: NetlinkReply, socketAbsent = false): ProbeOutcome | undefined {
  const what = `Sockets collect procedure family ${dump.family} proto ${dump.proto}`;
  const broken = transportFailure(reply, what);
  if (broken) return broken;
  if (reply.error === 0) return undefined;
  if (reply.error === E.ENOENT) {
    if (dump.optional || socketAbsent) return undefined;
    return unsupported(`${what}: ENOENT: diag module missing: ${dump.fix}`);
  }
  // Older UNIX, PACKET and NETLINK diag modules reject the request.
  if (reply.error === E.EINVAL && ['UNIX', 'PACKET', 'NETLINK'].includes(dump.family)) {
    return unsupported(`${what}: EINVAL: diag module too old: ${dump.fix}`);
  }
  return fromErrno(reply.error, what);
}

export function sockDiag(): ProbeOutcome {
  return withNetlink({ protocol: NETLINK_SOCK_DIAG, what: "Can't make diag socket for check" }, (sock) => {
    const failures: ProbeOutcome[] = [];
    for (const dump of diagDumps()) {
      // Asked first: making the socket loads its module, which the dump then finds.
      const socketAbsent = dump.socket !== undefined && !kernelHasSocket(dump.socket);
      const reply = sock.request({ type: SOCK_DIAG_BY_FAMILY, flags: NLM_F_REQUEST | NLM_F_DUMP, header: dump.header });
      const failed = judgeDump(dump, reply, socketAbsent);
      if (failed) failures.push(failed);
    }
    if (failures.length === 0) return supported();
    // A family the kernel lacks decides; otherwise we could not tell.
    const worst = failures.find((f) => f.status === 'unsupported') ?? failures[0];
    return {
      ...worst,
      message: `The sock diag infrastructure is incomplete. ${failures.map((f) => f.message).join('; ')}`,
    };
  });
}

// ---------------------------------------------------------------- net_diag_raw

/** Inodes of the sockets a RAW sock_diag dump of `family` lists; a failed dump ends the probe. */
function dumpRawInodes(sock: NetlinkSocket, family: number, familyName: string): Set<number> {
  const reply = sock.request({
    type: SOCK_DIAG_BY_FAMILY,
    flags: NLM_F_REQUEST | NLM_F_DUMP,
    header: inetDiagReq(family, IPPROTO_RAW, ALL_STATES),
  });
  const what = `Sockets collect procedure family ${familyName} proto RAW`;
  const broken = transportFailure(reply, what);
  if (broken) stop(broken);
  if (reply.error === E.ENOENT) stop(unsupported(`${what}: ENOENT: diag module missing: ${RAW_FIX}`));
  if (reply.error !== 0) stop(fromErrno(reply.error, what));
  const inodes = new Set<number>();
  for (const msg of reply.messages) {
    if (msg.type === SOCK_DIAG_BY_FAMILY && msg.payload.length >= INET_DIAG_MSG_SIZE) {
      inodes.add(msg.payload.readUInt32LE(INET_DIAG_MSG_INODE_OFFSET));
    }
  }
  return inodes;
}

/** Make a RAW socket of `family`, dump RAW sockets, and find ours by inode. */
function rawSocketListed(sock: NetlinkSocket, family: number, familyName: string, protocol: number): ProbeOutcome {
  const raw = libc.socket(family, SOCK_RAW | SOCK_CLOEXEC, protocol);
  try {
    // Dump first: a missing raw_diag is a kernel fact even when we may not make a RAW socket.
    const inodes = dumpRawInodes(sock, family, familyName);
    if (raw.ret < 0) {
      if (raw.errno === E.EPERM || raw.errno === E.EACCES) {
        return unknown(
          'PermissionDenied',
          `Can't create a ${familyName} RAW socket to look for (needs CAP_NET_RAW): ${errnoName(raw.errno)}`,
        );
      }
      return fromErrno(raw.errno, `Can't create a ${familyName} RAW socket`);
    }
    const inode = fstatSync(raw.ret).ino;
    return inodes.has(inode) ? supported() : unsupported(`sock_diag does not list a ${familyName} RAW socket`);
  } finally {
    if (raw.ret >= 0) libc.close(raw.ret);
  }
}

export function netDiagRaw(): ProbeOutcome {
  return withNetlink({ protocol: NETLINK_SOCK_DIAG, what: "Can't make diag socket for check" }, (sock) => {
    const inet = rawSocketListed(sock, AF_INET, 'INET', IPPROTO_ICMP);
    // CRIU wants both families; without IPv6 there are no INET6 RAW sockets to dump.
    if (inet.status !== 'supported' || !ipv6Enabled()) return inet;
    return rawSocketListed(sock, AF_INET6, 'INET6', IPPROTO_ICMPV6);
  });
}

// ---------------------------------------------------------------- rtnetlink

/** CRIU's name for a device that does not exist. */
const ABSENT_LINK = 'criu-kdat';

export function newifindex(): ProbeOutcome {
  return withNetlink({ protocol: NETLINK_ROUTE, what: 'Unable to create a netlink socket' }, (sock) => {
    // A negative new ifindex is refused (ERANGE) by kernels that know the
    // attribute, before the device is looked up; older kernels ignore the
    // attribute and fail the lookup (ENODEV). Nothing is changed either way.
    const reply = sock.request({
      type: RTM_SETLINK,
      flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
      header: ifinfomsg(AF_UNSPEC),
      attrs: [s32Attr(IFLA_NEW_IFINDEX, -1), stringAttr(IFLA_IFNAME, ABSENT_LINK)],
    });
    const broken = transportFailure(reply, 'RTM_SETLINK');
    if (broken) return broken;
    if (reply.error === E.ERANGE) return supported();
    if (reply.error === E.ENODEV) return unsupported("IFLA_NEW_IFINDEX isn't supported");
    if (reply.error === E.EPERM) return unknown('PermissionDenied', 'RTM_SETLINK needs CAP_NET_ADMIN: EPERM');
    if (reply.error === 0)
      return unknown('UnexpectedResult', `RTM_SETLINK succeeded: a device named ${ABSENT_LINK} exists`);
    return unknown('UnexpectedResult', `Unexpected error: ${errnoName(reply.error)}`);
  });
}

export function nsid(): ProbeOutcome {
  return withNetlink({ protocol: NETLINK_ROUTE, what: 'Unable to create a netlink socket' }, (sock) => {
    const reply = sock.request({
      type: RTM_GETNSID,
      flags: NLM_F_REQUEST | NLM_F_ACK,
      header: rtgenmsg(AF_UNSPEC),
      attrs: [s32Attr(NETNSA_PID, process.pid)],
    });
    const broken = transportFailure(reply, 'RTM_GETNSID');
    if (broken) return broken;
    if (reply.error !== 0) return fromErrno(reply.error, "NSID isn't supported");
    const answer = reply.messages.find((m) => m.type === RTM_NEWNSID);
    const id = answer && parseAttrs(answer.payload.subarray(nlAlign(RTGENMSG_SIZE))).get(NETNSA_NSID);
    return id && id.length >= INT_SIZE ? supported() : unsupported("NSID isn't supported");
  });
}

/** unshare(CLONE_NEWNET) failed. */
export function namespaceFailed(code: number): ProbeOutcome {
  return fromErrno(code, 'Unable create a network namespace');
}

/** Run `use` in a new network namespace of the calling thread; what `use` makes there goes away with it. */
function inPrivateNetns(use: () => ProbeOutcome, onError = namespaceFailed): ProbeOutcome {
  return inPrivateNamespace({ kind: 'net', onError }, use);
}

/** The veth CRIU's kerndat_link_nsid makes; the peer gets a kernel-chosen name. */
const VETH_NAME = 'veth';

/** RTM_NEWLINK of a veth pair here, its peer in the namespace `peerNsFd` names. */
function createVethPair(sock: NetlinkSocket, peerNsFd: number): NetlinkReply {
  const peer = attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg(AF_UNSPEC), s32Attr(IFLA_NET_NS_FD, peerNsFd)]));
  return sock.request({
    type: RTM_NEWLINK,
    flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    header: ifinfomsg(AF_UNSPEC),
    attrs: [
      stringAttr(IFLA_IFNAME, VETH_NAME),
      nestedAttr(IFLA_LINKINFO, stringAttr(IFLA_INFO_KIND, 'veth'), nestedAttr(IFLA_INFO_DATA, peer)),
    ],
  });
}

export function linkNsid(): ProbeOutcome {
  return inPrivateNetns(() => {
    // As CRIU: the peer goes into this first namespace, the veth into a second one.
    return withFd({ path: procPath('thread-self', 'ns/net'), flags: O_RDONLY }, (peerNs) => {
      const second = libc.unshare(CLONE_NEWNET);
      if (second.ret < 0) return fromErrno(second.errno, 'Unable create a network namespace');
      return withNetlink({ protocol: NETLINK_ROUTE, what: 'Unable to create a netlink socket' }, (sock) => {
        const made = createVethPair(sock, peerNs);
        const broken = transportFailure(made, 'RTM_NEWLINK');
        if (broken) return broken;
        if (made.error === E.EOPNOTSUPP)
          return unsupported('Unable to create a veth pair: EOPNOTSUPP (no veth driver)');
        if (made.error !== 0) return fromErrno(made.error, 'Unable to create a veth pair');

        const links = sock.request({
          type: RTM_GETLINK,
          flags: NLM_F_REQUEST | NLM_F_DUMP,
          header: ifinfomsg(AF_UNSPEC),
        });
        const dumpBroken = transportFailure(links, 'RTM_GETLINK');
        if (dumpBroken) return dumpBroken;
        if (links.error !== 0) return fromErrno(links.error, 'check_link_nsid failed');
        const reported = links.messages.some((m) => {
          if (m.type !== RTM_NEWLINK) return false;
          const attrs = parseAttrs(m.payload.subarray(IFINFOMSG_SIZE));
          return (
            attrs.get(IFLA_IFNAME)?.toString('latin1').replace(/\0.*$/s, '') === VETH_NAME &&
            attrs.has(IFLA_LINK_NETNSID)
          );
        });
        return reported ? supported() : unsupported("NSID isn't reported for network links");
      });
    });
  });
}
