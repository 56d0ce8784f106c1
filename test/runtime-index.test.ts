// The runtime checks as catalogue rows: names like CRIU's, category
// 'runtime', a summary and a hint each, and every probe answers.
import t from 'tap';
import { CATALOGUE } from '../src/catalogue.js';
import { REASONS, STATUSES } from '../src/model.js';

const RUNTIME = CATALOGUE.filter((f) => f.category === 'runtime');

t.test('eight runtime rows, snake_case names, summary and hint, no kernel config', async (t) => {
  t.same(
    RUNTIME.map((f) => f.name),
    [
      'criu_binary',
      'criu_version',
      'criu_runs',
      'criu_canary',
      'oci_runtime',
      'cri_checkpoint',
      'kubelet_checkpoint',
      'checkpoint_storage',
    ],
  );
  for (const check of RUNTIME) {
    t.match(check.name, /^[a-z][a-z0-9_]*$/);
    t.ok(check.summary.length > 10 && check.hint.length > 10, check.name);
    t.same(check.kconfig, [], check.name);
  }
});

t.test('the runtime rows come last, after every kernel feature', async (t) => {
  const first = CATALOGUE.findIndex((f) => f.category === 'runtime');
  t.ok(CATALOGUE.slice(first).every((f) => f.category === 'runtime'));
});

t.test('every runtime probe answers this host with a ProbeOutcome', { timeout: 120_000 }, async (t) => {
  for (const check of RUNTIME) {
    const outcome = await check.probe();
    t.ok(
      STATUSES.includes(outcome.status) && outcome.reason in REASONS && outcome.message.length > 0,
      `${check.name}: ${outcome.status} ${outcome.reason}: ${outcome.message}`,
    );
  }
});
