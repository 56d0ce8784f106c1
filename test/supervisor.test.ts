// The supervisor process and its engine seen from the HTTP side: runs,
// kills and close over its channel, and what a run answers once it is gone.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import {
  SERVICE_RUNNER_NODE_OPTIONS,
  SUPERVISOR_NODE_OPTIONS,
  SupervisedEngine,
  spawnSupervisor,
} from '../src/engine/supervisor.js';
import { PROBES_DIR_ENV } from './fixtures/http-probes.js';

const faultProbes = fileURLToPath(new URL('./fixtures/fault-probes.ts', import.meta.url));

function supervised(t: Test, keepWarm = false): { engine: SupervisedEngine; pid: number } {
  const child = spawnSupervisor({ probeModule: faultProbes, probeTimeoutMs: 2_000, runTimeoutMs: 60_000, keepWarm });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return { engine: new SupervisedEngine(child.stdio[3] as Socket, child.pid as number), pid: child.pid as number };
}

const runnerPid = (message: string) => (JSON.parse(message) as { pid: number }).pid;

/** A process's command line, from /proc. */
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);

t.test('a run through the supervisor gets every result, from a runner the supervisor started', async (t) => {
  const { engine, pid } = supervised(t);
  const results = await engine.run(['fine', 'describes_itself', 'throws']);
  t.same(
    results.map((r) => `${r.name}: ${r.outcome.status}`),
    ['fine: supported', 'describes_itself: supported', 'throws: unknown'],
  );
  const runner = runnerPid(results[1].outcome.message);
  t.not(runner, pid);
  await engine.close();
});

