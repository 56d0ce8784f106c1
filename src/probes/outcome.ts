// From an errno (or a node:fs error) to a verdict, so that every probe maps
// the same errno to the same status and reason. The outcome constructors
// themselves (supported, unsupported, unknown) are in model.ts.
import { errno as E, EBADFD } from '../native/constants.js';
import { seccompMode } from '../native/procfs.js';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';

const errnoNames = new Map([...Object.entries(E), ['EBADFD', EBADFD] as const].map(([name, value]) => [value, name]));

/** "EPERM", "ENOSYS", ... for messages. */
export function errnoName(code: number): string {
  return errnoNames.get(code) ?? `errno ${code}`;
}

/** Errors that say the kernel does not have the thing asked for. */
const LACKING = new Set<number>([
  E.ENOSYS,
  E.EINVAL,
  E.ENOTTY,
  E.EOPNOTSUPP,
  E.ENOPROTOOPT,
  E.EAFNOSUPPORT,
  E.EPROTONOSUPPORT,
]);

let filtered: boolean | undefined;

/** Is this process under a seccomp filter? Asked once: a process never leaves one. */
function underSeccompFilter(): boolean {
  return (filtered ??= seccompMode() === '2');
}

/**
 * A system call answered ENOSYS: the kernel lacks it, unless a seccomp filter
 * guards this process. Container runtimes' default filters answer ENOSYS for
 * calls their profile does not know, and for clone3 on purpose, so there
 * ENOSYS may be the filter's word, not the kernel's.
 */
export function missingSyscall(message: string): ProbeOutcome {
  if (!underSeccompFilter()) return unsupported(message);
  return unknown(
    'PermissionDenied',
    `${message}; but a seccomp filter guards this process and may ` +
      `have answered for the kernel (run with seccomp unconfined to check)`,
  );
}

/**
 * Classify a failed call: permission and read-only errors are `unknown`
 * (the kernel may well have it), errors that mean "no such facility" are
 * `unsupported` (ENOSYS only where no seccomp filter could have said it),
 * anything else is `unknown` rather than a guess.
 */
export function fromErrno(code: number, what: string): ProbeOutcome {
  const message = `${what}: ${errnoName(code)}`;
  if (code === E.EPERM || code === E.EACCES) return unknown('PermissionDenied', message);
  if (code === E.EROFS) return unknown('ReadOnlyFilesystem', message);
  if (code === E.ENOSYS) return missingSyscall(message);
  if (LACKING.has(code)) return unsupported(message);
  return unknown('UnexpectedResult', message);
}

/** A call that exists answers anything but ENOSYS; EPERM or EACCES (a filter, an LSM) tells nothing. */
export function fromExistenceTest(code: number, what: string): ProbeOutcome {
  if (code === E.ENOSYS || code === E.EPERM || code === E.EACCES) return fromErrno(code, what);
  return supported();
}

/** Classify an error thrown by node:fs the same way. */
export function fromFsError(err: unknown, what: string): ProbeOutcome {
  const code = (err as NodeJS.ErrnoException).code;
  const num = code && code in E ? E[code as keyof typeof E] : undefined;
  if (num === undefined) return unknown('UnexpectedResult', `${what}: ${String(err)}`);
  if (num === E.ENOENT) return unsupported(`${what}: ENOENT`);
  return fromErrno(num, what);
}
