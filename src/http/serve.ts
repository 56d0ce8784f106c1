// `criu-readiness serve`: settings, the listening socket, the privileged
// probe supervisor, the unprivileged HTTP process with the verdict cache,
// pino logs, and a graceful shutdown on SIGTERM, SIGINT and SIGHUP.
//
// Start-up, in order: settings are checked (exit 2); the socket is bound
// (exit 1 if the address is taken, before any probe); the supervisor is
// started; this process gives up every privilege and re-executes itself
// (same pid); the new image installs its seccomp filter, checks the NFD
// directory (exit 2), listens on the socket it inherited and starts probing.
import { Socket } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { pino, type Logger } from 'pino';
import { ConfigError, HelpRequested, parseSettings, serveUsage, type Settings } from '../config.js';
import { readCacheKey, VerdictCache } from '../service/cache.js';
import { statusCounts } from '../service/check.js';
import { SupervisedEngine, spawnSupervisor } from '../engine/supervisor.js';
import { countNfdWriteError } from '../metrics.js';
import * as libc from '../native/libc.js';
import { SERVE_RESERVED_FILES, openFileLimit } from '../native/procfs.js';
import { prepareNfdDirectory, writeNfdFeatures } from '../nfd.js';
import { criuDisagreements, criuInfo } from '../service/criu.js';
import { version } from '../version.js';
import { LIMITS, buildApp, connectionGuard } from './app.js';
import {
  bindListener,
  confineHttpProcess,
  execUnprivileged,
  takeHandover,
  threadPrivileges,
  type Handover,
} from './privilege.js';
import { nextSignal } from './signals.js';

/**
 * After a shutdown signal the service keeps listening this long, answering
 * with Connection: close and /readyz 503, so that clients move off their
 * keep-alive connections before the listener closes.
 */
export const DRAIN_MS = 500;
/** Then requests in flight get this long to finish, and after them the probe run. */
const SHUTDOWN_GRACE_MS = 3000;
/** glibc's MALLOC_ARENA_MAX for the service's processes, where the environment sets none. */
export const SERVICE_MALLOC_ARENAS = '1';
/** How long a supervisor that ended its channel may take to exit before it is left unreaped. */
const SUPERVISOR_EXIT_WAIT_MS = 2000;
/**
 * The host given to fastify with the inherited socket: unused with a
 * descriptor, but 'localhost' would make fastify bind a second address.
 */
const INHERITED_SOCKET_HOST = '0.0.0.0';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Connections the open file limit leaves room for, besides what the process itself holds (cli.ts refuses to start with
 * less than enough).
 */
function connectionCap(): number {
  const openFiles = openFileLimit() ?? Infinity;
  return Math.max(1, Math.min(LIMITS.maxConnections, openFiles - SERVE_RESERVED_FILES));
}

export async function serve(args: string[]): Promise<number> {
  const settings = settingsFrom(args);
  if (typeof settings === 'number') return settings;
  const logger = pino({ level: settings.logLevel, base: { pid: process.pid } });
  const handover = takeHandover();
  return handover ? serveUnprivileged(settings, handover, logger) : startPrivileged(settings, logger);
}

/** The first image: listen, start the supervisor, give up privilege and re-execute. Returns only on failure. */
async function startPrivileged(settings: Settings, logger: Logger): Promise<number> {
  const { host, port } = settings.listen;
  // The heap's limit says whether the service runs with its Node options (package.json's config.serviceNodeOptions).
  logger.info(
    { version, settings, heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20) },
    'starting',
  );
  let listener: Awaited<ReturnType<typeof bindListener>>;
  try {
    listener = await bindListener(settings.listen);
  } catch (err) {
    logger.error({ err }, `cannot listen on ${host}:${port}`);
    process.stderr.write(`Error: cannot listen on ${host}:${port}: ${errorMessage(err)}\n`);
    return 1;
  }
  // One malloc arena for each of the service's processes (the supervisor, its
  // runners, and this process's next image), unless the environment says
  // otherwise: by default each thread that allocates (V8's compiler and GC
  // helpers) grows an arena of its own under load and keeps it.
  process.env.MALLOC_ARENA_MAX ??= SERVICE_MALLOC_ARENAS;
  // From here to the exec nothing waits for the event loop: a connection
  // stays queued in the socket for the next image to accept.
  const supervisor = spawnSupervisor({
    keepWarm: settings.keepRunner,
    probeTimeoutMs: settings.probeTimeoutMs,
    runTimeoutMs: settings.runTimeoutMs,
  });
  supervisor.once('error', () => undefined);
  const { failures, error } = execUnprivileged(listener.fd, supervisor);
  logger.error({ failures }, `cannot start the unprivileged HTTP process: ${error}`);
  process.stderr.write(`Error: cannot start the unprivileged HTTP process: ${error}\n`);
  supervisor.kill('SIGKILL');
  listener.server.close();
  return 1;
}

/** Reap the supervisor, now that its channel is closed: how it ended, or undefined if it has not yet. */
function reapSupervisor(pid: number): string | undefined {
  const state = libc.waitWithDeadline(pid, 0, SUPERVISOR_EXIT_WAIT_MS);
  if (state.kind === 'exited') return `exit code ${state.code}`;
  if (state.kind === 'killed') return `signal ${state.signal}`;
  return undefined;
}

