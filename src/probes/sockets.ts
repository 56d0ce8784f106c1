// Checks of socket options and socket ioctls, and of the tun device.
import { fstatSync, statSync } from 'node:fs';
import * as libc from '../native/libc.js';
import {
  AF_UNIX,
  AF_INET,
  AF_INET6,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  SOL_TCP,
  SOL_IPV6,
  SO_PEEK_OFF,
  SO_GET_FILTER,
  SO_BINDTODEVICE,
  SO_BUF_LOCK,
  TCP_REPAIR,
  TCP_TIMESTAMP,
  TCP_REPAIR_WINDOW,
  IPV6_FREEBIND,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IFNAMSIZ,
  SHUT_WR,
  O_RDONLY,
  O_RDWR,
  errno as E,
  EBADFD,
  INT_SIZE,
  SIOCGSKNS,
  SIOCUNIXFILE,
  TUNSETIFINDEX,
  TCP_REPAIR_WINDOW_SIZE,
  IFREQ_SIZE,
  SO_LINGER,
  LINGER_SIZE,
  SOCKADDR_IN_SIZE,
  SOCKADDR_IN6_SIZE,
  INADDR_LOOPBACK,
} from '../native/constants.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { errnoName, fromErrno } from './outcome.js';
import { withFd, withSocket } from './resources.js';

/** The tun clone device. */
const TUN_DEV_PATH = '/dev/net/tun';
/** The ifindex CRIU asks for: any value works on a tun file with no device attached. */
const TUN_PROBE_IFINDEX = 13;

/** struct sockaddr_in 127.0.0.1 or struct sockaddr_in6 ::1, port 0 (the kernel picks one). */
function loopbackAddress(family: InetFamily): Buffer {
  if (family === AF_INET) {
    const addr = Buffer.alloc(SOCKADDR_IN_SIZE);
    addr.writeUInt16LE(AF_INET, 0);
    addr.writeUInt32BE(INADDR_LOOPBACK, 4);
    return addr;
  }
  const addr = Buffer.alloc(SOCKADDR_IN6_SIZE);
  addr.writeUInt16LE(AF_INET6, 0);
  addr.writeUInt8(1, 8 + 15); // sin6_addr = ::1
  return addr;
}

/** getsockopt into a buffer of `size` bytes; returns the call's result and the value. */
function getOpt(fd: number, level: number, name: number, size: number): { res: libc.SysResult; value: Buffer } {
  const value = Buffer.alloc(size);
  const len = [size];
  return { res: libc.getsockopt(fd, level, name, size ? value : null, len), value: value.subarray(0, len[0]) };
}

/** setsockopt of one int. */
function setIntOpt(fd: number, level: number, name: number, value: number): libc.SysResult {
  const buf = Buffer.alloc(INT_SIZE);
  buf.writeInt32LE(value);
  return libc.setsockopt(fd, level, name, buf, INT_SIZE);
}

export function sockPeekOff(): ProbeOutcome {
  return withSocket({ domain: AF_UNIX, type: SOCK_DGRAM, protocol: 0 }, (fd) => {
    const { res, value } = getOpt(fd, SOL_SOCKET, SO_PEEK_OFF, INT_SIZE);
    if (res.ret < 0) return fromErrno(res.errno, "SO_PEEK_OFF sockoption doesn't work");
    if (value.length !== INT_SIZE)
      return unknown('UnexpectedResult', `SO_PEEK_OFF gave ${value.length} bytes, not an int`);
    // Peeking with an offset is off (-1) on a new socket.
    return value.readInt32LE() === -1
      ? supported()
      : unsupported("SO_PEEK_OFF sockoption doesn't work: unexpected initial value");
  });
}

export function tcpRepair(): ProbeOutcome {
  return withSocket({ domain: AF_INET, type: SOCK_STREAM, protocol: 0 }, (fd) => {
    const on = setIntOpt(fd, SOL_TCP, TCP_REPAIR, 1);
    if (on.ret < 0) return fromErrno(on.errno, "Can't turn TCP repair mode ON");
    const { res } = getOpt(fd, SOL_TCP, TCP_TIMESTAMP, INT_SIZE);
    return res.ret < 0 ? fromErrno(res.errno, "Can't get TCP_TIMESTAMP") : supported();
  });
}

