// Which Reason the runtime checks give where src/model.ts has no exact word
// yet. Kept in one place so that when model.ts gains the proposed reasons
// (see the report: Disabled, InsufficientSpace), one line changes each.
import type { Reason } from '../../model.js';

/** A component is installed but its configuration turns checkpointing off. Proposed: 'Disabled'. */
export const DISABLED: Reason = 'MissingDependency';
/** The checkpoint directory has less free space than the threshold. Proposed: 'InsufficientSpace'. */
export const LOW_SPACE: Reason = 'MissingDependency';
/** A configuration file could not be read (malformed): the verdict is unknown. */
export const UNREADABLE_CONFIG: Reason = 'UnexpectedResult';
