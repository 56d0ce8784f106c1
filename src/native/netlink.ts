// A small netlink client: build a request (nlmsghdr, a fixed header, rtattrs)
// in a Buffer, send it to the kernel, and walk the (multipart) answer up to
// NLMSG_DONE or NLMSG_ERROR. Every socket has a receive timeout, so a probe
// never waits forever for an answer that does not come.
// Layouts are those of <linux/netlink.h>, <linux/rtnetlink.h>,
// <linux/sock_diag.h> and friends on x86-64.
import * as libc from './libc.js';
import { AF_UNIX, AF_PACKET, AF_NETLINK, SOCK_RAW, SOCK_CLOEXEC, SOL_SOCKET, errno as E } from './constants.js';

/** struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32. */
export const NLMSG_HDRLEN = 16;
/** Netlink messages and attributes are aligned to 4 bytes. */
const NL_ALIGNTO = 4;
/** struct rtattr / struct nlattr: len u16, type u16. */
export const RTA_HDRLEN = 4;
/** The top bits of an attribute's type are flags (nested, byte order). */
const NLA_TYPE_MASK = 0x3fff;

/** Control message types. */
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

/** nlmsg_flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_CREATE = 0x400;
export const NLM_F_EXCL = 0x200;

/** rtnetlink message types. */
export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWNSID = 88;
export const RTM_GETNSID = 90;

/** struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32. */
export const IFINFOMSG_SIZE = 16;
/** struct rtgenmsg: family u8 (aligned to 4 in a message). */
export const RTGENMSG_SIZE = 1;

/** Link attributes (enum IFLA_*). */
export const IFLA_IFNAME = 3;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_NEW_IFINDEX = 49;
/** Inside IFLA_LINKINFO. */
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
/** Inside a veth's IFLA_INFO_DATA: the peer's ifinfomsg followed by its attributes. */
export const VETH_INFO_PEER = 1;

/** Network namespace id attributes (enum NETNSA_*). */
export const NETNSA_NSID = 1;
export const NETNSA_PID = 2;

export const AF_UNSPEC = 0;

/** sock_diag request headers (<linux/unix_diag.h>, <linux/inet_diag.h>, ...). */
export const UNIX_DIAG_REQ_SIZE = 24;
export const INET_DIAG_REQ_V2_SIZE = 56;
export const PACKET_DIAG_REQ_SIZE = 20;
export const NETLINK_DIAG_REQ_SIZE = 20;
/** struct inet_diag_msg: idiag_inode sits after family..retrans (4), id (48), expires, rqueue, wqueue, uid. */
export const INET_DIAG_MSG_INODE_OFFSET = 68;
export const INET_DIAG_MSG_SIZE = 72;
/** unix_diag_req.udiag_show bits CRIU asks for. */
export const UDIAG_SHOW_NAME = 0x1;
export const UDIAG_SHOW_VFS = 0x2;
export const UDIAG_SHOW_PEER = 0x4;
export const UDIAG_SHOW_ICONS = 0x8;
export const UDIAG_SHOW_RQLEN = 0x10;
/** packet_diag_req.pdiag_show bits CRIU asks for. */
export const PACKET_SHOW_INFO = 0x1;
export const PACKET_SHOW_MCLIST = 0x2;
export const PACKET_SHOW_RING_CFG = 0x4;
export const PACKET_SHOW_FANOUT = 0x8;
/** netlink_diag_req: every protocol, with its groups. */
export const NDIAG_PROTO_ALL = 0xff;
export const NDIAG_SHOW_GROUPS = 0x4;
/** idiag_states / udiag_states: every state. */
export const ALL_STATES = 0xffffffff;
/** TCP states (include/net/tcp_states.h), for idiag_states bit masks. */
export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
export const TCP_FIN_WAIT1 = 4;
export const TCP_FIN_WAIT2 = 5;
export const TCP_CLOSE_WAIT = 8;
export const TCP_LAST_ACK = 9;
export const TCP_LISTEN = 10;
export const TCP_CLOSING = 11;

/** SO_RCVTIMEO takes a struct timeval (two 64-bit fields on x86-64). */
const SO_RCVTIMEO = 20;
const TIMEVAL_SIZE = 16;
const MICROSECONDS_PER_MS = 1000;
const MS_PER_SECOND = 1000;
/** Room for one receive; the kernel sizes dump batches well below this. */
const RECEIVE_BUFFER_SIZE = 64 * 1024;
/** recv flag: return the real length of a datagram even when it did not fit. */
const MSG_TRUNC = 0x20;
/** How long one receive may wait for the kernel. */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 2000;