export function soGets(): ProbeOutcome {
  return withSocket({ domain: AF_INET, type: SOCK_DGRAM, protocol: 0 }, (fd) => {
    const filter = getOpt(fd, SOL_SOCKET, SO_GET_FILTER, 0);
    if (filter.res.ret < 0) return fromErrno(filter.res.errno, "Can't get socket filter");
    const dev = getOpt(fd, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    if (dev.res.ret < 0) return fromErrno(dev.res.errno, "Can't get socket bound dev");
    return supported();
  });
}

type InetFamily = typeof AF_INET | typeof AF_INET6;

/** AF_INET, or AF_INET6 on a kernel without IPv4 (CRIU falls back the same way). */
function inetFamily(): InetFamily {
  const v4 = libc.socket(AF_INET, SOCK_DGRAM, 0);
  if (v4.ret >= 0) libc.close(v4.ret);
  return v4.errno === E.EAFNOSUPPORT ? AF_INET6 : AF_INET;
}

/** TCP_REPAIR on a fresh socket: false when this process lacks CAP_NET_ADMIN. */
function repairAllowed(family: InetFamily): boolean {
  const sk = libc.socket(family, SOCK_STREAM, IPPROTO_TCP);
  if (sk.ret < 0) return false;
  try {
    return setIntOpt(sk.ret, SOL_TCP, TCP_REPAIR, 1).ret === 0;
  } finally {
    libc.close(sk.ret);
  }
}

const REPAIR_NOT_PERMITTED = "TCP_REPAIR isn't available to unprivileged users";

export function tcpWindow(): ProbeOutcome {
  return withSocket({ domain: inetFamily(), type: SOCK_STREAM, protocol: IPPROTO_TCP }, (fd) => {
    const on = setIntOpt(fd, SOL_TCP, TCP_REPAIR, 1);
    if (on.ret < 0) {
      // CRIU counts EPERM as "no TCP_REPAIR_WINDOW"; it only means we may not ask.
      if (on.errno === E.EPERM) return unknown('PermissionDenied', REPAIR_NOT_PERMITTED);
      return fromErrno(on.errno, 'Unable to set TCP_REPAIR');
    }
    const { res } = getOpt(fd, SOL_TCP, TCP_REPAIR_WINDOW, TCP_REPAIR_WINDOW_SIZE);
    if (res.ret < 0) return fromErrno(res.errno, "The TCP_REPAIR_WINDOW option isn't supported");
    return supported();
  });
}

/** SO_LINGER {on, 0}: close() aborts with a RST, so no FIN_WAIT or TIME_WAIT socket outlives the probe. */
function abortOnClose(fd: number): void {
  const linger = Buffer.alloc(LINGER_SIZE);
  linger.writeInt32LE(1, 0);
  libc.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, LINGER_SIZE);
}

export function tcpHalfClosed(): ProbeOutcome {
  const family = inetFamily();
  return withSocket({ domain: family, type: SOCK_STREAM, protocol: IPPROTO_TCP }, (listener) => {
    const address = loopbackAddress(family);
    const addressLen = [address.length];
    const bound = libc.bindSocket(listener, address, address.length);
    if (bound.ret < 0) return fromErrno(bound.errno, 'Unable to bind a socket');
    const listening = libc.listen(listener, 1);
    if (listening.ret < 0) return fromErrno(listening.errno, 'Unable to listen a socket');
    const named = libc.getsockname(listener, address, addressLen);
    if (named.ret < 0) return fromErrno(named.errno, 'Unable to get a socket name');

    return withSocket({ domain: family, type: SOCK_STREAM, protocol: IPPROTO_TCP }, (client) => {
      abortOnClose(client);
      const connected = libc.connect(client, address, addressLen[0]);
      if (connected.ret < 0) return fromErrno(connected.errno, 'Unable to connect a socket');
      // On loopback the handshake is done when connect returns, so accept does not wait.
      const peer = libc.accept(listener, null, null);
      if (peer.ret < 0) return fromErrno(peer.errno, 'Unable to accept a connection');
      try {
        abortOnClose(peer.ret);
        const shut = libc.shutdown(client, SHUT_WR);
        if (shut.ret < 0) return fromErrno(shut.errno, 'Unable to shutdown a socket');
        const repair = setIntOpt(client, SOL_TCP, TCP_REPAIR, 1);
        if (repair.ret === 0) return supported();
        // Kernels before 4.11 refuse repair of a half-closed socket with EPERM, which is also
        // what a process without CAP_NET_ADMIN gets: a fresh socket tells the two apart.
        if (repair.errno === E.EPERM) {
          return repairAllowed(family)
            ? unsupported("TCP_REPAIR can't be enabled for half-closed sockets")
            : unknown('PermissionDenied', REPAIR_NOT_PERMITTED);
        }
        return fromErrno(repair.errno, 'Unable to set TCP_REPAIR with setsockopt');
      } finally {
        libc.close(peer.ret);
      }
    });
  });
}

/**
 * SIOCGSKNS: the kernel hands back a descriptor of the file's network
 * namespace; it must be the namespace this thread is in.
 */
function netnsOf(fd: number, what: string, failed = fromErrno): ProbeOutcome {
  const ns = libc.ioctlPtr(fd, SIOCGSKNS, Buffer.alloc(IFREQ_SIZE));
  if (ns.ret < 0) return failed(ns.errno, `Unable to get ${what} network namespace`);
  try {
    const own = statSync('/proc/thread-self/ns/net');
    const given = fstatSync(ns.ret);
    if (given.ino !== own.ino || given.dev !== own.dev) {
      return unknown('UnexpectedResult', `SIOCGSKNS on a ${what} gave a namespace other than the ${what}'s own`);
    }
    return supported();
  } finally {
    libc.close(ns.ret);
  }
}

