// A runner the launcher started beside the CLI (bin/criu-readiness): the CLI
// takes it for its first run, and it is supervised as a runner the engine
// spawned. fixtures/launch.sh starts it as the launcher does, on the fault probes.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { takeLaunchedRunner } from '../src/engine/launched-runner.js';
import { FIRST_CHECK_ENV, LAUNCHED_RUNNER_ENV } from '../src/engine/channel.js';
import type { ProbeResult } from '../src/engine/engine.js';
import { TS_LOADER } from './helpers/node.js';

const run = promisify(execFile);
const launch = fileURLToPath(new URL('./fixtures/launch.sh', import.meta.url));

interface Launched {
  launched: number | null;
  /** When the CLI's side asked for the run (ms since the epoch). */
  askedAt: number;
  results: ProbeResult[];
}

async function launched(probes: string[], env: NodeJS.ProcessEnv = {}): Promise<Launched> {
  const { stdout } = await run(launch, [process.execPath, ...TS_LOADER, '--', ...probes], {
    env: { ...process.env, ...env },
  });
  return JSON.parse(stdout) as Launched;
}

/** The runner process that ran the fixture probe describes_itself, and when. */
const selfOf = (result: ProbeResult) => JSON.parse(result.outcome.message) as { pid: number; ranAt: number };
const pidOf = (result: ProbeResult) => selfOf(result).pid;

/** check's arguments for one feature, as the launcher hands them to its runner. */
const firstCheck = (feature: string) => ({ [FIRST_CHECK_ENV]: `--feature\n${feature}` });

t.test('the runner the launcher started is the one the first run uses', async (t) => {
  const { launched: pid, results } = await launched(['describes_itself', 'fine']);
  t.type(pid, 'number', 'the launched runner was taken');
  t.equal(pidOf(results[0]), pid);
  t.match(results[1].outcome, { status: 'supported' });
});

t.test(
  'a launched runner killed by a probe is reported unknown/ProbeCrashed and the rest run in a new one',
  async (t) => {
    const { launched: pid, results } = await launched(['describes_itself', 'kills_runner', 'also_describes_itself']);
    t.equal(pidOf(results[0]), pid);
    t.match(results[1].outcome, { status: 'unknown', reason: 'ProbeCrashed', message: /SIGKILL/ });
    t.not(pidOf(results[2]), pid, 'a spawned runner took over');
  },
);

t.test('what a launched runner says on stderr as it dies is the reason given', async (t) => {
  const { results } = await launched(['dies_saying_why', 'fine']);
  t.match(results[0].outcome, {
    status: 'unknown',
    reason: 'ProbeCrashed',
    message: /code 3\).*the runner gave up/,
  });
  t.match(results[1].outcome, { status: 'supported' });
});

t.test('a launched runner that hangs is killed at the probe timeout and the run goes on', async (t) => {
  const started = Date.now();
  const { launched: pid, results } = await launched(['hangs', 'fine'], { TEST_PROBE_TIMEOUT_MS: '500' });
  t.match(results[0].outcome, { status: 'unknown', reason: 'Timeout' });
  t.match(results[1].outcome, { status: 'supported' });
  t.ok(Date.now() - started < 20_000, 'cut at the probe timeout');
  t.notOk(existsSync(`/proc/${pid}`), 'the hung runner is gone');
});

t.test(
  'a launched runner begins the run its CLI asks for before the CLI asks, and the CLI takes that run',
  async (t) => {
    const {
      launched: pid,
      askedAt,
      results,
    } = await launched(['describes_itself'], {
      ...firstCheck('describes_itself'),
      TEST_ASK_AFTER_MS: '1000',
    });
    t.equal(pidOf(results[0]), pid, 'the launched runner ran it');
    t.ok(selfOf(results[0]).ranAt < askedAt, 'it ran before the CLI asked');
    t.notOk(existsSync(`/proc/${pid}`), 'the runner exited after its run');
  },
);

t.test(
  'a run a launched runner began of other probes is not taken: a runner of the CLI runs the asked ones',
  async (t) => {
    const { launched: pid, results } = await launched(['describes_itself'], firstCheck('fine'));
    t.type(pid, 'number');
    t.not(pidOf(results[0]), pid, 'a spawned runner ran it');
    t.match(results[0].outcome, { status: 'supported' });
    t.notOk(existsSync(`/proc/${pid}`), 'the launched runner is gone');
  },
);

t.test(
  'a launched runner hung in the run it began is cut at the probe timeout once the CLI takes the run',
  async (t) => {
    const { launched: pid, results } = await launched(['hangs'], {
      ...firstCheck('hangs'),
      TEST_PROBE_TIMEOUT_MS: '500',
    });
    t.match(results[0].outcome, { status: 'unknown', reason: 'Timeout' });
    t.notOk(existsSync(`/proc/${pid}`), 'the hung runner is gone');
  },
);

t.test('a variable that names no child of this process is not taken, and is removed', async (t) => {
  for (const value of [String(process.pid), '1', 'not-a-pid', '']) {
    const env: NodeJS.ProcessEnv = { [LAUNCHED_RUNNER_ENV]: value };
    t.equal(takeLaunchedRunner(env), undefined, JSON.stringify(value));
    t.notOk(LAUNCHED_RUNNER_ENV in env, 'removed, so no process started later takes it');
  }
});