export function nlAlign(len: number): number {
  return (len + NL_ALIGNTO - 1) & ~(NL_ALIGNTO - 1);
}

/** One attribute: header, payload, padding to 4 bytes (rta_len excludes the padding). */
export function attr(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(nlAlign(RTA_HDRLEN + payload.length));
  out.writeUInt16LE(RTA_HDRLEN + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, RTA_HDRLEN);
  return out;
}

export function s32Attr(type: number, value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeInt32LE(value);
  return attr(type, payload);
}

export function u32Attr(type: number, value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32LE(value);
  return attr(type, payload);
}

/** A NUL-terminated string attribute, as iproute2 sends names. */
export function stringAttr(type: number, value: string): Buffer {
  return attr(type, Buffer.from(`${value}\0`, 'latin1'));
}

/** An attribute whose payload is other attributes (or a header and attributes). */
export function nestedAttr(type: number, ...parts: Buffer[]): Buffer {
  return attr(type, Buffer.concat(parts));
}

/** struct ifinfomsg with the given family and ifindex; type, flags and change 0. */
export function ifinfomsg(family: number, index = 0): Buffer {
  const out = Buffer.alloc(IFINFOMSG_SIZE);
  out.writeUInt8(family, 0);
  out.writeInt32LE(index, 4);
  return out;
}

/** struct rtgenmsg: just the family. */
export function rtgenmsg(family: number): Buffer {
  return Buffer.from([family]);
}

/** struct unix_diag_req: family u8, protocol u8, pad u16, states u32, ino u32, show u32, cookie u32[2]. */
export function unixDiagReq(states: number, show: number): Buffer {
  const req = Buffer.alloc(UNIX_DIAG_REQ_SIZE);
  req.writeUInt8(AF_UNIX, 0);
  req.writeUInt32LE(states >>> 0, 4);
  req.writeUInt32LE(show, 12);
  return req;
}

/** struct inet_diag_req_v2: family u8, protocol u8, ext u8, pad u8, states u32, then an all-zero sockid (any socket). */
export function inetDiagReq(family: number, protocol: number, states: number): Buffer {
  const req = Buffer.alloc(INET_DIAG_REQ_V2_SIZE);
  req.writeUInt8(family, 0);
  req.writeUInt8(protocol, 1);
  req.writeUInt32LE(states >>> 0, 4);
  return req;
}

/** struct packet_diag_req: family u8, protocol u8, pad u16, ino u32, show u32, cookie u32[2]. */
export function packetDiagReq(show: number): Buffer {
  const req = Buffer.alloc(PACKET_DIAG_REQ_SIZE);
  req.writeUInt8(AF_PACKET, 0);
  req.writeUInt32LE(show, 8);
  return req;
}

/** struct netlink_diag_req: family u8, protocol u8, pad u16, ino u32, show u32, cookie u32[2]. */
export function netlinkDiagReq(protocol: number, show: number): Buffer {
  const req = Buffer.alloc(NETLINK_DIAG_REQ_SIZE);
  req.writeUInt8(AF_NETLINK, 0);
  req.writeUInt8(protocol, 1);
  req.writeUInt32LE(show, 8);
  return req;
}

export interface NetlinkRequest {
  type: number;
  flags: number;
  /** The family's fixed header (ifinfomsg, rtgenmsg, a sock_diag request, ...). */
  header: Buffer;
  attrs?: Buffer[];
}

/** Lay out a whole message: nlmsghdr, the fixed header padded to 4, the attributes. */
export function buildMessage(request: NetlinkRequest, seq: number): Buffer {
  const header = Buffer.alloc(nlAlign(request.header.length));
  request.header.copy(header);
  const body = Buffer.concat([header, ...(request.attrs ?? [])]);
  const out = Buffer.alloc(NLMSG_HDRLEN + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(request.type, 4);
  out.writeUInt16LE(request.flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(0, 12); // to the kernel
  body.copy(out, NLMSG_HDRLEN);
  return out;
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the nlmsghdr. */
  payload: Buffer;
}

/** Split one received datagram into messages; a truncated tail is dropped. */
export function splitMessages(data: Buffer): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (data.length - offset >= NLMSG_HDRLEN) {
    const len = data.readUInt32LE(offset);
    if (len < NLMSG_HDRLEN || len > data.length - offset) break;
    messages.push({
      type: data.readUInt16LE(offset + 4),
      flags: data.readUInt16LE(offset + 6),
      seq: data.readUInt32LE(offset + 8),
      // A copy: the receive buffer is reused for the next datagram.
      payload: Buffer.from(data.subarray(offset + NLMSG_HDRLEN, offset + len)),
    });
    offset += nlAlign(len);
  }
  return messages;
}

/** Attributes by type (flag bits masked off); the last of a repeated type wins. */
export function parseAttrs(data: Buffer): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let offset = 0;
  while (data.length - offset >= RTA_HDRLEN) {
    const len = data.readUInt16LE(offset);
    if (len < RTA_HDRLEN || len > data.length - offset) break;
    attrs.set(data.readUInt16LE(offset + 2) & NLA_TYPE_MASK, data.subarray(offset + RTA_HDRLEN, offset + len));
    offset += nlAlign(len);
  }
  return attrs;
}

