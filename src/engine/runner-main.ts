// The runner process: runs the probes the engine names, one at a time, and
// reports each start and result on the channel. It keeps no state between
// runs, so the engine may kill and replace it at any moment. Built as
// CommonJS (scripts/bundle.mjs), so no top-level await: Node 20 starts a
// CommonJS entry sooner than an ES module, and every `check` waits for a
// runner to start. Built, it is run by runner-start.ts, with V8's code from
// earlier runners.
import type { EventEmitter } from 'node:events';
import { readSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as libc from '../native/libc.js';
import { watchChildren } from '../native/children.js';
import { endAhead } from '../native/program.js';
import { PR_SET_PDEATHSIG, SIGKILL } from '../native/constants.js';
import { FIRST_CHECK_ENV, RAN_EVENT, RUNNER_PARENT_ENV, tell, tellLater, type RunCommand } from './channel.js';
import { probesForCheck } from '../check-args.js';
import { ProbeStop, errorMessage, type ProbeOutcome } from '../model.js';

interface ProbeTable {
  CATALOGUE: readonly {
    name: string;
    category?: string;
    probe: () => ProbeOutcome | Promise<ProbeOutcome>;
    ahead?: () => void;
    runsFirst?: boolean;
  }[];
}

type Probes = Map<string, () => ProbeOutcome | Promise<ProbeOutcome>>;

/**
 * The programs the run's probes will run, started now (the catalogue's
 * `ahead`). Best effort: one that cannot be started here is started, or
 * found missing, by its probe, which gives the verdict.
 */
function startAheadOf(aheads: Map<string, () => void>, names: readonly string[]): void {
  for (const name of names) {
    try {
      aheads.get(name)?.();
    } catch {
      // the probe meets the same trouble and reports it
    }
  }
}

/** Run one probe; `first`, if given, runs inside its time, after its start is told. */
async function runOne(probes: Probes, name: string, first?: () => void): Promise<void> {
  tell({ type: 'start', name });
  const started = performance.now();
  first?.();
  let outcome: ProbeOutcome;
  const probe = probes.get(name);
  try {
    outcome = probe ? await probe() : { status: 'unknown', reason: 'ProbeError', message: `no probe named ${name}` };
  } catch (err) {
    // A helper that ended the probe with a verdict; anything else thrown is the probe's own error.
    outcome =
      err instanceof ProbeStop
        ? err.outcome
        : {
            status: 'unknown',
            reason: 'ProbeError',
            message: `probe threw: ${errorMessage(err)}`,
          };
  }
  // Written with the next start, or with 'done' after endAhead: no probe's code runs before either.
  tellLater({ type: 'result', name, outcome, durationMs: performance.now() - started });
}

/** How long a read of a command waits before trying again, should the descriptor be non-blocking after all. */
const RETRY_READ_MS = 5;

/**
 * The engine's commands, one JSON line each, read from stdin with blocking
 * reads of the descriptor itself: the runner has nothing else to do while it
 * waits (its probes are synchronous). Not process.stdin: making it loads
 * Node's net and stream modules, a good part of a runner's start, and asks
 * what the descriptor is (getsockname), which a seccomp filter may refuse.
 * Ends when the engine closes stdin.
 */
function* commands(): Generator<string> {
  const chunk = Buffer.alloc(64 * 1024);
  let pending = Buffer.alloc(0);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, chunk);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINTR') continue;
      if (code === 'EAGAIN') {
        libc.sleepMs(RETRY_READ_MS);
        continue;
      }
      return;
    }
    if (n === 0) return;
    pending = Buffer.concat([pending, chunk.subarray(0, n)]);
    for (let end = pending.indexOf(10); end >= 0; end = pending.indexOf(10)) {
      yield pending.toString('utf8', 0, end);
      pending = pending.subarray(end + 1);
    }
  }
}

/** The probes of the run the CLI's arguments ask for, if the launcher gave them (FIRST_CHECK_ENV); taken once. */
function firstCheck(table: readonly { name: string; category: string }[]): string[] {
  const args = process.env[FIRST_CHECK_ENV];
  delete process.env[FIRST_CHECK_ENV];
  return args === undefined ? [] : probesForCheck(args === '' ? [] : args.split('\n'), table);
}

async function main(): Promise<never> {
  // Die with the engine: a runner must never outlive the process that started it.
  libc.prctl(PR_SET_PDEATHSIG, ['long', SIGKILL]);
  // A launched runner whose CLI ended before the line above: nobody is left to command it.
  const parent = process.env[RUNNER_PARENT_ENV];
  if (parent !== undefined && String(process.ppid) !== parent) process.exit(0);
  // A process group of its own, which the engine kills whole. A spawned runner leads one
  // already (setsid then fails, harmlessly); a launched one is started in the CLI's.
  libc.setsid();
  watchChildren({
    spawned: (pid) => tell({ type: 'spawned', pid }),
    reaped: (pid) => tellLater({ type: 'reaped', pid }),
  });
  // A literal import for the real catalogue, so that the build bundles it into this file.
  const { CATALOGUE } = (
    process.argv[2] ? await import(pathToFileURL(process.argv[2]).href) : await import('../catalogue.js')
  ) as ProbeTable;
  const probes: Probes = new Map(CATALOGUE.map((f) => [f.name, f.probe]));
  const aheads = new Map(CATALOGUE.flatMap((f) => (f.ahead ? [[f.name, f.ahead] as const] : [])));
  const runsFirst = new Set(CATALOGUE.filter((f) => f.runsFirst).map((f) => f.name));

  const table = CATALOGUE.map((f) => ({ name: f.name, category: f.category ?? '' }));
  const running = firstCheck(table);
  tell({
    type: 'ready',
    probes: table.map((f) => f.name),
    categories: table.map((f) => f.category),
    ...(running.length > 0 && { running }),
  });
  const run = async (command: RunCommand) => {
    // The engine takes the results by name, in whatever order they come.
    const order = [
      ...command.run.filter((name) => runsFirst.has(name)),
      ...command.run.filter((name) => !runsFirst.has(name)),
    ];
    // The programs start within the first probe's time: the engine bounds every moment of a run by a probe's limit.
    const [head, ...rest] = order;
    if (head !== undefined) await runOne(probes, head, () => startAheadOf(aheads, command.run));
    for (const name of rest) await runOne(probes, name);
    endAhead();
    tell({ type: 'done' });
    (process as EventEmitter).emit(RAN_EVENT, command.run);
    if (command.exitWhenDone) process.exit(0);
  };
  if (running.length > 0) await run({ run: running, exitWhenDone: true });
  for (const line of commands()) await run(JSON.parse(line) as RunCommand);
  // Told to finish: exit now. A release still under way in the background
  // (an AIO context being destroyed) holds the exit until it ends: see runsFirst.
  process.exit(0);
}

void main();
