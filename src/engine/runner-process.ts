// Starting a runner process. Apart from the engine so that the CLI can start
// one before it loads anything else: the runner's Node start-up then overlaps
// everything the CLI does before its first run.
import { spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CHANNEL_ENV, CHANNEL_FD, FIRST_CHECK_ENV } from './channel.js';

// From source (tests), the TypeScript module; built, the entry that runs the CommonJS bundle
// (scripts/bundle.mjs) with V8's code from earlier runners (runner-start.ts).
const runnerFile = import.meta.url.endsWith('.ts') ? './runner-main.ts' : './runner-start.cjs';
export const DEFAULT_RUNNER = fileURLToPath(new URL(runnerFile, import.meta.url));

/**
 * The Node options a runner inherits: only those that load code the way this
 * process was loaded (a TypeScript loader in tests, coverage hooks). Never
 * -e/-p and their script, which would make every runner start an engine.
 */
const INHERITED_OPTIONS = /^--(import|require|loader|experimental-loader|enable-source-maps|conditions)\b/;

export function runnerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    if (!INHERITED_OPTIONS.test(arg) && arg !== '-r') continue;
    kept.push(arg);
    const takesValue = !arg.includes('=') && arg !== '--enable-source-maps';
    if (takesValue && i + 1 < execArgv.length) kept.push(execArgv[++i]);
  }
  return kept;
}

/**
 * Variables a runner does without. NODE_EXTRA_CA_CERTS: Node 20 reads and
 * parses the whole bundle at start-up, which delays every runner, and a
 * runner makes no TLS connection. FIRST_CHECK_ENV: only a runner the
 * launcher starts begins a run by itself; one the engine spawns waits for it.
 */
const NOT_INHERITED = new Set(['NODE_EXTRA_CA_CERTS', FIRST_CHECK_ENV]);

/** This process's environment as a runner gets it: without what it does not need, with its channel. */
function runnerEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = Object.fromEntries(Object.entries(env).filter(([name]) => !NOT_INHERITED.has(name)));
  return { ...kept, [CHANNEL_ENV]: String(CHANNEL_FD) };
}

/**
 * What the engine uses of a runner process: a ChildProcess it spawned, or
 * one the launcher started (launched-runner.ts). Emits 'error' (could not
 * start) and 'close' (exited, code and signal, its channel ended).
 */
export interface RunnerChild extends EventEmitter {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdin: Writable | null;
  readonly stderr: Readable | null;
  /** stdio[3] is its channel. */
  readonly stdio: readonly (Readable | Writable | null | undefined)[];
  kill(signal?: NodeJS.Signals | number): boolean;
}

export interface RunnerProcess {
  child: RunnerChild;
  /** Settles if the process could not be started at all (taken before anyone else listens). */
  startFailure: Promise<Error>;
}

/**
 * Start a runner: stdin takes commands, the channel (fd 3) carries its messages, stderr says why it died.
 * `nodeOptions` go first on its command line (the service's runners get heap bounds).
 */
export function spawnRunner(
  runnerPath = DEFAULT_RUNNER,
  probeModule?: string,
  nodeOptions: readonly string[] = [],
): RunnerProcess {
  const child = spawn(
    process.execPath,
    [...nodeOptions, ...runnerExecArgv(process.execArgv), runnerPath, ...(probeModule ? [probeModule] : [])],
    {
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
      // Its own process group, so one kill reaches the runner and every helper it started.
      detached: true,
      env: runnerEnvironment(process.env),
    },
  );
  // Listened for at once: an 'error' nobody listens for ends this process.
  const startFailure = new Promise<Error>((resolve) => child.once('error', resolve));
  return { child, startFailure };
}
