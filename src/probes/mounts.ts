// Checks of namespaces and mounts.
import type { ProbeOutcome } from '../engine/verdict.js';
import { unknown } from './outcome.js';

// PLACEHOLDER: replaced by the real probes (issue 3); a test fails while any remains.
export function cloneParentVsPid(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function moveMountSetGroup(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function overlayfsMaps(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function apparmorStacking(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function autofs(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