/** The second image: no privilege; serves HTTP over the supervisor's verdicts. */
async function serveUnprivileged(settings: Settings, handover: Handover, logger: Logger): Promise<number> {
  const signal = nextSignal();
  const refused = confineHttpProcess();
  // A kernel or runtime that refuses a filter (an older kernel, a filter of its own that forbids seccomp) still gets
  // the service.
  if (refused !== 0)
    logger.warn(
      { errno: refused },
      'the kernel refused the seccomp filter of the HTTP process: going on ' + 'without it',
    );
  logger.info(
    { supervisorPid: handover.supervisorPid, privileges: threadPrivileges() },
    'serving HTTP without privilege; probes run in the supervisor',
  );

  const nfdFile = settings.nfdFeaturesFile;
  if (nfdFile) {
    try {
      await prepareNfdDirectory(nfdFile);
    } catch (err) {
      logger.error({ err }, errorMessage(err));
      process.stderr.write(
        `Error: invalid --nfd-features-file (CRIU_READINESS_NFD_FEATURES_FILE): ` + `${errorMessage(err)}\n`,
      );
      return 2;
    }
  }

  const engine = new SupervisedEngine(
    new Socket({ fd: handover.supervisorFd, readable: true, writable: true }),
    handover.supervisorPid,
  );
  const supervisorGone = new Promise<string>((resolve) => engine.once('gone', resolve));
  // The verdicts depend on the capabilities the runners get: the supervisor's, not ours.
  const keyFiles = { status: `/proc/${handover.supervisorPid}/status`, bootId: '/proc/sys/kernel/random/boot_id' };
  const cache = new VerdictCache({
    engine,
    intervalMs: settings.refreshIntervalMs,
    minRefreshIntervalMs: settings.minRefreshIntervalMs,
    logger,
    readKey: (previous) => readCacheKey(previous, keyFiles),
  });
  cache.on('refreshed', (report, result) => {
    logger.info(
      {
        result,
        ...statusCounts(report.verdicts),
        durationMs: Math.round(report.durationMs),
        kconfigSource: report.kconfigSource,
        criu: criuInfo(report.verdicts),
      },
      'probe run finished',
    );
    for (const d of criuDisagreements(report.verdicts))
      logger.warn(
        { feature: d.feature, ours: d.ours, criu: d.criu, criuSays: d.message },
        "criu's own verdict differs from ours",
      );
  });
  // Writes one after another, so an older report never lands after a newer one.
  let nfdWrites = Promise.resolve();
  if (nfdFile) {
    // NFD drops the labels after three missed refreshes: a dead pod's verdicts do not stay forever.
    const ttlMs = 3 * settings.refreshIntervalMs;
    cache.on('refreshed', (report) => {
      nfdWrites = nfdWrites
        .then(() => writeNfdFeatures(nfdFile, report, { ttlMs }))
        .catch((err: unknown) => {
          countNfdWriteError();
          logger.error({ err, nfdFile }, 'cannot write the NFD feature file');
        });
    });
  }

  const lifecycle = { shuttingDown: false };
  const app = buildApp({
    source: cache,
    logger,
    requestLogLevel: settings.requestLogLevel,
    lifecycle,
    allowedHosts: settings.allowedHosts,
    bounds: { maxConnections: connectionCap() },
  });
  // fastify passes its options on to net.Server.listen, which takes a descriptor (fastify's types do not say so).
  const inherited = { fd: handover.listenFd, host: INHERITED_SOCKET_HOST };
  await app.listen(inherited);
  // The first run starts now; /readyz answers 503 until it has finished.
  void cache.start();

  const ending = await Promise.race([
    signal.then((name) => ({ signal: name })),
    supervisorGone.then((why) => ({ why })),
  ]);
  let code = 0;
  if ('why' in ending) {
    // It cannot be restarted from here (this process holds no privilege): end, so that the pod is restarted.
    logger.error(
      { supervisorPid: handover.supervisorPid, ended: reapSupervisor(handover.supervisorPid) },
      `${ending.why}: shutting down`,
    );
    code = 1;
  } else {
    logger.info({ signal: ending.signal }, 'shutting down');
  }
  lifecycle.shuttingDown = true;
  const guard = connectionGuard(app.server);
  const unansweredBefore = guard?.snapshot().unanswered ?? 0;
  await sleep(DRAIN_MS);
  // No new connections from here; idle ones close, requests in flight finish.
  // A POST /refresh in flight waits for the run: the run gets the same grace,
  // then is cut short, so that the request is answered before its connection
  // would be closed under it.
  const forceClose = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS + DRAIN_MS);
  const probingStopped = cache.stop({
    graceMs: SHUTDOWN_GRACE_MS,
    onKilled: (runnerPid) => logger.warn({ runnerPid }, 'killed a probe runner still busy at shutdown'),
  });
  await app.close();
  clearTimeout(forceClose);
  await probingStopped;
  if (code === 0) reapSupervisor(handover.supervisorPid);
  await nfdWrites;
  const counts = guard?.snapshot();
  // Requests read but not answered in full during the shutdown (0 unless one outlasted the grace), and connections
  // taken since the start: what a client saw reset unanswered was never read if it is not counted here.
  logger.info({ unanswered: (counts?.unanswered ?? 0) - unansweredBefore, accepted: counts?.accepted }, 'stopped');
  return code;
}
