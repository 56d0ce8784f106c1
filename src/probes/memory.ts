// Checks of memory tracking and remapping.
import type { ProbeOutcome } from '../engine/verdict.js';
import { unknown } from './outcome.js';

// PLACEHOLDER: replaced by the real probes (issue 3); a test fails while any remains.
export function memDirtyTrack(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function aioRemap(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function uffd(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function uffdNoncoop(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function pagemapScan(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function pagemapScanGuardPages(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
