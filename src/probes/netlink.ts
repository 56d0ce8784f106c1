// Checks that talk netlink: sock_diag, rtnetlink, nftables.
import type { ProbeOutcome } from '../engine/verdict.js';
import { unknown } from './outcome.js';

// PLACEHOLDER: replaced by the real probes (issue 3); a test fails while any remains.
export function sockDiag(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function netDiagRaw(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function newifindex(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function networkLockNftables(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function nsid(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function linkNsid(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function nftables(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
export function hasIptLegacy(): ProbeOutcome {
  return unknown('ProbeError', 'PLACEHOLDER: probe not written yet');
}
