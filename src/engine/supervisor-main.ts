// The supervisor process: hosts the ProbeEngine for the service's HTTP
// process, which holds no privilege, and keeps the capabilities the probes
// need. Reads commands on its channel (fd 3) and answers each there; exits
// when the channel ends or the HTTP process dies. Built as CommonJS, like
// the runner (scripts/bundle.mjs).
//
// Its first runner starts before anything else loads here (koffi, the
// engine): that runner's Node start-up overlaps this process's loading.
import { Socket } from 'node:net';
import { DEFAULT_RUNNER, spawnRunner, type RunnerProcess } from './runner-process.js';
import { onLines } from './channel.js';
import {
  SERVICE_RUNNER_NODE_OPTIONS,
  SUPERVISOR_FD,
  SUPERVISOR_OPTIONS_ENV,
  type SupervisorAnswer,
  type SupervisorCommand,
  type SupervisorOptions,
} from './supervisor.js';

/** The runner the engine would start, started now; undefined where it cannot be (the engine then tries itself). */
function startFirstRunner(probeModule: string | undefined): RunnerProcess | undefined {
  try {
    return spawnRunner(DEFAULT_RUNNER, probeModule, SERVICE_RUNNER_NODE_OPTIONS);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const { parentPid, runFirst, ...engineOptions } = JSON.parse(
    process.env[SUPERVISOR_OPTIONS_ENV] ?? '{}',
  ) as SupervisorOptions;
  delete process.env[SUPERVISOR_OPTIONS_ENV];
  // It boots while the HTTP process re-executes and loads, and while this one loads: the first run finds it ready.
  const firstRunner = startFirstRunner(engineOptions.probeModule);
  const [libc, { PR_SET_PDEATHSIG, SIGKILL }, { ProbeEngine }] = await Promise.all([
    import('../native/libc.js'),
    import('../native/constants.js'),
    import('./engine.js'),
  ]);
  // Die with the HTTP process; if it died before this line, go now (the runner dies with us).
  libc.prctl(PR_SET_PDEATHSIG, ['long', SIGKILL]);
  if (process.ppid !== parentPid) process.exit(1);
  // The HTTP process decides when to stop: a signal sent to the whole group is not for us.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);

  const engine = new ProbeEngine({ ...engineOptions, runnerNodeOptions: SERVICE_RUNNER_NODE_OPTIONS });
  engine.prestart(firstRunner);
  // The whole table, run as soon as the runner is ready: the HTTP process's first command asks for it.
  let firstRun = runFirst ? engine.runPrestarted(() => true) : undefined;
  const run = (names: string[]) => {
    const early = firstRun;
    firstRun = undefined;
    return early ? early.then((e) => engine.resultsOf(names, e)) : engine.run(names);
  };
  const channel = new Socket({ fd: SUPERVISOR_FD, readable: true, writable: true });
  const answer = (message: SupervisorAnswer) => channel.write(JSON.stringify(message) + '\n');
  channel.on('error', () => undefined);
  onLines(channel, (line) => {
    const command = JSON.parse(line) as SupervisorCommand;
    if ('run' in command) void run(command.run).then((results) => answer({ id: command.id, results }));
    else if ('kill' in command) answer({ id: command.id, killed: engine.killRunners() });
    else void engine.close().then(() => answer({ id: command.id, closed: true }));
  });
  // The HTTP process is gone or done: nobody wants a result any more. Each
  // runner's process group goes with it (a runner also dies with us).
  channel.once('close', () => {
    engine.killRunners();
    process.exit(0);
  });
}

void main();