/** The result of one request: the data messages, and the error the kernel ended with (a positive errno, 0 for none). */
export interface NetlinkReply {
  messages: NetlinkMessage[];
  /** From NLMSG_ERROR, or a negative NLMSG_DONE length; 0 when the request succeeded. */
  error: number;
  /** Set when the socket itself failed (send, receive, timeout): a positive errno. */
  transportError?: number;
}

/** A NETLINK socket of one protocol, closed by close(). */
export class NetlinkSocket {
  private seq = 0;

  private constructor(readonly fd: number) {}

  /** Open a netlink socket with a receive timeout; the errno when the kernel refuses. */
  static open(protocol: number, timeoutMs = DEFAULT_RECEIVE_TIMEOUT_MS): NetlinkSocket | { errno: number } {
    const sk = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (sk.ret < 0) return { errno: sk.errno };
    const timeout = Buffer.alloc(TIMEVAL_SIZE);
    timeout.writeBigInt64LE(BigInt(Math.floor(timeoutMs / MS_PER_SECOND)), 0);
    timeout.writeBigInt64LE(BigInt((timeoutMs % MS_PER_SECOND) * MICROSECONDS_PER_MS), 8);
    const set = libc.setsockopt(sk.ret, SOL_SOCKET, SO_RCVTIMEO, timeout, TIMEVAL_SIZE);
    if (set.ret < 0) {
      libc.close(sk.ret);
      return { errno: set.errno };
    }
    return new NetlinkSocket(sk.ret);
  }

  close(): void {
    libc.close(this.fd);
  }

  /**
   * Send one request and collect its answer. The answer ends with NLMSG_DONE
   * (a dump), NLMSG_ERROR (an error, or the ack of NLM_F_ACK), or, for a
   * request with neither NLM_F_DUMP nor NLM_F_ACK, its single reply.
   */
  request(request: NetlinkRequest): NetlinkReply {
    const seq = ++this.seq;
    const message = buildMessage(request, seq);
    const sent = libc.send(this.fd, message, message.length, 0);
    if (sent.ret < 0) return { messages: [], error: 0, transportError: sent.errno };

    const expectsEnd = (request.flags & (NLM_F_DUMP | NLM_F_ACK)) !== 0;
    const messages: NetlinkMessage[] = [];
    const buf = Buffer.alloc(RECEIVE_BUFFER_SIZE);
    for (;;) {
      const got = libc.recv(this.fd, buf, buf.length, MSG_TRUNC);
      if (got.ret < 0) {
        if (got.errno === E.EINTR) continue;
        // EAGAIN here is SO_RCVTIMEO expiring: the kernel never finished answering.
        return { messages, error: 0, transportError: got.errno === E.EAGAIN ? E.ETIMEDOUT : got.errno };
      }
      if (got.ret > buf.length) return { messages, error: 0, transportError: E.EMSGSIZE };
      for (const msg of splitMessages(buf.subarray(0, got.ret))) {
        if (msg.seq !== seq) continue; // a late answer to an earlier request
        if (msg.type === NLMSG_DONE) {
          const status = msg.payload.length >= 4 ? msg.payload.readInt32LE(0) : 0;
          return { messages, error: status < 0 ? -status : 0 };
        }
        if (msg.type === NLMSG_ERROR) {
          if (msg.payload.length < 4) return { messages, error: 0, transportError: E.EBADMSG };
          const code = msg.payload.readInt32LE(0); // 0 for an ack, else a negative errno
          return { messages, error: code < 0 ? -code : 0 };
        }
        messages.push(msg);
        if (!expectsEnd && (msg.flags & NLM_F_MULTI) === 0) return { messages, error: 0 };
      }
    }
  }
}

/** Open a socket, hand it to `use`, close it on every path; the errno when it cannot be opened. */
export function withNetlink<T>(protocol: number, use: (sock: NetlinkSocket) => T, onOpenError: (errno: number) => T): T {
  const sock = NetlinkSocket.open(protocol);
  if (!(sock instanceof NetlinkSocket)) return onOpenError(sock.errno);
  try {
    return use(sock);
  } finally {
    sock.close();
  }
}
