// Makers of special file descriptors, shared by the fdinfo probes.
import * as libc from '../native/libc.js';
import {
  SYS,
  EPOLL_CTL_ADD,
  EPOLLIN,
  EPOLL_EVENT_SIZE,
  IN_ALL_EVENTS,
  SIGSET_SIZE,
  SIGUSR1,
  sigmask,
} from '../native/constants.js';
import { stop } from '../model.js';
import { fromErrno } from './outcome.js';
import { closeInBackground } from './resources.js';

/**
 * A maker opens descriptors (the first is the one of interest) and returns
 * them, or closes what it opened and returns the errno that stopped it.
 */
export type FdMaker = () => number[] | { errno: number };

function single(res: libc.SysResult): number[] | { errno: number } {
  return res.ret < 0 ? { errno: res.errno } : [res.ret];
}

export const eventfd: FdMaker = () => single(libc.syscall(SYS.eventfd2, ['int', 0], ['int', 0]));

/**
 * An epoll watching a pipe's read end (epoll, target, the pipe's write end).
 * A pipe as CRIU uses: an eventfd would make a kernel without
 * CONFIG_EVENTFD look like one without the epoll feature asked about.
 */
export const epollWithTarget: FdMaker = () => {
  const ep = libc.syscall(SYS.epoll_create1, ['int', 0]);
  if (ep.ret < 0) return { errno: ep.errno };
  const pipe = [0, 0];
  const piped = libc.pipe2(pipe, 0);
  if (piped.ret < 0) {
    libc.close(ep.ret);
    return { errno: piped.errno };
  }
  const event = Buffer.alloc(EPOLL_EVENT_SIZE);
  event.writeUInt32LE(EPOLLIN, 0);
  const res = libc.syscall(SYS.epoll_ctl, ['int', ep.ret], ['int', EPOLL_CTL_ADD], ['int', pipe[0]], ['void *', event]);
  const fds = [ep.ret, ...pipe];
  if (res.ret < 0) {
    fds.forEach((fd) => libc.close(fd));
    return { errno: res.errno };
  }
  return fds;
};

export const signalfd: FdMaker = () => {
  const mask = Buffer.alloc(SIGSET_SIZE);
  mask.writeUInt32LE(sigmask(SIGUSR1), 0); // any non-empty mask
  return single(libc.syscall(SYS.signalfd4, ['int', -1], ['void *', mask], ['long', SIGSET_SIZE], ['int', 0]));
};

export const inotifyWatch: FdMaker = () => {
  const ino = libc.syscall(SYS.inotify_init1, ['int', 0]);
  if (ino.ret < 0) return { errno: ino.errno };
  const wd = libc.syscall(
    SYS.inotify_add_watch,
    ['int', ino.ret],
    ['void *', Buffer.from('/\0')],
    ['int', IN_ALL_EVENTS],
  );
  if (wd.ret < 0) {
    libc.close(ino.ret);
    return { errno: wd.errno };
  }
  return [ino.ret];
};

/**
 * Descriptors opened with `make`, closed on a libuv worker thread: closing an
 * inotify descriptor waits out an SRCU grace period, which the probe need not
 * wait for. A maker's failure ends the probe as fromErrno(errno, what).
 */
export function withFds<T>(args: { make: FdMaker; what: string }, use: (fds: number[]) => T): T {
  const made = args.make();
  if (!Array.isArray(made)) stop(fromErrno(made.errno, args.what));
  try {
    return use(made);
  } finally {
    made.forEach(closeInBackground);
  }
}
