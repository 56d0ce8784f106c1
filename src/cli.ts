#!/usr/bin/env node
// (No Node options here: any V8 flag makes Node compile its own modules
// afresh, which every `check` would wait for. The service's heap bounds are given
// where it is started: the image's ENTRYPOINT and `npm start`, from
// package.json's config.serviceNodeOptions.)
// criu-readiness: `check` answers as `criu check` does; `serve` runs the service.
// Only what every command needs is imported statically; `check` starts its
// probe runner before loading the catalogue, so the two Node start-ups overlap.
import type { TextOutput } from './service/text.js';
import type { ProbeEngine } from './engine/engine.js';

import { writeSync } from 'node:fs';
import { useCompileCache } from './compile-cache.js';
import { errorMessage } from './model.js';
import { LAUNCHED_RUNNER_ENV } from './engine/channel.js';
import { UsageError, isWanted, parseCheckArgs, runsProbes, wantedBy, type CheckArgs } from './check-args.js';

// Before anything else loads, and before any Node process is started: they inherit it.
useCompileCache();

type Catalogue = typeof import('./catalogue.js');

/** Exit codes: node-problem-detector's plugin protocol. */
const EXIT = { ok: 0, problem: 1, unknown: 2 } as const;

function usage({ CATALOGUE }: Catalogue): string {
  const wrap = (names: readonly string[]) => {
    const lines: string[] = [];
    let line = '   ';
    for (const name of names) {
      if (line.length + name.length > 76) {
        lines.push(line);
        line = '   ';
      }
      line += ` ${name}`;
    }
    return [...lines, line].join('\n');
  };
  const byCategory = (c: string) => CATALOGUE.filter((f) => f.category === c).map((f) => f.name);
  return `Usage:
  criu-readiness check [--extra | --experimental | --checkpoint | --all] [--feature NAME | list]
                       [--json | --format text|json|npd]
  criu-readiness serve [options]      (run the HTTP service; serve --help for its options)
  criu-readiness --help | --version

Checks whether this kernel can checkpoint and restore processes with CRIU,
by doing each of criu check's tests against the kernel.

Check options:
  Without options, "criu-readiness check" checks the features absolutely
  required for CRIU to work.
  --extra         also the features needed only if the process tree uses them
  --experimental  the required features and the experimental ones
  --checkpoint    can this node checkpoint a container: the required features
                  and the runtime chain (criu, OCI runtime, CRI, kubelet, disk)
  --all           required, extra, experimental and runtime features
  --feature NAME  check one feature; --feature list prints every name
  --json          print the verdicts as JSON (--format=json)
  --format npd    print one line of at most 80 characters naming the missing
                  and unknown features, for node-problem-detector
  Advisory features are always checked and reported; they never decide.

  required:
${wrap(byCategory('required'))}
  extra:
${wrap(byCategory('extra'))}
  experimental:
${wrap(byCategory('experimental'))}
  advisory:
${wrap(byCategory('advisory'))}
  runtime:
${wrap(byCategory('runtime'))}

Exit status: 0 looks good, 1 a feature is missing, 2 could not determine
(a check could not be done, or the command line was wrong).
`;
}

/** A --feature name must be one of the catalogue's. */
async function checkFeatureName(parsed: CheckArgs, { FEATURE_NAMES, findFeature }: Catalogue): Promise<void> {
  if (parsed.feature && parsed.feature !== 'list' && !findFeature(parsed.feature)) {
    const { closestName } = await import('./service/names.js');
    const closest = closestName(parsed.feature, FEATURE_NAMES);
    throw new UsageError(
      `unknown feature ` +
        `${JSON.stringify(parsed.feature)}${closest ? ` (did you mean ${closest}?)` : ''}\nValid features: ` +
        `${FEATURE_NAMES.join(', ')}`,
    );
  }
}

/**
 * Write to standard output (1) or error (2): through Node's stream, or
 * straight to the descriptor where Node could not tell what the descriptor
 * is (a refused ioctl or getsockname). Node then either throws or hands out
 * a stream that drops everything, the one kind without a `_type`.
 */
