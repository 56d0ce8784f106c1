// Running an external program from a probe: output, exit, deadline, nothing left behind.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { runProgram } from '../src/native/program.js';

/** Our children, alive or zombie, from every thread's view. */
function ownChildren(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) =>
    readFileSync(`/proc/self/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number),
  );
}

t.test('a program runs to its end: its exit code and what it printed', async (t) => {
  t.same(runProgram('/bin/sh', ['sh', '-c', 'echo iptables v1.8.9 "(legacy)"; exit 3'], 2000), {
    kind: 'exited',
    code: 3,
    stdout: 'iptables v1.8.9 (legacy)\n',
    stderr: '',
  });
});

t.test(
  'output larger than a pipe buffer does not block the program: it ends, and what is kept is bounded',
  async (t) => {
    const result = runProgram('/bin/sh', ['sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" x'], 5000);
    t.match(result, { kind: 'exited', code: 0 });
    const stdout = result.kind === 'exited' ? result.stdout : '';
    t.ok(stdout.length >= 64 * 1024 && stdout.length < 200_000, `kept ${stdout.length} bytes`);
    t.match(stdout, /^x+$/);
  },
);

t.test('the program gets an empty environment and no stdin', async (t) => {
  t.same(runProgram('/bin/sh', ['sh', '-c', 'echo "[$HOME][$PATH_FROM_TEST]"; cat'], 2000), {
    kind: 'exited',
    code: 0,
    stdout: '[][]\n',
    stderr: '',
  });
});

t.test('a program killed by a signal says which', async (t) => {
  t.same(runProgram('/bin/sh', ['sh', '-c', 'kill -9 $$'], 2000), {
    kind: 'killed',
    signal: constants.signals.SIGKILL,
  });
});

t.test('a program that outlives its deadline is killed and reaped: timeout, no child left', async (t) => {
  const before = new Set(ownChildren());
  const started = performance.now();
  t.same(runProgram('/bin/sleep', ['sleep', '30'], 200), { kind: 'timeout' });
  t.ok(performance.now() - started < 5000, 'cut at the deadline');
  t.same(
    ownChildren().filter((pid) => !before.has(pid)),
    [],
  );
});

t.test('a program that cannot be started is failed with the errno', async (t) => {
  t.same(runProgram('/nonexistent/iptables-legacy-save', ['iptables-legacy-save', '-V'], 2000), {
    kind: 'failed',
    errno: constants.errno.ENOENT,
  });
});

t.test('what a program prints on stderr is kept apart from its stdout', async (t) => {
  t.same(runProgram('/bin/sh', ['sh', '-c', 'echo out; echo err >&2; exit 1'], 2000), {
    kind: 'exited',
    code: 1,
    stdout: 'out\n',
    stderr: 'err\n',
  });
});
