// Running an external program from a probe: output, exit, deadline, nothing left behind.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { endAhead, runProgram, runPrograms, startAhead } from '../src/native/program.js';

/** Our children, alive or zombie, from every thread's view. */
function ownChildren(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) =>
    readFileSync(`/proc/self/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number),
  );
}

/** Our children now that were not among `before`. */
function childrenSince(before: ReadonlySet<number>): number[] {
  return ownChildren().filter((pid) => !before.has(pid));
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
  t.same(childrenSince(before), []);
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

const sh = (script: string, timeoutMs = 5000) => ({ path: '/bin/sh', argv: ['sh', '-c', script], timeoutMs });
const PATH_ONLY = { env: ['PATH=/usr/bin:/bin'] };

t.test('several programs: each result in the order given, whatever order they end in', async (t) => {
  t.same(runPrograms([sh('sleep 0.3; echo first'), sh('echo second; exit 4'), sh('kill -9 $$')], 3, PATH_ONLY), [
    { kind: 'exited', code: 0, stdout: 'first\n', stderr: '' },
    { kind: 'exited', code: 4, stdout: 'second\n', stderr: '' },
    { kind: 'killed', signal: constants.signals.SIGKILL },
  ]);
});

t.test('several programs run side by side, as many as allowed: each sees the others running', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-programs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Each says it is there, then waits (at most 20 s) until three are: only three at once get there.
  const meet = sh(
    `touch "${dir}/$$"; i=0; while [ "$(ls "${dir}" | wc -l)" -lt 3 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; ls "${dir}" | wc -l`,
    60_000,
  );
  const results = runPrograms([meet, meet, meet], 3, PATH_ONLY);
  t.same(
    results.map((r) => (r?.kind === 'exited' ? r.stdout.trim() : r?.kind)),
    ['3', '3', '3'],
  );
});

t.test(
  'one program that outlives its limit is killed and reaped; the others still answer; no child left',
  async (t) => {
    const before = new Set(ownChildren());
    const results = runPrograms([sh('exec sleep 30', 200), sh('echo fine')], 2, PATH_ONLY);
    t.same(results, [{ kind: 'timeout' }, { kind: 'exited', code: 0, stdout: 'fine\n', stderr: '' }]);
    t.same(childrenSince(before), []);
  },
);

t.test('no program is started once the time given for all has passed: those have no result', async (t) => {
  const results = runPrograms([sh('exec sleep 30', 30_000), sh('echo late')], 1, {
    ...PATH_ONLY,
    until: performance.now() + 300,
  });
  t.same(results, [{ kind: 'timeout' }, undefined]);
});

/** A script that counts its runs in `file` and prints its count. */
function countingScript(file: string): string[] {
  return ['sh', '-c', `echo x >> "${file}"; wc -l < "${file}"`];
}

t.test('a program started ahead is collected by the run that asks the same: it runs once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-ahead-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const argv = countingScript(join(dir, 'runs'));
  startAhead('/bin/sh', argv, PATH_ONLY);
  t.same(runProgram('/bin/sh', argv, 5000, PATH_ONLY), { kind: 'exited', code: 0, stdout: '1\n', stderr: '' });
  t.same(runProgram('/bin/sh', argv, 5000, PATH_ONLY), { kind: 'exited', code: 0, stdout: '2\n', stderr: '' });
});

t.test('a run with other arguments or another environment does not collect a program started ahead', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-ahead-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const argv = countingScript(join(dir, 'runs'));
  startAhead('/bin/sh', argv, PATH_ONLY);
  t.same(runProgram('/bin/sh', ['sh', '-c', 'echo other'], 5000, PATH_ONLY), {
    kind: 'exited',
    code: 0,
    stdout: 'other\n',
    stderr: '',
  });
  t.match(runProgram('/bin/sh', argv, 5000, { env: ['PATH=/bin:/usr/bin'] }), { kind: 'exited', code: 0 });
  endAhead();
  t.equal(readFileSync(join(dir, 'runs'), 'latin1').split('\n').filter(Boolean).length, 2, 'the early one ran too');
});

t.test("a program started ahead keeps its time limit, counted from its start, not from the run's", async (t) => {
  const before = new Set(ownChildren());
  startAhead('/bin/sleep', ['sleep', '30']);
  await new Promise((resolve) => setTimeout(resolve, 400));
  const asked = performance.now();
  t.same(runProgram('/bin/sleep', ['sleep', '30'], 300), { kind: 'timeout' });
  t.ok(performance.now() - asked < 250, 'already past its limit when asked: cut at once');
  t.same(childrenSince(before), []);
});

t.test('a program started ahead that no run collects is killed and reaped at the end of the run', async (t) => {
  const before = new Set(ownChildren());
  startAhead('/bin/sleep', ['sleep', '30']);
  t.equal(childrenSince(before).length, 1, 'it runs');
  endAhead();
  t.same(childrenSince(before), []);
});

t.test('a program that cannot be started ahead is failed with the errno when collected', async (t) => {
  startAhead('/nonexistent/runc', ['runc', '--version']);
  t.same(runProgram('/nonexistent/runc', ['runc', '--version'], 2000), {
    kind: 'failed',
    errno: constants.errno.ENOENT,
  });
});