function write(fd: 1 | 2, text: string): void {
  try {
    const stream = fd === 1 ? process.stdout : process.stderr;
    if ('_type' in stream) {
      stream.write(text);
      return;
    }
  } catch {
    // written below
  }
  writeAll(fd, Buffer.from(text));
}

/** How long a write straight to a descriptor waits for a slow reader, in all. */
const DIRECT_WRITE_LIMIT_MS = 10_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * All of `bytes` to `fd`, as far as it goes: the descriptor may be
 * non-blocking (a socket the parent made), so a full buffer (EAGAIN) is
 * waited out, within a bound; any other error means nowhere is left to say
 * it, and the exit code still does.
 */
function writeAll(fd: number, bytes: Buffer): void {
  const deadline = Date.now() + DIRECT_WRITE_LIMIT_MS;
  let written = 0;
  while (written < bytes.length) {
    try {
      written += writeSync(fd, bytes, written);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) return;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

function print(text: TextOutput): void {
  for (const line of text.problems) write(2, line + '\n');
  for (const line of text.verdict) write(1, line + '\n');
}

/** How long the CLI waits, once its verdict is printed, for its runner to exit before it kills it. */
const RUNNER_EXIT_GRACE_MS = 5_000;

/**
 * Close the engine, but not for longer than the grace: a runner that does not
 * exit (a refused system call can stall its exit) is killed, and the exit code
 * stays the verdict's.
 */
async function closeBounded(engine: ProbeEngine): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), RUNNER_EXIT_GRACE_MS);
  });
  const closed = engine.close().then(
    () => 'closed' as const,
    () => 'closed' as const,
  );
  const how = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (how === 'late') engine.killRunners();
}