export function skNs(): ProbeOutcome {
  return withSocket({ domain: AF_UNIX, type: SOCK_DGRAM, protocol: 0 }, (fd) => netnsOf(fd, 'socket'));
}

export function skUnixFile(): ProbeOutcome {
  return withSocket({ domain: AF_UNIX, type: SOCK_DGRAM, protocol: 0 }, (fd) => {
    const file = libc.ioctlPtr(fd, SIOCUNIXFILE, Buffer.alloc(IFREQ_SIZE));
    if (file.ret >= 0) {
      libc.close(file.ret);
      return supported();
    }
    // The socket is not bound, so it has no file: the kernel says ENOENT only
    // after it knew the request and checked CAP_NET_ADMIN.
    if (file.errno === E.ENOENT) return supported('SIOCUNIXFILE answered ENOENT for an unbound socket');
    return fromErrno(file.errno, 'Unable to open a socket file');
  });
}

export function sockoptBufLock(): ProbeOutcome {
  return withSocket({ domain: inetFamily(), type: SOCK_STREAM, protocol: IPPROTO_TCP }, (fd) => {
    const { res } = getOpt(fd, SOL_SOCKET, SO_BUF_LOCK, INT_SIZE);
    return res.ret < 0 ? fromErrno(res.errno, 'Unable to get SO_BUF_LOCK with getsockopt') : supported();
  });
}

export function ipv6Freebind(): ProbeOutcome {
  return withSocket({ domain: AF_INET6, type: SOCK_DGRAM, protocol: IPPROTO_UDP }, (fd) => {
    const set = setIntOpt(fd, SOL_IPV6, IPV6_FREEBIND, 1);
    if (set.ret < 0) return fromErrno(set.errno, 'Unable to setsockopt ipv6_freebind');
    const { res, value } = getOpt(fd, SOL_IPV6, IPV6_FREEBIND, INT_SIZE);
    if (res.ret < 0) return fromErrno(res.errno, 'Unable to getsockopt ipv6_freebind');
    return value.readInt32LE() === 1 ? supported() : unsupported('IPV6_FREEBIND was accepted but did not stick');
  });
}

function isPermissionError(code: number): boolean {
  return code === E.EPERM || code === E.EACCES;
}

/**
 * For `tun` and `tun_ns`, a driver that is absent is a failure, as in CRIU. A
 * missing device node (a container not given /dev/net/tun) or a permission
 * error says nothing about the kernel: unknown.
 */
function tunOpenFailed(what: string): (errno: number) => ProbeOutcome {
  return (errno) => {
    const message = `${what}: open ${TUN_DEV_PATH}: ${errnoName(errno)}`;
    if (errno === E.ENOENT) return unknown('DeviceUnavailable', message); // no device node here
    if (errno === E.ENODEV || errno === E.ENXIO) return unsupported(message); // no tun driver
    return fromErrno(errno, `${what}: open ${TUN_DEV_PATH}`);
  };
}

/** An ioctl on a tun file with no device attached: a driver that does not know it answers EBADFD. */
function tunIoctlFailed(errno: number, what: string): ProbeOutcome {
  if (errno === EBADFD) return unsupported(`${what}: EBADFD (the tun driver does not know this ioctl)`);
  return fromErrno(errno, what);
}

/** TUNSETIFINDEX on a tun file with no device attached: only sets the index a later TUNSETIFF would use. */
function setTunIfindex(fd: number): ProbeOutcome {
  const index = Buffer.alloc(INT_SIZE);
  index.writeUInt32LE(TUN_PROBE_IFINDEX);
  const res = libc.ioctlPtr(fd, TUNSETIFINDEX, index);
  return res.ret < 0 ? tunIoctlFailed(res.errno, 'No proper support for tun dump/restore') : supported();
}

export function tunCr(): ProbeOutcome {
  // CRIU passes when the device cannot be opened; we cannot tell, so unknown.
  const openFailed = (errno: number): ProbeOutcome => {
    const message = `Can't check tun support: open ${TUN_DEV_PATH}: ${errnoName(errno)}`;
    return unknown(isPermissionError(errno) ? 'PermissionDenied' : 'DeviceUnavailable', message);
  };
  return withFd({ path: TUN_DEV_PATH, flags: O_RDWR, onError: openFailed }, setTunIfindex);
}

export function tun(): ProbeOutcome {
  return withFd(
    { path: TUN_DEV_PATH, flags: O_RDWR, onError: tunOpenFailed("Can't check tun support") },
    setTunIfindex,
  );
}

export function tunNs(): ProbeOutcome {
  // No probe attaches a device (no TUNSETIFF), so closing leaves nothing behind.
  return withFd({ path: TUN_DEV_PATH, flags: O_RDONLY, onError: tunOpenFailed('Unable to create tun') }, (fd) =>
    netnsOf(fd, 'tun', tunIoctlFailed),
  );
}
