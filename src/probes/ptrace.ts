// Checks that need a traced child.
import type { ProbeOutcome } from '../engine/verdict.js';
import { unknown } from './outcome.js';

// PLACEHOLDER: replaced by the real probes (issue 3); a test fails while any remains.
export function ptracePeeksiginfo(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function specialMappingMremap(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function seccompSuspend(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function seccompFilters(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function canMapVdso(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function getRseqConf(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function compatCr(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function breakpoints(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