async function check(rest: readonly string[]): Promise<number> {
  // Start the runner first: its start-up overlaps the loading of the catalogue here.
  let engine: ProbeEngine | undefined;
  // Why no runner could be started at all (a refused clone or socketpair makes spawn throw).
  let noRunner: string | undefined;
  // Started by the launcher (bin/criu-readiness), booting since before this process.
  const launched =
    process.env[LAUNCHED_RUNNER_ENV] === undefined
      ? undefined
      : (await import('./engine/launched-runner.js')).takeLaunchedRunner();
  if (!runsProbes(rest)) launched?.child.kill('SIGKILL');
  else {
    // The process itself before the engine's code: the runner boots while this one loads.
    let runner = launched;
    try {
      runner ??= (await import('./engine/runner-process.js')).spawnRunner();
    } catch (err) {
      noRunner = `could not start the runner: ${errorMessage(err)}`;
    }
    if (runner) {
      const { ProbeEngine } = await import('./engine/engine.js');
      engine = new ProbeEngine();
      engine.prestart(runner);
    }
  }
  try {
    if (!engine && noRunner === undefined) {
      const catalogue = await import('./catalogue.js');
      if (rest.includes('--help') || rest.includes('-h')) write(1, usage(catalogue));
      else write(1, catalogue.FEATURE_NAMES.join(' ') + '\n');
      return EXIT.ok;
    }
    const args = parseCheckArgs(rest);
    const wanted = wantedBy(args);
    // A spawned runner starts after this process: the catalogue loads while it boots. A
    // launched one is ready sooner: the catalogue loads while it runs (it needs only its own table).
    const loading = launched ? undefined : import('./catalogue.js');
    // Asked for as soon as the runner is ready, from the table it reports: a launched runner is ready first.
    const early = await engine?.runPrestarted((probe) => isWanted(probe, wanted));
    const catalogue = await (loading ?? import('./catalogue.js'));
    await checkFeatureName(args, catalogue);
    const [
      { runCheck, refusedCheck },
      { evaluate, exitCode, featureExitCode },
      { featureText, levelText, npdLine },
      { checkBody, featureBody },
    ] = await Promise.all([
      import('./service/check.js'),
      import('./service/levels.js'),
      import('./service/text.js'),
      // The service's JSON bodies: --json prints what GET /check and /features/NAME answer.
      import('./http/bodies.js'),
    ]);
    const features = catalogue.CATALOGUE.filter((f) => isWanted(f, wanted));
    const report = engine
      ? await runCheck(
          engine,
          features,
          engine.resultsOf(
            features.map((f) => f.name),
            early,
          ),
        )
      : refusedCheck(features, noRunner ?? 'no runner');

    if (args.feature) {
      const verdict = report.verdicts[0];
      if (args.format === 'json') write(1, JSON.stringify(featureBody(features[0], verdict), null, 2) + '\n');
      else if (args.format === 'npd')
        write(
          1,
          npdLine({
            missing: verdict.status === 'unsupported' ? [verdict.name] : [],
            unknown: verdict.status === 'unknown' ? [verdict.name] : [],
          }) + '\n',
        );
      else print(featureText(verdict));
      return featureExitCode(verdict);
    }
    const verdict = evaluate(report.verdicts, args.level);
    if (args.format === 'json') write(1, JSON.stringify(checkBody(verdict), null, 2) + '\n');
    // node-problem-detector reads stdout alone: the one line is all it needs.
    else if (args.format === 'npd') write(1, npdLine(verdict) + '\n');
    else print(levelText(verdict));
    return exitCode(verdict);
  } finally {
    if (engine) await closeBounded(engine);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    write(1, usage(await import('./catalogue.js')));
    return command === undefined ? EXIT.unknown : EXIT.ok;
  }
  if (command === '--version' || command === '-V') {
    const { version } = await import('./version.js');
    write(1, `${version}\n`);
    return EXIT.ok;
  }
  if (command === 'check') return check(rest);
  if (command === 'serve') {
    // Checked before the service's modules load: with too few, the loader itself fails.
    const { openFileLimit, SERVE_MIN_OPEN_FILES } = await import('./native/procfs.js');
    const openFiles = openFileLimit();
    if (openFiles !== undefined && openFiles < SERVE_MIN_OPEN_FILES) {
      process.stderr.write(
        `Error: the open file limit (ulimit -n) is ${openFiles}; serve needs at least ${SERVE_MIN_OPEN_FILES}\n`,
      );
      return EXIT.unknown;
    }
    const { serve } = await import('./http/serve.js');
    return serve(rest);
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}: use check or serve`);
}

// A reader that goes away (`check | head -1`) is no reason to crash, nor to
// change the exit code, which is the verdict's. (A stream Node cannot make
// is written around, by write().)
for (const which of ['stdout', 'stderr'] as const) {
  try {
    process[which].on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  } catch {
    // written straight to the descriptor instead
  }
}

/**
 * koffi, once loaded (the engine loads it), flushes standard output with
 * fsync at exit and, where fsync is refused (a seccomp filter), never
 * returns. Such a process ends at once, its output being written already.
 */
async function endIfExitWouldHang(code: number): Promise<void> {
  const [libc, { SYS, errno }] = await Promise.all([import('./native/libc.js'), import('./native/constants.js')]);
  if (!libc.koffiLoaded()) return;
  const probe = libc.syscall(SYS.fsync, ['int', 1]);
  if (probe.errno === errno.ENOSYS || probe.errno === errno.EPERM) libc.syscall(SYS.exit_group, ['int', code]);
}

main(process.argv.slice(2))
  .then(
    (code) => code,
    (err: unknown) => {
      if (err instanceof UsageError) write(2, `Error: ${err.message}\nRun "criu-readiness --help" for usage.\n`);
      // The message alone: what went wrong, without a stack trace for people to read.
      else write(2, `Error: ${errorMessage(err)}\n`);
      return EXIT.unknown;
    },
  )
  .then(async (code) => {
    process.exitCode = code;
    await endIfExitWouldHang(code);
    // A check is over: its runner is gone and its output written (Node writes
    // standard output and error to files, pipes and terminals synchronously).
    // Ending here spares the wait for Node to tear down what the check loaded.
    // (The service ends as it does: its logger may still be writing.)
    if (process.argv[2] === 'check') process.exit(code);
  });
