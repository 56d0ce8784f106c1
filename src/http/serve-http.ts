// The service's second image: no privilege, HTTP over the supervisor's
// verdicts (serve.ts starts the first). The first probe run is asked for
// before the HTTP side's modules load (fastify, zod, the routes), so the
// supervisor's runner probes while this process is still starting.
import { Socket } from 'node:net';
import type { Settings } from '../config.js';
import { errorMessage } from '../model.js';
import { readCacheKey, VerdictCache } from '../service/cache.js';
import { statusCounts } from '../service/check.js';
import { SupervisedEngine } from '../engine/supervisor.js';
import * as libc from '../native/libc.js';
import { SERVE_RESERVED_FILES, openFileLimit } from '../native/procfs.js';
import { prepareNfdDirectory, writeNfdFeatures } from '../nfd.js';
import { criuInfo, logCriuDisagreements } from '../service/criu.js';
import { logStarting, serviceLogger } from './log.js';
import { confineHttpProcess, threadPrivileges, type Handover } from './privilege.js';
import { nextSignal } from './signals.js';

/**
 * After a shutdown signal the service keeps listening this long, answering
 * with Connection: close and /readyz 503, so that clients move off their
 * keep-alive connections before the listener closes.
 */
export const DRAIN_MS = 500;
/** Then requests in flight get this long to finish, and after them the probe run. */
const SHUTDOWN_GRACE_MS = 3000;
/** How long a supervisor that ended its channel may take to exit before it is left unreaped. */
const SUPERVISOR_EXIT_WAIT_MS = 2000;
/**
 * The host given to fastify with the inherited socket: unused with a
 * descriptor, but 'localhost' would make fastify bind a second address.
 */
const INHERITED_SOCKET_HOST = '0.0.0.0';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Connections the open file limit leaves room for, besides what the process itself holds (cli.ts refuses to start with
 * less than enough).
 */
function connectionCap(maxConnections: number): number {
  const openFiles = openFileLimit() ?? Infinity;
  return Math.max(1, Math.min(maxConnections, openFiles - SERVE_RESERVED_FILES));
}

/** Reap the supervisor, now that its channel is closed: how it ended, or undefined if it has not yet. */
function reapSupervisor(pid: number): string | undefined {
  const state = libc.waitWithDeadline(pid, 0, SUPERVISOR_EXIT_WAIT_MS);
  if (state.kind === 'exited') return `exit code ${state.code}`;
  if (state.kind === 'killed') return `signal ${state.signal}`;
  return undefined;
}

/**
 * The second image: no privilege; serves HTTP over the supervisor's verdicts.
 * `onServing` is called once it listens and its first run has finished.
 */
export async function serveUnprivileged(
  settings: Settings,
  handover: Handover,
  onServing: () => void = () => undefined,
): Promise<number> {
  const signal = nextSignal();
  const logger = serviceLogger(settings);
  logStarting(logger, settings);
  const refused = confineHttpProcess();
  // A kernel or runtime that refuses a filter (an older kernel, a filter of its own that forbids seccomp) still gets
  // the service.
  if (refused !== 0)
    logger.warn({ errno: refused }, 'the kernel refused the seccomp filter of the HTTP process: going on without it');
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
        `Error: invalid --nfd-features-file (CRIU_READINESS_NFD_FEATURES_FILE): ${errorMessage(err)}\n`,
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
    logCriuDisagreements(logger, report.verdicts);
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
          // prom-client loads when first needed: at the first scrape (app.ts), or here.
          void import('../metrics.js').then(
            ({ countNfdWriteError }) => countNfdWriteError(),
            (importErr: unknown) => logger.error({ err: importErr }, 'cannot count the failed NFD write'),
          );
          logger.error({ err, nfdFile }, 'cannot write the NFD feature file');
        });
    });
  }

  // The first run starts now, while the HTTP side loads; /readyz answers 503 until it has finished.
  const firstRun = cache.start();
  const { LIMITS, buildApp, connectionGuard } = await import('./app.js');
  const lifecycle = { shuttingDown: false };
  const app = buildApp({
    source: cache,
    logger,
    requestLogLevel: settings.requestLogLevel,
    lifecycle,
    allowedHosts: settings.allowedHosts,
    bounds: { maxConnections: connectionCap(LIMITS.maxConnections) },
  });
  // fastify passes its options on to net.Server.listen, which takes a descriptor (fastify's types do not say so).
  const inherited = { fd: handover.listenFd, host: INHERITED_SOCKET_HOST };
  await app.listen(inherited);
  void firstRun.then(onServing, () => undefined);

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
