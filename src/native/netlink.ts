// A small netlink client: build a request (nlmsghdr, a fixed header, rtattrs)
// in a Buffer, send it to the kernel, and walk the (multipart) answer up to
// NLMSG_DONE or NLMSG_ERROR. Every socket has a receive timeout, so a probe
// never waits forever for an answer that does not come.
// Layouts and numbers are in constants.ts (<linux/netlink.h> and friends).
import * as libc from './libc.js';
import {
  AF_UNIX,
  AF_PACKET,
  AF_NETLINK,
  SOCK_RAW,
  SOCK_CLOEXEC,
  SOL_SOCKET,
  SO_RCVTIMEO,
  TIMEVAL_SIZE,
  MSG_TRUNC,
  errno as E,
  NLMSG_HDRLEN,
  NL_ALIGNTO,
  RTA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSG_ERROR,
  NLMSG_DONE,
  NLM_F_MULTI,
  NLM_F_ACK,
  NLM_F_DUMP,
  IFINFOMSG_SIZE,
  UNIX_DIAG_REQ_SIZE,
  INET_DIAG_REQ_V2_SIZE,
  PACKET_DIAG_REQ_SIZE,
  NETLINK_DIAG_REQ_SIZE,
} from './constants.js';

const MICROSECONDS_PER_MS = 1000;
const MS_PER_SECOND = 1000;
/** Room for one receive; the kernel sizes dump batches well below this. */
const RECEIVE_BUFFER_SIZE = 64 * 1024;
/** How long one receive may wait for the kernel. */
const DEFAULT_RECEIVE_TIMEOUT_MS = 2000;

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

/**
 * struct inet_diag_req_v2: family u8, protocol u8, ext u8, pad u8, states u32, then an all-zero sockid (any socket).
 */
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
