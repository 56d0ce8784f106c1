// `criu-readiness serve`: settings, the listening socket, the privileged
// probe supervisor, the unprivileged HTTP process with the verdict cache,
// pino logs, and a graceful shutdown on SIGTERM, SIGINT and SIGHUP.
//
// Start-up, in order: settings are checked (exit 2); the supervisor is
// started, and boots its first runner; the socket is bound (exit 1 if the
// address is taken, before any probe, the supervisor stopped); this process
// gives up every privilege and re-executes itself (same pid); the new image
// loads serve-http.ts, which logs `starting`, installs its seccomp filter,
// checks the NFD directory (exit 2), asks for the first probe run, loads the
// rest of the HTTP side and listens on the socket it inherited.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, HelpRequested, parseSettings, serveUsage, type Settings } from '../config.js';
import { spawnSupervisor } from '../engine/supervisor.js';
import { errorMessage } from '../model.js';
import { loadCachedBundle } from '../v8-code-cache.js';
import { bindListener, execUnprivileged, takeHandover } from './privilege.js';
import { keepTickShape } from './tick-shape.js';

/** glibc's MALLOC_ARENA_MAX for the service's processes, where the environment sets none. */
export const SERVICE_MALLOC_ARENAS = '1';

/** The HTTP side as built: serve-http.ts and all it loads (fastify, zod, pino, the routes) in one CommonJS bundle. */
const HTTP_BUNDLE = fileURLToPath(new URL('./serve-http.cjs', import.meta.url));
/** The HTTP side from source (tests), named by a variable: the build does not bundle it into serve.js's files. */
const HTTP_SOURCE = './serve-http.js';

type HttpSide = typeof import('./serve-http.js');

/**
 * The HTTP side, loaded from V8's code where an earlier start of this build
 * left it (v8-code-cache.ts): its load is most of the wait for /readyz, and
 * most of that load is compiling. `writeCode` keeps the code compiled so far,
 * where there was none or V8 refused it; the service calls it once it serves
 * (the code of its first run and of its start-up), the image's build to
 * make it beforehand.
 */
export async function loadHttpSide(): Promise<{ serveUnprivileged: HttpSide['serveUnprivileged']; writeCode(): void }> {
  if (!existsSync(HTTP_BUNDLE)) {
    const side = (await import(HTTP_SOURCE)) as HttpSide;
    return { serveUnprivileged: side.serveUnprivileged, writeCode: () => undefined };
  }
  const bundle = loadCachedBundle(HTTP_BUNDLE, fileURLToPath(new URL('../..', import.meta.url)), 'http');
  const side = bundle.run() as HttpSide;
  return {
    serveUnprivileged: side.serveUnprivileged,
    writeCode: () => {
      if (!bundle.fromCache) bundle.writeCache();
    },
  };
}

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
  // The second image: only now the HTTP side, which the first image never needs.
  const { serveUnprivileged, writeCode } = await loadHttpSide();
  return serveUnprivileged(settings, handover, writeCode);
}

/**
 * The first image failed: log that it started, and why it stops (the logger
 * loaded only now: the second image, which execs in the first one's place,
 * loads its own, and the first image's time is all of the service's wait for
 * /readyz), and stop the supervisor.
 */
async function failStart(
  settings: Settings,
  supervisor: { kill(signal: NodeJS.Signals): unknown },
  fields: object,
  message: string,
): Promise<number> {
  supervisor.kill('SIGKILL');
  const { serviceLogger, logStarting } = await import('./log.js');
  const log = serviceLogger(settings);
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
    runFirst: true,
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
