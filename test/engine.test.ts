import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProbeEngine, type EngineOptions, type ProbeResult } from '../src/engine/engine.js';
import { runnerExecArgv, spawnRunner } from '../src/engine/runner-process.js';
import { TS_LOADER } from './helpers/node.js';

const run = promisify(execFile);

const faultProbes = fileURLToPath(new URL('./fixtures/fault-probes.ts', import.meta.url));

function engine(t: Test, options: EngineOptions = {}): ProbeEngine {
  const e = new ProbeEngine({ probeModule: faultProbes, probeTimeoutMs: 2_000, ...options });
  t.teardown(() => e.close());
  return e;
}

/** The runner process that ran the fixture probe describes_itself. */
function pidOf(result: ProbeResult): number {
  return (JSON.parse(result.outcome.message) as { pid: number }).pid;
}

/** Children of this process that are still around (alive or zombie). */
function ownChildren(): number[] {
  const tasks = `/proc/${process.pid}/task`;
  return readFileSync(`${tasks}/${process.pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
}

t.test('a probe that hangs is reported unknown/Timeout and the next probes still run', async (t) => {
  const e = engine(t, { probeTimeoutMs: 500 });
  const started = Date.now();
  const [before, hung, after] = await e.run(['describes_itself', 'hangs', 'also_describes_itself']);
  t.match(hung.outcome, { status: 'unknown', reason: 'Timeout' });
  t.ok(Date.now() - started < 20_000, 'the hang is cut at the probe timeout, not left to run');
  t.match(after.outcome, { status: 'supported' });
  t.not(pidOf(after), pidOf(before), 'the killed runner was replaced');
});

t.test('a probe that throws is reported unknown/ProbeError and the same runner goes on', async (t) => {
  const e = engine(t);
  const [before, thrown, after] = await e.run(['describes_itself', 'throws', 'also_describes_itself']);
  t.match(thrown.outcome, { status: 'unknown', reason: 'ProbeError', message: /probe exploded/ });
  t.match(after.outcome, { status: 'supported' });
  t.equal(pidOf(after), pidOf(before), 'the same runner');
});

t.test("a probe ended by a helper's stop() is reported with that outcome, not as a ProbeError", async (t) => {
  const e = engine(t);
  const [before, stopped, after] = await e.run(['describes_itself', 'stops', 'also_describes_itself']);
  t.match(stopped.outcome, { status: 'unsupported', reason: 'NotInKernel', message: 'a helper ended the probe' });
  t.match(after.outcome, { status: 'supported' });
  t.equal(pidOf(after), pidOf(before), 'the same runner');
});

t.test('a probe that kills its runner is reported unknown/ProbeCrashed and the rest still run', async (t) => {
  const e = engine(t);
  const [before, crashed, after] = await e.run(['describes_itself', 'kills_runner', 'also_describes_itself']);
  t.match(before.outcome, { status: 'supported' });
  t.match(crashed.outcome, { status: 'unknown', reason: 'ProbeCrashed', message: /SIGKILL/ });
  t.match(after.outcome, { status: 'supported' });
  t.not(pidOf(after), pidOf(before), 'a new runner took the rest');
});

t.test('a helper process started by a probe that hangs is killed and reaped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'engine-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'pid');
  process.env.TEST_HELPER_PID_FILE = pidFile;
  const e = engine(t, { probeTimeoutMs: 500 });
  const [result] = await e.run(['spawns_then_hangs']);
  t.match(result.outcome, { status: 'unknown', reason: 'Timeout' });
  const pid = Number(readFileSync(pidFile, 'latin1'));
  t.ok(pid > 0);
  t.notOk(existsSync(`/proc/${pid}`), 'the helper is gone, not even a zombie');
});

t.test('a run over its time limit reports the rest unknown/Timeout', async (t) => {
  const e = engine(t, { runTimeoutMs: 4_000, probeTimeoutMs: 20_000 });
  const results = await e.run(['fine', 'hangs', 'also_fine']);
  t.match(results[0].outcome, { status: 'supported' });
  t.match(results[1].outcome, { status: 'unknown', reason: 'Timeout', message: /run did not finish/ });
  t.match(results[2].outcome, { status: 'unknown', reason: 'Timeout' });
});

t.test('a runner that cannot start makes every probe unknown/RunnerUnavailable', async (t) => {
  const e = engine(t, { runnerPath: '/nonexistent/runner.js' });
  const results = await e.run(['fine', 'also_fine']);
  // The message names why (Node's error line), not the version banner Node prints last.
  for (const r of results)
    t.match(r.outcome, { status: 'unknown', reason: 'RunnerUnavailable', message: /Cannot find module/ });
});

t.test('a name the runner does not know is unknown/ProbeError, not a crash', async (t) => {
  const e = engine(t);
  const [r] = await e.run(['no_such_probe']);
  t.match(r.outcome, { status: 'unknown', reason: 'ProbeError', message: /no probe named/ });
});

t.test('a warm runner serves several runs', async (t) => {
  const e = engine(t, { keepWarm: true });
  const [first] = await e.run(['describes_itself']);
  const [second] = await e.run(['describes_itself']);
  t.equal(pidOf(second), pidOf(first));
});

t.test('a warm runner that died while idle (the OOM killer) is replaced: the next run gets every result', async (t) => {
  const e = engine(t, { keepWarm: true });
  await e.run(['fine']);
  const [warm] = ownChildren();
  process.kill(warm, 'SIGKILL');
  // Gone from our children once Node has reaped it, as after any real death.
  for (let waited = 0; ownChildren().includes(warm) && waited < 5_000; waited += 10)
    await new Promise((r) => setTimeout(r, 10));
  const results = await e.run(['fine', 'describes_itself']);
  t.same(
    results.map((r) => `${r.name}: ${r.outcome.status}`),
    ['fine: supported', 'describes_itself: supported'],
  );
  t.not(pidOf(results[1]), warm, 'a new runner');
});

t.test('a warm runner that dies just as it is handed a run is replaced, not blamed on every probe', async (t) => {
  const e = engine(t, { keepWarm: true });
  await e.run(['fine']);
  const [warm] = ownChildren();
  // Killed and not yet reaped: the engine still takes it for alive and hands it the run.
  process.kill(warm, 'SIGKILL');
  const results = await e.run(['fine', 'also_fine']);
  t.same(
    results.map((r) => `${r.name}: ${r.outcome.status}`),
    ['fine: supported', 'also_fine: supported'],
  );
});

t.test('runs asked for at once do not overlap and each gets every result', async (t) => {
  const e = engine(t, { keepWarm: true });
  const [a, b] = await Promise.all([e.run(['slow', 'describes_itself']), e.run(['describes_itself', 'slow'])]);
  t.same(
    a.map((r) => r.outcome.status),
    ['supported', 'supported'],
  );
  t.same(
    b.map((r) => r.outcome.status),
    ['supported', 'supported'],
  );
  t.equal(pidOf(b[0]), pidOf(a[1]), 'one runner, used in turn');
});

t.test("a probe's programs start at the beginning of the run, before the probes ahead of it", async (t) => {
  const e = engine(t);
  const [, collected] = await e.run(['slow', 'collects_ahead']);
  const { programRan, probeStarted } = JSON.parse(collected.outcome.message) as Record<string, string>;
  t.ok(BigInt(programRan) < BigInt(probeStarted), 'the program ran before its probe started, during the slow probe');
});

t.test('a probe marked runsFirst runs before the probes asked for ahead of it', async (t) => {
  const e = engine(t);
  const results = await e.run(['runs_when_asked', 'runs_first']);
  const began = Object.fromEntries(results.map((r) => [r.name, Number(r.outcome.message)]));
  t.ok(began.runs_first < began.runs_when_asked, 'runs_first began first');
});

t.test(
  'a program started ahead that no probe collects is gone when the run is: the warm runner has no child',
  async (t) => {
    const e = engine(t, { keepWarm: true });
    const [, runner] = await e.run(['never_collects', 'describes_itself']);
    const children = readFileSync(`/proc/${pidOf(runner)}/task/${pidOf(runner)}/children`, 'latin1').trim();
    t.equal(children, '', 'no child of the runner after the run');
  },
);

t.test('a probe whose programs cannot be started ahead still runs, and the run goes on', async (t) => {
  const e = engine(t);
  const results = await e.run(['ahead_throws', 'fine']);
  t.same(
    results.map((r) => r.outcome.status),
    ['supported', 'supported'],
  );
});

t.test('after the engine closes no runner or helper is left among our children', async (t) => {
  const before = new Set(ownChildren());
  const e = new ProbeEngine({ probeModule: faultProbes, probeTimeoutMs: 500, keepWarm: true });
  await e.run(['fine', 'kills_runner', 'hangs', 'fine']);
  await e.close();
  const left = ownChildren().filter((pid) => !before.has(pid));
  t.same(left, []);
});

t.test('a runner inherits the loader options of its engine but never an -e script', async (t) => {
  t.same(
    runnerExecArgv([
      '--import',
      'tsx',
      '-e',
      'startEngine()',
      '--enable-source-maps',
      '--import=x.mjs',
      '--max-old-space-size=64',
      '-p',
      '1',
      '-r',
      'hook',
    ]),
    ['--import', 'tsx', '--enable-source-maps', '--import=x.mjs', '-r', 'hook'],
  );
});

/** Run the fixture probe that reports its process and environment. */
async function describeRunner(
  t: Test,
  e: ProbeEngine,
): Promise<{ pid: number; extraCaCerts: string | null; mark: string | null }> {
  const [result] = await e.run(['describes_itself']);
  t.equal(result.outcome.status, 'supported');
  return JSON.parse(result.outcome.message) as { pid: number; extraCaCerts: string | null; mark: string | null };
}

t.test(
  'a runner gets the environment without NODE_EXTRA_CA_CERTS, which only slows its start (it makes no TLS connection)',
  async (t) => {
    const saved = { certs: process.env.NODE_EXTRA_CA_CERTS, mark: process.env.CRIU_READINESS_TEST_MARK };
    process.env.NODE_EXTRA_CA_CERTS = '/etc/ssl/certs/ca-certificates.crt';
    process.env.CRIU_READINESS_TEST_MARK = 'kept';
    t.teardown(() => {
      for (const [name, value] of [
        ['NODE_EXTRA_CA_CERTS', saved.certs],
        ['CRIU_READINESS_TEST_MARK', saved.mark],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    const seen = await describeRunner(t, engine(t));
    t.equal(seen.extraCaCerts, null, 'not inherited');
    t.equal(seen.mark, 'kept', 'the rest is');
  },
);

t.test('a runner started by the caller before the engine existed is the one the first run uses', async (t) => {
  const early = spawnRunner(undefined, faultProbes);
  const e = engine(t);
  e.prestart(early);
  t.equal((await describeRunner(t, e)).pid, early.child.pid);
});

t.test("a run on the runner started ahead is picked from its table, each probe's name with its category", async (t) => {
  const e = new ProbeEngine();
  t.teardown(() => e.close());
  t.equal(await e.runPrestarted(() => true), undefined, 'none started ahead');
  e.prestart();
  const { CATALOGUE } = await import('../src/catalogue.js');
  const shown: { name: string; category: string }[] = [];
  const early = await e.runPrestarted((probe) => {
    shown.push(probe);
    return probe.name === 'kcmp';
  });
  t.same(
    shown,
    CATALOGUE.map((f) => ({ name: f.name, category: f.category })),
  );
  t.same(early?.names, ['kcmp']);
  t.match(await early?.results, [{ name: 'kcmp' }]);
});

t.test('the results of an early run are taken only for the very names it ran', async (t) => {
  const e = engine(t);
  e.prestart();
  const early = await e.runPrestarted((probe) => probe.name === 'fine');
  t.equal(e.resultsOf(['fine'], early), early?.results, 'the same names: that run');
  const other = await e.resultsOf(['also_fine'], early);
  t.match(other, [{ name: 'also_fine', outcome: { status: 'supported' } }], 'others: a run of their own');
});

t.test('a runner handed to an engine that already has one is killed, not left behind', async (t) => {
  const e = engine(t, { keepWarm: true });
  e.prestart();
  const spare = spawnRunner(undefined, faultProbes);
  const exited = new Promise((resolve) => spare.child.once('exit', (_code, signal) => resolve(signal)));
  e.prestart(spare);
  t.equal(await exited, 'SIGKILL');
  t.not((await describeRunner(t, e)).pid, spare.child.pid);
});

t.test(
  'killRunners ends a run under way long before its time limits, its probe unknown, and names the runner it killed',
  async (t) => {
    const e = engine(t, { keepWarm: true, probeTimeoutMs: 600_000, runTimeoutMs: 600_000 });
    const { pid } = await describeRunner(t, e);
    let settled = false;
    const running = e.run(['hangs']).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const killed: number[] = [];
    // A runner the kill reaches before it took the probe hands it to a new one, which the next call kills.
    while (!settled) {
      killed.push(...e.killRunners());
      await Promise.race([running, new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    const [result] = await running;
    // Crashed when the kill found it probing; no runner when a replacement was killed before it started.
    t.match(result.outcome, { status: 'unknown', reason: /^(ProbeCrashed|RunnerUnavailable)$/ });
    t.equal(killed[0], pid, 'the warm runner that had the run');
    t.same(e.killRunners(), [], 'no runner left to kill');
  },
);

t.test(
  'a warm runner stopped while idle (SIGSTOP) is replaced after the probe timeout, not left to hold the run to its deadline',
  async (t) => {
    const e = engine(t, { keepWarm: true, probeTimeoutMs: 1_000, runTimeoutMs: 60_000 });
    const { pid } = await describeRunner(t, e);
    process.kill(pid, 'SIGSTOP');
    const results = await e.run(['fine', 'describes_itself']);
    t.same(
      results.map((r) => `${r.name}: ${r.outcome.status}`),
      ['fine: supported', 'describes_itself: supported'],
      'every probe ran, in a new runner',
    );
    t.not(pidOf(results[1]), pid);
    t.notOk(existsSync(`/proc/${pid}`), 'the stopped runner is gone');
  },
);

t.test('a runner that cannot be spawned (EMFILE) is reported as such, not as an exit code', async (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/emfile-engine.ts', import.meta.url));
  const { stdout } = await run(process.execPath, [...TS_LOADER, fixture]);
  const [result] = JSON.parse(stdout) as ProbeResult[];
  t.match(result.outcome, {
    status: 'unknown',
    reason: 'RunnerUnavailable',
    message: /^could not start the runner: spawn .*EMFILE$/,
  });
});
