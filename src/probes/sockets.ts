// Checks of socket options and socket ioctls.
import * as libc from '../native/libc.js';
import {
  AF_UNIX, AF_INET, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SOL_TCP, SO_PEEK_OFF, SO_GET_FILTER,
  SO_BINDTODEVICE, TCP_REPAIR, TCP_TIMESTAMP, IFNAMSIZ,
} from '../native/constants.js';
import type { ProbeOutcome } from '../engine/verdict.js';
import { fromErrno, supported, unsupported, unknown } from './outcome.js';

/** Open a socket, hand it to `use`, close it on every path. */
export function withSocket(domain: number, type: number, protocol: number, use: (fd: number) => ProbeOutcome): ProbeOutcome {
  const sk = libc.socket(domain, type, protocol);
  if (sk.ret < 0) return fromErrno(sk.errno, "Can't create socket");
  try {
    return use(sk.ret);
  } finally {
    libc.close(sk.ret);
  }
}

/** getsockopt into a buffer of `size` bytes; returns the call's result and the value. */
export function getOpt(fd: number, level: number, name: number, size: number): { res: libc.SysResult; value: Buffer } {
  const value = Buffer.alloc(size);
  const len = [size];
  return { res: libc.getsockopt(fd, level, name, size ? value : null, len), value: value.subarray(0, len[0]) };
}

/** setsockopt of one int. */
export function setIntOpt(fd: number, level: number, name: number, value: number): libc.SysResult {
  const buf = Buffer.alloc(4);
  buf.writeInt32LE(value);
  return libc.setsockopt(fd, level, name, buf, 4);
}

export function sockPeekOff(): ProbeOutcome {
  return withSocket(AF_UNIX, SOCK_DGRAM, 0, (fd) => {
    const { res, value } = getOpt(fd, SOL_SOCKET, SO_PEEK_OFF, 4);
    if (res.ret < 0) return fromErrno(res.errno, "SO_PEEK_OFF sockoption doesn't work");
    // Peeking with an offset is off (-1) on a new socket.
    return value.readInt32LE() === -1 ? supported() : unsupported("SO_PEEK_OFF sockoption doesn't work: unexpected initial value");
  });
}

export function tcpRepair(): ProbeOutcome {
  return withSocket(AF_INET, SOCK_STREAM, 0, (fd) => {
    const on = setIntOpt(fd, SOL_TCP, TCP_REPAIR, 1);
    if (on.ret < 0) return fromErrno(on.errno, "Can't turn TCP repair mode ON");
    const { res } = getOpt(fd, SOL_TCP, TCP_TIMESTAMP, 4);
    return res.ret < 0 ? fromErrno(res.errno, "Can't get TCP_TIMESTAMP") : supported();
  });
}

export function soGets(): ProbeOutcome {
  return withSocket(AF_INET, SOCK_DGRAM, 0, (fd) => {
    const filter = getOpt(fd, SOL_SOCKET, SO_GET_FILTER, 0);
    if (filter.res.ret < 0) return fromErrno(filter.res.errno, "Can't get socket filter");
    const dev = getOpt(fd, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    if (dev.res.ret < 0) return fromErrno(dev.res.errno, "Can't get socket bound dev");
    return supported();
  });
}

// PLACEHOLDER: replaced by the real probes (issue 3); a test fails while any remains.
export function tunCr(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function tcpWindow(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function tcpHalfClosed(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function skNs(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function sockoptBufLock(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function ipv6Freebind(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function tun(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function tunNs(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function skUnixFile(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
