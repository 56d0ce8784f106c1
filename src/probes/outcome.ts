// Small constructors for probe outcomes, so that every probe maps the same
// errno to the same status and reason.
import { errno as E } from '../native/constants.js';
import type { ProbeOutcome, Reason } from '../engine/verdict.js';

export function supported(message = 'supported'): ProbeOutcome {
  return { status: 'supported', reason: 'Supported', message };
}

export function unsupported(message: string, reason: Reason = 'NotInKernel'): ProbeOutcome {
  return { status: 'unsupported', reason, message };
}

export function unknown(reason: Reason, message: string): ProbeOutcome {
  return { status: 'unknown', reason, message };
}

const errnoNames = new Map(Object.entries(E).map(([name, value]) => [value, name]));

/** "EPERM", "ENOSYS", ... for messages. */
export function errnoName(code: number): string {
  return errnoNames.get(code) ?? `errno ${code}`;
}

/** Errors that say the kernel does not have the thing asked for. */
const LACKING = new Set<number>([E.ENOSYS, E.EINVAL, E.ENOTTY, E.EOPNOTSUPP, E.ENOPROTOOPT, E.EAFNOSUPPORT, E.EPROTONOSUPPORT]);

/**
 * Classify a failed call: permission and read-only errors are `unknown`
 * (the kernel may well have it), errors that mean "no such facility" are
 * `unsupported`, anything else is `unknown` rather than a guess.
 */
export function fromErrno(code: number, what: string): ProbeOutcome {
  const message = `${what}: ${errnoName(code)}`;
  if (code === E.EPERM || code === E.EACCES) return unknown('PermissionDenied', message);
  if (code === E.EROFS) return unknown('ReadOnlyFilesystem', message);
  if (LACKING.has(code)) return unsupported(message);
  return unknown('UnexpectedResult', message);
}

/** Classify an error thrown by node:fs the same way. */
export function fromFsError(err: unknown, what: string): ProbeOutcome {
  const code = (err as NodeJS.ErrnoException).code;
  const num = code && code in E ? E[code as keyof typeof E] : undefined;
  if (num === undefined) return unknown('UnexpectedResult', `${what}: ${String(err)}`);
  if (num === E.ENOENT) return unsupported(`${what}: ENOENT`);
  return fromErrno(num, what);
}
