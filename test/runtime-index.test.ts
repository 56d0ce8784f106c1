// The list of runtime checks the later wiring takes: names like CRIU's,
// category 'runtime', a summary and a hint each, and every probe answers.
import t from 'tap';
import { RUNTIME_CHECKS, RUNTIME_CHECK_NAMES } from '../src/probes/runtime/index.js';
import { REASONS, STATUSES } from '../src/model.js';

t.test('eight checks, snake_case names, unique, category runtime, summary and hint', async (t) => {
  t.same(RUNTIME_CHECK_NAMES, ['criu_binary', 'criu_version', 'criu_runs', 'criu_canary', 'oci_runtime', 'cri_checkpoint', 'kubelet_checkpoint', 'checkpoint_storage']);
  for (const check of RUNTIME_CHECKS) {
    t.match(check.name, /^[a-z][a-z0-9_]*$/);
    t.equal(check.category, 'runtime');
    t.ok(check.summary.length > 10 && check.hint.length > 10, check.name);
  }
});

t.test('every probe answers this host with a ProbeOutcome', { timeout: 120_000 }, async (t) => {
  for (const check of RUNTIME_CHECKS) {
    const outcome = check.probe();
    t.ok(STATUSES.includes(outcome.status) && outcome.reason in REASONS && outcome.message.length > 0, `${check.name}: ${outcome.status} ${outcome.reason}: ${outcome.message}`);
  }
});
