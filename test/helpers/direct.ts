// Calling a probe function in the test's own process, as the runner's runOne
// does: a helper's ProbeStop is the probe's outcome.
import { ProbeStop, type ProbeOutcome } from '../../src/model.js';

export function callProbe(probe: () => ProbeOutcome): ProbeOutcome {
  try {
    return probe();
  } catch (err) {
    if (err instanceof ProbeStop) return err.outcome;
    throw err;
  }
}