/** The children of `pid`, from /proc/PID/task/TID/children. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

t.test(
  'the supervisor starts its first runner before it is asked for a run, and the first run is served by it',
  async (t) => {
    const { engine, pid } = supervised(t);
    const deadline = Date.now() + 30_000;
    let started: number[] = [];
    while (started.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      started = childrenOf(pid);
    }
    t.equal(started.length, 1, 'one runner, unasked');
    const [result] = await engine.run(['describes_itself']);
    t.equal(runnerPid(result.outcome.message), started[0]);
    await engine.close();
  },
);

const httpProbes = fileURLToPath(new URL('./fixtures/http-probes.ts', import.meta.url));
const HTTP_TABLE = ['alpha', 'beta', 'gamma', 'delta'];

/** A supervisor over the steered probes (fixtures/http-probes.ts), their calls logged in a directory of its own. */
function steered(t: Test, runFirst: boolean): { engine: SupervisedEngine; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-supervisor-'));
  const before = process.env[PROBES_DIR_ENV];
  process.env[PROBES_DIR_ENV] = dir;
  const child = spawnSupervisor({ probeModule: httpProbes, runFirst });
  if (before === undefined) delete process.env[PROBES_DIR_ENV];
  else process.env[PROBES_DIR_ENV] = before;
  t.teardown(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const calls = () => {
    try {
      return readFileSync(join(dir, 'runs.log'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  return { engine: new SupervisedEngine(child.stdio[3] as Socket, child.pid as number), calls };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

t.test(
  'runFirst: the whole table runs before anyone asks, and a first run of the same probes is answered with it',
  async (t) => {
    const { engine, calls } = steered(t, true);
    await until(() => calls().length === HTTP_TABLE.length, 'the unasked run');
    t.same(calls(), HTTP_TABLE, 'every probe of the table, in its order');
    const results = await engine.run(HTTP_TABLE);
    t.same(
      results.map((r) => `${r.name}: ${r.outcome.status}`),
      HTTP_TABLE.map((name) => `${name}: supported`),
    );
    t.equal(calls().length, HTTP_TABLE.length, 'no probe ran again');
    await engine.run(HTTP_TABLE);
    t.equal(calls().length, 2 * HTTP_TABLE.length, 'a second run probes afresh');
    await engine.close();
  },
);

t.test('runFirst: a first run of other probes is run for what it asks', async (t) => {
  const { engine, calls } = steered(t, true);
  const results = await engine.run(['delta', 'alpha']);
  t.same(
    results.map((r) => r.name),
    ['delta', 'alpha'],
  );
  await until(() => calls().length === HTTP_TABLE.length + 2, 'both runs');
  t.same(calls().slice(-2), ['delta', 'alpha'], 'after the unasked run, the asked one');
  await engine.close();
});

t.test('without runFirst nothing runs before it is asked', async (t) => {
  const { engine, calls } = steered(t, false);
  // The runner is ready before this run's probes go to it; had it been run unasked, they would be in the log first.
  await engine.run(['beta']);
  t.same(calls(), ['beta']);
  await engine.close();
});

t.test('without keep-warm each run has a runner of its own; with it, one serves both', async (t) => {
  const cold = supervised(t).engine;
  const [a] = await cold.run(['describes_itself']);
  const [b] = await cold.run(['describes_itself']);
  t.not(runnerPid(b.outcome.message), runnerPid(a.outcome.message));
  const warm = supervised(t, true).engine;
  const [c] = await warm.run(['describes_itself']);
  const [d] = await warm.run(['describes_itself']);
  t.equal(runnerPid(d.outcome.message), runnerPid(c.outcome.message));
  await Promise.all([cold.close(), warm.close()]);
});

t.test('killRunners reaches the runner of a run under way and names it', async (t) => {
  const { engine } = supervised(t);
  const running = engine.run(['hangs']);
  let killed: number[] = [];
  while (killed.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    killed = await engine.killRunners();
  }
  // Keep killing: a replacement may take the probe before the run gives up.
  let settled = false;
  void running.finally(() => (settled = true));
  while (!settled) {
    await engine.killRunners();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [result] = await running;
  t.match(result.outcome, { status: 'unknown', reason: /^(ProbeCrashed|RunnerUnavailable)$/ });
  await engine.close();
});

t.test(
  'once the supervisor is gone, a run under way and every later run are unknown/RunnerUnavailable, saying so',
  async (t) => {
    const { engine, pid } = supervised(t);
    const gone = new Promise<string>((resolve) => engine.once('gone', resolve));
    const running = engine.run(['hangs']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    process.kill(pid, 'SIGKILL');
    t.match(await gone, new RegExp(`probe supervisor \\(pid ${pid}\\) exited`));
    const message = /probe supervisor .* exited; probes cannot run until the service is restarted/;
    t.match((await running)[0].outcome, { status: 'unknown', reason: 'RunnerUnavailable', message });
    t.match((await engine.run(['fine']))[0].outcome, { status: 'unknown', reason: 'RunnerUnavailable', message });
    t.same(await engine.killRunners(), []);
  },
);

t.test('close stops the supervisor: it exits', async (t) => {
  // Without tap's coverage for this one supervisor: the exit is what is judged, and on Node 24 the coverage hook
  // writes the supervisor's coverage at exit as one string, past its bounded heap (an abort, not its own exit).
  const covered = process.env._TAPJS_PROCESSINFO_COVERAGE_;
  process.env._TAPJS_PROCESSINFO_COVERAGE_ = '0';
  const child = spawnSupervisor({ probeModule: faultProbes, keepWarm: true });
  if (covered === undefined) delete process.env._TAPJS_PROCESSINFO_COVERAGE_;
  else process.env._TAPJS_PROCESSINFO_COVERAGE_ = covered;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const engine = new SupervisedEngine(child.stdio[3] as Socket, child.pid as number);
  await engine.run(['fine']);
  await engine.close();
  t.equal(await exited, 0);
});

t.test('the supervisor runs with a bounded heap and without V8 compiling its code', async (t) => {
  const { engine, pid } = supervised(t);
  const [node, ...options] = commandLine(pid);
  t.equal(node, process.execPath);
  t.same(options.slice(0, SUPERVISOR_NODE_OPTIONS.length), SUPERVISOR_NODE_OPTIONS, 'first, before the loader options');
  await engine.close();
});

t.test("the supervisor's runners run with a bounded heap and a small young generation", async (t) => {
  const { engine } = supervised(t);
  const [result] = await engine.run(['describes_itself']);
  const seen = JSON.parse(result.outcome.message) as { execArgv: string[]; heapLimitMiB: number };
  t.same(seen.execArgv.slice(0, SERVICE_RUNNER_NODE_OPTIONS.length), SERVICE_RUNNER_NODE_OPTIONS);
  // 64 MiB of old space and three 1 MiB semi-spaces; without the options V8 sizes it from the machine's memory.
  t.ok(seen.heapLimitMiB < 80, `heap limit ${seen.heapLimitMiB} MiB`);
  await engine.close();
});
