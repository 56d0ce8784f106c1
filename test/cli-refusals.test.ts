// The built CLI under a seccomp filter refusing one system call its own
// process needs: it still answers, with a verdict and an exit code of the
// protocol, and never hangs.
import t from 'tap';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errno as E } from '../src/native/constants.js';
import type { Verdict } from '../src/model.js';
import { program } from '../src/native/seccomp.js';
import { runOnce, OUR_FRAME } from './helpers/sweep.js';
import { SYSCALL_NUMBERS } from './helpers/syscall-table.js';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const launcher = fileURLToPath(new URL('./fixtures/seccomp-exec.mjs', import.meta.url));
const notBuilt = !existsSync(built) && 'dist/cli.js is not built (npm test builds it first)';

function underFilter(call: string, errno: 'ENOSYS' | 'EPERM', args: string[]) {
  const filter = program([{ nr: SYSCALL_NUMBERS[call], errno: E[errno] }]).toString('hex');
  return runOnce(`${call}=${errno}`, process.execPath, [launcher, filter, process.execPath, built, ...args]);
}

t.test(
  'no runner can be started (clone refused): every feature unknown/RunnerUnavailable, exit 2, no stack trace',
  { skip: notBuilt },
  async (t) => {
    for (const call of ['clone', 'socketpair', 'dup2']) {
      const run = await underFilter(call, 'ENOSYS', ['check', '--all', '--json']);
      t.equal(run.code, 2, call);
      t.notMatch(run.stderr, OUR_FRAME, `${call}: no stack trace`);
      const features = run.verdict?.features ?? [];
      t.ok(features.length > 0, `${call}: the verdicts are printed`);
      t.same(
        features.filter((v) => v.reason !== 'RunnerUnavailable').map((v) => v.name),
        [],
        `${call}: every feature RunnerUnavailable`,
      );
      t.match(features[0]?.hint, /seccomp/, `${call}: the hint names the filter`);
    }
  },
);

t.test(
  "a runner that does not exit (fsync refused) is killed once the verdict is printed; the exit code is the verdict's",
  { skip: notBuilt },
  async (t) => {
    const run = await underFilter('fsync', 'ENOSYS', ['check', '--feature', 'kcmp']);
    t.notOk(run.timedOut, 'it ends');
    t.equal(run.stdout, 'kcmp is supported\n');
    t.equal(run.code, 0);
  },
);

t.test(
  'Node cannot make its stdout stream (getsockname refused): the JSON is written all the same',
  { skip: notBuilt },
  async (t) => {
    const run = await underFilter('getsockname', 'ENOSYS', ['check', '--json']);
    t.ok(run.verdict, run.stderr);
    t.ok([0, 1, 2].includes(run.code ?? -1));
  },
);

t.test(
  "Node cannot tell what the runner's stdin is (getsockname refused): the runner reads its commands all the same",
  { skip: notBuilt },
  async (t) => {
    for (const errno of ['ENOSYS', 'EPERM'] as const) {
      const run = await underFilter('getsockname', errno, ['check', '--json']);
      const features = run.verdict?.features ?? [];
      t.ok(features.length > 0, `${errno}: the verdicts are printed`);
      t.same(
        features.filter((v) => v.reason === 'RunnerUnavailable').map((v) => `${v.name}: ${v.message}`),
        [],
        `${errno}: every probe ran`,
      );
      t.ok([0, 1, 2].includes(run.code ?? -1), `${errno}: exit ${run.code}`);
    }
  },
);

t.test(
  'check --feature on a feature that does not apply here: "NAME is not applicable: why", exit 0',
  { skip: notBuilt },
  async (t) => {
    const json = await runOnce('json', process.execPath, [built, 'check', '--feature', 'apparmor_stacking', '--json']);
    const verdict = JSON.parse(json.stdout) as Verdict;
    if (verdict.reason !== 'NotApplicable') {
      t.comment('skipped: AppArmor is active on this host, so apparmor_stacking applies');
      return;
    }
    const run = await runOnce('text', process.execPath, [built, 'check', '--feature', 'apparmor_stacking']);
    t.equal(run.stdout, `apparmor_stacking is not applicable: ${verdict.message}\n`);
    t.equal(run.code, 0);
  },
);
