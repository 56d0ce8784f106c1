// bin/criu-readiness, the command as installed: for `check` it starts the
// probe runner beside the CLI, which takes it; it leaves no runner behind,
// whether the runner is used, not needed, or its CLI is killed.
import t from 'tap';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const launcher = fileURLToPath(new URL('../bin/criu-readiness', import.meta.url));
const builtCli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const notBuilt = !existsSync(builtCli) && 'dist/cli.js is not built (npm test builds it first)';
const noStrace =
  spawnSync('strace', ['-V']).status !== 0 && 'strace is not installed (scripts/install-test-deps.sh installs it)';

/** The launcher finds `node` on PATH, as the installed command does: this test's Node first. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
let marks = 0;

/** An environment whose mark every process started with it carries (helper programs get none). */
function marked(): { env: NodeJS.ProcessEnv; mark: string } {
  const mark = `launcher-test-${process.pid}-${++marks}`;
  return { env: { ...process.env, PATH, CRIU_READINESS_TEST_MARK: mark }, mark };
}

/** Pids of the processes carrying `mark`, with their command lines. */
function carrying(mark: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').includes(`CRIU_READINESS_TEST_MARK=${mark}\0`)) continue;
      found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'latin1') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function noneLeft(mark: string, withinMs: number): Promise<{ pid: number; cmdline: string }[]> {
  const deadline = Date.now() + withinMs;
  let left = carrying(mark);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = carrying(mark);
  }
  return left;
}

t.test("the launcher's check answers as the CLI's own", { skip: notBuilt }, async (t) => {
  const { env } = marked();
  const launched = await run(launcher, ['check', '--feature', 'proc_stat'], { env });
  const direct = await run(process.execPath, [builtCli, 'check', '--feature', 'proc_stat'], { env });
  t.equal(launched.stdout, 'proc_stat is supported\n');
  t.equal(launched.stdout, direct.stdout);
});

t.test(
  'a check through the launcher starts one runner, the one the launcher started',
  { skip: notBuilt || noStrace },
  async (t) => {
    const { env } = marked();
    // (Traced, the probes that ptrace cannot: the verdict is not this test's concern.)
    const traced = spawnSync(
      'strace',
      ['-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-e', 'signal=none', launcher, 'check'],
      { env, encoding: 'utf8' },
    );
    const runners = traced.stderr.split('\n').filter((l) => /execve\(.*runner-start\.cjs/.test(l) && !/ENOENT/.test(l));
    t.equal(runners.length, 1, runners.join('\n'));
  },
);

t.test('a check that runs no probe (--help) leaves no runner behind', { skip: notBuilt }, async (t) => {
  const { env, mark } = marked();
  const { stdout } = await run(launcher, ['check', '--help'], { env });
  t.match(stdout, /Usage:/);
  t.same(await noneLeft(mark, 5_000), []);
});

t.test('the runner of a launched check that is killed does not outlive it', { skip: notBuilt }, async (t) => {
  const { env, mark } = marked();
  const cli = spawn(launcher, ['check', '--all'], { env, stdio: 'ignore' });
  const exited = new Promise((resolve) => cli.once('exit', resolve));
  // Killed once its runner is up (or the check is over first, which kills nothing).
  const deadline = Date.now() + 10_000;
  while (!carrying(mark).some((p) => p.cmdline.includes('runner-start.cjs')) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 2));
  cli.kill('SIGKILL');
  await exited;
  t.same(await noneLeft(mark, 5_000), []);
});

const withRunner = fileURLToPath(new URL('../bin/with-runner', import.meta.url));

t.test('with-runner without a command says how it is used, and fails', async (t) => {
  for (const args of [[], ['node', 'runner.js'], ['node', 'runner.js', '--'], ['--', 'true']]) {
    const result = spawnSync(withRunner, args, { encoding: 'utf8' });
    t.equal(result.status, 2, JSON.stringify(args));
    t.match(result.stderr, /^usage: with-runner RUNNER\.\.\. -- COMMAND\.\.\./);
  }
});

t.test(
  'a command whose runner cannot start still answers: it starts a runner of its own',
  { skip: notBuilt },
  async (t) => {
    const { env, mark } = marked();
    const { stdout } = await run(
      withRunner,
      ['/nonexistent/runner', '--', process.execPath, builtCli, 'check', '--feature', 'map_files'],
      {
        env,
      },
    );
    t.match(stdout, /^map_files is (supported|not supported|unknown)/);
    t.same(await noneLeft(mark, 5_000), []);
  },
);
