// x86-64 constants and small builders for the socket and tun probes,
// named as in the kernel headers (those shared with other probes live in
// constants.ts).
import { AF_INET, AF_INET6 } from './constants.js';

/** Socket ioctls: the network namespace of a socket (4.9+), the file of a bound unix socket (6.1+). */
export const SIOCGSKNS = 0x894c;
export const SIOCUNIXFILE = 0x89e0; // SIOCPROTOPRIVATE + 0

/** The tun clone device and TUNSETIFINDEX = _IOW('T', 218, unsigned int). */
export const TUN_DEV_PATH = '/dev/net/tun';
export const TUNSETIFINDEX = 0x400454da;
/** The ifindex CRIU asks for: any value works on a tun file with no device attached. */
export const TUN_PROBE_IFINDEX = 13;

/**
 * struct ifreq. The socket ioctls get one even where they ignore it: a kernel
 * that does not know the request copies an ifreq in before it says ENOTTY,
 * and would say EFAULT for a NULL one.
 */
export const IFREQ_SIZE = 40;

/** SO_LINGER and struct linger { int l_onoff; int l_linger; }. */
export const SO_LINGER = 13;
export const LINGER_SIZE = 8;
/** struct tcp_repair_window: five u32; getsockopt insists on the exact size. */
export const TCP_REPAIR_WINDOW_SIZE = 20;

const SOCKADDR_IN_SIZE = 16;
const SOCKADDR_IN6_SIZE = 28;
const INADDR_LOOPBACK = 0x7f000001;

/** struct sockaddr_in 127.0.0.1 or struct sockaddr_in6 ::1, port 0 (the kernel picks one). */
export function loopbackAddress(family: typeof AF_INET | typeof AF_INET6): Buffer {
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
