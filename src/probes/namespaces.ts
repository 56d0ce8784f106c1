// Checks of namespaces: the kinds the kernel has, and what CRIU does across them.
import { statSync } from 'node:fs';
import * as libc from '../native/libc.js';
import { CAP_SYS_ADMIN, CLONE_NEWPID, CLONE_PARENT, SYS, __WALL, errno as E } from '../native/constants.js';
import { childReaped, childSpawned } from '../native/children.js';
import { hasCapability, procStatus } from '../native/procfs.js';
import { CODE, type Tracee } from '../native/tracee.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { errnoName, fromErrno, fromFsError } from './outcome.js';
import { traced } from './resources.js';

/** The file is there (ENOENT: the kernel lacks it); any other failure (EACCES) tells nothing. */
function present(path: string): ProbeOutcome {
  try {
    statSync(path);
    return supported();
  } catch (err) {
    return fromFsError(err, `No ${path}`);
  }
}

export function cgroupns(): ProbeOutcome {
  return present('/proc/self/ns/cgroup');
}

export function timens(): ProbeOutcome {
  return present('/proc/self/timens_offsets');
}

export function nsPid(): ProbeOutcome {
  return procStatus('NSpid') !== undefined ? supported() : unsupported('/proc/self/status has no NSpid');
}

export function externalNetNs(): ProbeOutcome {
  return supported('no kernel dependency');
}

/**
 * clone(CLONE_NEWPID|CLONE_PARENT) makes a sibling of the caller. Called from
 * the runner it would make a child of the engine, so the call is made inside
 * a tracee: the new process is then the runner's child, which reaps it. It
 * exits at once, as CRIU's does.
 */
export function cloneParentVsPid(): ProbeOutcome {
  // A new pid namespace needs CAP_SYS_ADMIN: without it, no tracee is worth starting.
  if (!hasCapability(CAP_SYS_ADMIN))
    return unknown('PermissionDenied', 'clone(CLONE_NEWPID|CLONE_PARENT): needs CAP_SYS_ADMIN');
  return traced(cloneSibling);
}

function cloneSibling(tracee: Tracee): ProbeOutcome {
  const site = tracee.placeCode(CODE.CLONE_CHILD_EXITS);
  const state = tracee.run(site, {
    rax: BigInt(SYS.clone),
    rdi: BigInt(CLONE_NEWPID | CLONE_PARENT),
    rsi: 0n,
    rdx: 0n,
    r10: 0n,
    r8: 0n,
  });
  const rax = BigInt.asIntN(64, tracee.expectTrap(state, 'clone(CLONE_NEWPID|CLONE_PARENT)').rax);
  if (rax < 0n) {
    const errno = Number(-rax);
    if (errno === E.EINVAL) return unsupported("CLONE_PARENT | CLONE_NEWPID don't work together");
    return fromErrno(errno, 'clone(CLONE_NEWPID|CLONE_PARENT)');
  }
  const sibling = Number(rax);
  childSpawned(sibling);
  const status = [0];
  let waited = libc.waitpid(sibling, status, __WALL);
  while (waited.ret < 0 && waited.errno === E.EINTR) waited = libc.waitpid(sibling, status, __WALL);
  // Reaped, or not ours to reap: either way the engine must not touch that pid again.
  childReaped(sibling);
  if (waited.ret !== sibling) {
    return unknown(
      'UnexpectedResult',
      `the new process ${sibling} is not a sibling of the caller (waitpid: ${errnoName(waited.errno)})`,
    );
  }
  // No pid in the message: it would change the body at every run.
  return supported('the new process is a sibling of the caller, in a new pid namespace');
}
