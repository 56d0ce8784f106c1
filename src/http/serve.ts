// `criu-readiness serve`: settings, the listening socket, the privileged
// probe supervisor, the unprivileged HTTP process with the verdict cache,
// pino logs, and a graceful shutdown on SIGTERM, SIGINT and SIGHUP.
//
// Start-up, in order: settings are checked (exit 2); the supervisor is
// started, and boots its first runner; the socket is bound (exit 1 if the
// address is taken, before any probe, the supervisor stopped); this process
// gives up every privilege and re-executes itself (same pid); the new image
// loads the logger and logs `starting`, then (serve-http.ts) installs its
// seccomp filter, checks the NFD directory (exit 2), asks for the first probe
// run, loads the HTTP side and listens on the socket it inherited.
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import { ConfigError, HelpRequested, parseSettings, serveUsage, type Settings } from '../config.js';
import { spawnSupervisor } from '../engine/supervisor.js';
import { errorMessage } from '../model.js';
import { version } from '../version.js';
import { bindListener, execUnprivileged, takeHandover } from './privilege.js';
import { keepTickShape } from './tick-shape.js';

/** glibc's MALLOC_ARENA_MAX for the service's processes, where the environment sets none. */
export const SERVICE_MALLOC_ARENAS = '1';

function settingsFrom(args: readonly string[]): Settings | number {
  try {
    return parseSettings(args);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(serveUsage());
      return 0;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

export async function serve(args: string[]): Promise<number> {
  const settings = settingsFrom(args);
  if (typeof settings === 'number') return settings;
  const handover = takeHandover();
  if (!handover) return startPrivileged(settings);
  // Before the HTTP side loads, with the collections its loading brings: see tick-shape.ts.
  keepTickShape();
  // The second image: only now the HTTP side's modules (fastify, the routes), which the first image never needs.
  const { serveUnprivileged } = await import('./serve-http.js');
  const log = await logger(settings);
  logStarting(log, settings);
  return serveUnprivileged(settings, handover, log);
}

/**
 * The service's logger. The first image loads it only to say why it failed:
 * the second image, which execs in its place, would load it again, and the
 * first image's time is the whole service's wait for /readyz.
 */
async function logger(settings: Settings): Promise<Logger> {
  // The default export: a bundle's split chunk of a CommonJS package has no other.
  const { default: pino } = await import('pino');
  return pino({ level: settings.logLevel, base: { pid: process.pid } });
}

/** The service's first line: the same pid and Node options in both images, so the heap's limit reads the same. */
function logStarting(log: Logger, settings: Settings): void {
  // The heap's limit says whether the service runs with its Node options (package.json's config.serviceNodeOptions).
  log.info({ version, settings, heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20) }, 'starting');
}

/** Log that the first image failed, and why, and stop the supervisor. */
async function failStart(
  settings: Settings,
  supervisor: { kill(signal: NodeJS.Signals): unknown },
  fields: object,
  message: string,
): Promise<number> {
  supervisor.kill('SIGKILL');
  const log = await logger(settings);
  logStarting(log, settings);
  log.error(fields, message);
  process.stderr.write(`Error: ${message}\n`);
  return 1;
}

/** The first image: start the supervisor, listen, give up privilege and re-execute. Returns only on failure. */
async function startPrivileged(settings: Settings): Promise<number> {
  const { host, port } = settings.listen;
  // One malloc arena for each of the service's processes (the supervisor, its
  // runners, and this process's next image), unless the environment says
  // otherwise: by default each thread that allocates (V8's compiler and GC
  // helpers) grows an arena of its own under load and keeps it.
  process.env.MALLOC_ARENA_MAX ??= SERVICE_MALLOC_ARENAS;
  // First, so that its runner boots while this process binds and re-executes.
  const supervisor = spawnSupervisor({
    keepWarm: settings.keepRunner,
    probeTimeoutMs: settings.probeTimeoutMs,
    runTimeoutMs: settings.runTimeoutMs,
  });
  supervisor.once('error', () => undefined);
  let listener: Awaited<ReturnType<typeof bindListener>>;
  try {
    listener = await bindListener(settings.listen);
  } catch (err) {
    return failStart(settings, supervisor, { err }, `cannot listen on ${host}:${port}: ${errorMessage(err)}`);
  }
  // From here to the exec nothing waits for the event loop: a connection
  // stays queued in the socket for the next image to accept.
  const { failures, error } = execUnprivileged(listener.fd, supervisor);
  listener.server.close();
  return failStart(settings, supervisor, { failures }, `cannot start the unprivileged HTTP process: ${error}`);
}
