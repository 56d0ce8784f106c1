// Makers of special file descriptors, shared by the fdinfo probes.
import { close } from 'node:fs';
import * as libc from '../native/libc.js';
import {
  SYS, EPOLL_CTL_ADD, EPOLLIN, EPOLL_EVENT_SIZE, IN_ALL_EVENTS, SIGSET_SIZE, SIGUSR1, sigmask,
} from '../native/constants.js';
import type { ProbeOutcome } from '../model.js';
import { fromErrno } from './outcome.js';


/** A maker returns the descriptors it opened (the first is the one of interest), or an errno. */
export type FdMaker = () => { fds: number[] } | { errno: number };

function single(res: libc.SysResult): { fds: number[] } | { errno: number } {
  return res.ret < 0 ? { errno: res.errno } : { fds: [res.ret] };
}

export const eventfd: FdMaker = () => single(libc.syscall(SYS.eventfd2, ['int', 0], ['int', 0]));

/**
 * An epoll watching a pipe's read end (epoll, target, the pipe's write end).
 * A pipe as CRIU uses: an eventfd would make a kernel without
 * CONFIG_EVENTFD look like one without the epoll feature asked about.
 */
export const epollWithTarget: FdMaker = () => {
  const ep = single(libc.syscall(SYS.epoll_create1, ['int', 0]));
  if ('errno' in ep) return ep;
  const pipe = [0, 0];
  const piped = libc.pipe2(pipe, 0);
  if (piped.ret < 0) {
    libc.close(ep.fds[0]);
    return { errno: piped.errno };
  }
  const event = Buffer.alloc(EPOLL_EVENT_SIZE);
  event.writeUInt32LE(EPOLLIN, 0);
  const res = libc.syscall(SYS.epoll_ctl, ['int', ep.fds[0]], ['int', EPOLL_CTL_ADD], ['int', pipe[0]], ['void *', event]);
  const fds = [ep.fds[0], ...pipe];
  if (res.ret < 0) {
    fds.forEach((fd) => libc.close(fd));
    return { errno: res.errno };
  }
  return { fds };
};

export const signalfd: FdMaker = () => {
  const mask = Buffer.alloc(SIGSET_SIZE);
  mask.writeUInt32LE(sigmask(SIGUSR1), 0); // any non-empty mask
  return single(libc.syscall(SYS.signalfd4, ['int', -1], ['void *', mask], ['long', SIGSET_SIZE], ['int', 0]));
};

export const inotifyWatch: FdMaker = () => {
  const ino = single(libc.syscall(SYS.inotify_init1, ['int', 0]));
  if ('errno' in ino) return ino;
  const wd = libc.syscall(SYS.inotify_add_watch, ['int', ino.fds[0]], ['void *', Buffer.from('/\0')], ['int', IN_ALL_EVENTS]);
  if (wd.ret < 0) {
    libc.close(ino.fds[0]);
    return { errno: wd.errno };
  }
  return ino;
};

/**
 * Open descriptors with `make`, hand them to `use`, close them on every path.
 * They are closed on a libuv worker thread: closing an inotify descriptor
 * waits out an SRCU grace period (about 20 ms here), which the probe need
 * not wait for.
 */
export function withFds<T>(make: FdMaker, use: (fds: number[]) => T, what: string): T | ProbeOutcome {
  const made = make();
  if ('errno' in made) return fromErrno(made.errno, what);
  try {
    return use(made.fds);
  } finally {
    made.fds.forEach((fd) => close(fd, () => undefined));
  }
}
