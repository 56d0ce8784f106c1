// Checks of Linux security modules CRIU dumps and restores the state of.
import { existsSync, readFileSync } from 'node:fs';
import { supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromFsError } from './outcome.js';

/** AppArmor's securityfs directory: CRIU counts AppArmor as the LSM when it exists. */
const APPARMOR_FS = '/sys/kernel/security/apparmor';
/** Namespace stacking (domain/stack = yes) came with policy version 1.2. */
const STACKING_VERSION = { major: 1, minor: 2 };

export function apparmorStacking(): ProbeOutcome {
  try {
    return apparmorDomain();
  } catch (err) {
    return fromFsError(err, "Can't read AppArmor's features");
  }
}

function apparmorDomain(): ProbeOutcome {
  if (!existsSync(APPARMOR_FS)) {
    // AppArmor enabled but securityfs not visible (a container without it): stacking cannot be read.
    if (readOptional('/sys/module/apparmor/parameters/enabled') === 'Y') {
      return unknown(
        'MissingDependency',
        `AppArmor is enabled but ${APPARMOR_FS} is not there: mount securityfs to check stacking`,
      );
    }
    // CRIU runs this check only where AppArmor is the LSM (cr-check.c:
    // `if (kdat.lsm == LSMTYPE__APPARMOR)`), and dumps or restores AppArmor
    // namespaces only there. Without AppArmor a restore never stacks, so the
    // feature is not needed: supported, with NotApplicable as the reason.
    return { status: 'supported', reason: 'NotApplicable', message: 'AppArmor not active: nothing to stack' };
  }
  const stack = readOptional(`${APPARMOR_FS}/features/domain/stack`);
  if (stack !== 'yes') return unsupported(`aa stack featured disabled: ${stack ?? 'no features/domain/stack'}`);
  const version = readOptional(`${APPARMOR_FS}/features/domain/version`);
  const parsed = version && /^(\d+)\.(\d+)/.exec(version);
  if (!parsed) return unsupported(`scanning aa stack version failed: ${version ?? 'no features/domain/version'}`);
  const [major, minor] = [Number(parsed[1]), Number(parsed[2])];
  if (major > STACKING_VERSION.major || (major === STACKING_VERSION.major && minor >= STACKING_VERSION.minor)) {
    return supported(`AppArmor domain stacking, version ${major}.${minor}`);
  }
  return unsupported(
    `AppArmor domain version ${major}.${minor} is older than ${STACKING_VERSION.major}.${STACKING_VERSION.minor}`,
  );
}

/** A file's trimmed text, or undefined when it does not exist; other errors are thrown. */
function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
