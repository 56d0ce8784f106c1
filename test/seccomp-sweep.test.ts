// Every system call the project issues, refused alone by a seccomp filter
// with ENOSYS and with EPERM, under `check --all --json` started as a user's
// launcher would start it: a refusal is never a false verdict, a crash or a
// hang.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SYS, errno as E } from '../src/native/constants.js';
import type { Verdict } from '../src/model.js';
import { program } from '../src/native/seccomp.js';
import { runAll, runOnce, OUR_FRAME, STACK_FRAME, RUN_BOUND_MS, type SweepRun } from './helpers/sweep.js';
import { LIBC_SYSCALLS, NOT_SWEPT, RUNTIME_SYSCALLS, SYSCALL_NUMBERS } from './helpers/syscall-table.js';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const launcher = fileURLToPath(new URL('./fixtures/seccomp-exec.mjs', import.meta.url));
const libcSource = readFileSync(fileURLToPath(new URL('../src/native/libc.ts', import.meta.url)), 'utf8');
// Hundreds of runs of the CLI: far more than one file's default time.
t.setTimeout(30 * 60_000);

const notBuilt = !existsSync(built) && 'dist/cli.js is not built (npm test builds it first)';

/** The C functions libc.ts binds, by their definitions' names. */
const boundFunctions = [...libcSource.matchAll(/(?:bind|libcFunction)\(\s*'[^'(]*?\b(\w+)\(/g)].map((m) => m[1]);

t.test("every C function libc.ts binds has its system calls in the sweep's table", async (t) => {
  t.ok(boundFunctions.length > 20, 'the bindings are found');
  t.same(
    boundFunctions.filter((name) => !(name in LIBC_SYSCALLS)),
    [],
  );
});

const swept = [
  ...new Set([
    ...Object.keys(SYS),
    ...boundFunctions.flatMap((name) => LIBC_SYSCALLS[name] ?? []),
    ...RUNTIME_SYSCALLS,
  ]),
]
  .filter((name) => !NOT_SWEPT.includes(name))
  .sort();

t.test('every swept system call has a number', async (t) => {
  t.same(
    swept.filter((name) => SYSCALL_NUMBERS[name] === undefined),
    [],
  );
  t.ok(swept.length >= 64, `${swept.length} calls`);
});

/** A few at a time: each run starts three Node processes. */
const WIDTH = 4;
const CHECK = ['check', '--all', '--json'];

function underFilter(nr: number, errno: 'ENOSYS' | 'EPERM', label: string): Promise<SweepRun> {
  const filter = program([{ nr, errno: E[errno] }]).toString('hex');
  return runOnce(label, process.execPath, [launcher, filter, process.execPath, built, ...CHECK]);
}

const namesSeccomp = (v: Verdict) => /seccomp/i.test(v.message) || /seccomp/i.test(v.hint);

t.test(
  'each system call refused alone, with ENOSYS and with EPERM',
  { skip: notBuilt, timeout: 40 * RUN_BOUND_MS },
  async (t) => {
    const baseline = await runOnce('no filter', process.execPath, [built, ...CHECK]);
    t.ok(baseline.verdict, 'without a filter the check prints its JSON');
    if (!baseline.verdict) return;
    const before = new Map(baseline.verdict.features.map((v) => [v.name, v]));
    // A filter that refuses nothing: what a filter alone changes (a filtered tracer cannot suspend seccomp).
    const control = await underFilter(1023, 'ENOSYS', 'empty filter');
    t.ok(control.verdict, 'under a filter refusing nothing the check prints its JSON');

    const jobs = swept.flatMap((name) =>
      (['ENOSYS', 'EPERM'] as const).map(
        (errno) => () => underFilter(SYSCALL_NUMBERS[name], errno, `${name}=${errno}`),
      ),
    );
    const runs = await runAll(jobs, WIDTH);
    const limits: string[] = [];
    for (const run of runs) {
      const problems: string[] = [];
      if (run.timedOut) problems.push(`did not end within ${RUN_BOUND_MS} ms`);
      if (OUR_FRAME.test(run.stderr)) problems.push(`printed a stack trace of ours: ${run.stderr}`);
      if (!run.verdict) {
        // Node itself could not start or run our code: no verdict, so no exit code that claims one
        // (unless Node's own start-up failed, with its own words, before any code of ours ran).
        const nodesOwn = STACK_FRAME.test(run.stderr) && !OUR_FRAME.test(run.stderr);
        if (!nodesOwn && (run.code === 0 || run.code === 1)) problems.push(`no JSON, yet exit ${run.code}`);
        limits.push(`${run.label}: ${nodesOwn ? "Node's start-up fails, " : ''}exit ${run.code ?? run.signal}`);
      } else {
        // Printed its verdict, then Node aborted inside libuv: nothing of ours runs there.
        if (run.code === null) limits.push(`${run.label}: verdict printed, then ${run.signal}`);
        else if (![0, 1, 2].includes(run.code)) problems.push(`exit code ${run.code} is not the protocol's`);
        for (const v of run.verdict.features) {
          const was = before.get(v.name);
          if (was?.status === 'supported' && v.status === 'unsupported')
            problems.push(`${v.name}: supported without the filter, unsupported under it: ${v.message}`);
          if (v.status === 'unknown' && was?.status !== 'unknown' && !namesSeccomp(v))
            problems.push(`${v.name}: unknown without naming the filter: ${v.message} | ${v.hint}`);
          if (/[\r\n]/.test(v.message) || /[\r\n]/.test(v.hint))
            problems.push(`${v.name}: message or hint spans lines`);
          // A runner ends with 0 only when told to: before its work, that is a runner that never heard its commands.
          if (v.reason === 'RunnerUnavailable' && /\(code 0\)/.test(v.message))
            problems.push(`${v.name}: the runner exited 0 unasked: ${v.message}`);
        }
      }
      t.same(problems, [], `${run.label}: ended, and answered without a false verdict`);
    }
    t.comment(`system calls swept (${swept.length}, each with ENOSYS and EPERM): ${swept.join(' ')}`);
    t.comment(`not swept: ${NOT_SWEPT.join(' ')} (the launcher's exec; calls that end a process)`);
    t.comment(
      `known limits, where Node itself cannot run (no verdict, exit code neither 0 nor 1): ${limits.join('; ') || 'none'}`,
    );
  },
);
