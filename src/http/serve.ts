// `criu-readiness serve`: settings, the verdict cache with a warm runner,
// the HTTP app, pino logs, and a graceful shutdown on SIGTERM, SIGINT and SIGHUP.
import { getHeapStatistics } from 'node:v8';
import { pino, type Logger } from 'pino';
import { ConfigError, HelpRequested, parseSettings, serveUsage, type Settings } from '../config.js';
import { VerdictCache } from '../service/cache.js';
import { statusCounts } from '../service/check.js';
import { ProbeEngine } from '../engine/engine.js';
import { criuDisagreements, criuInfo } from '../service/criu.js';
import { writeNfdFeatures } from '../nfd.js';
import { version } from '../version.js';
import { LIMITS, buildApp } from './app.js';
import { SERVE_RESERVED_FILES, openFileLimit } from '../native/procfs.js';
import { nextSignal } from './signals.js';

/**
 * After a shutdown signal the service keeps listening this long, answering
 * with Connection: close and /readyz 503, so that clients move off their
 * keep-alive connections before the listener closes.
 */
export const DRAIN_MS = 500;
/** Then requests in flight get this long to finish, and after them the probe run. */
const SHUTDOWN_GRACE_MS = 3000;

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

/**
 * Stop the cache; a run still going after `graceMs` is cut short, and nothing
 * outlives us. The engine replaces a runner that dies for the probes left, so
 * kill until the run gives up.
 */
async function stopProbing(cache: VerdictCache, engine: ProbeEngine, logger: Logger, graceMs: number): Promise<void> {
  let done = false;
  const stopped = cache.stop().finally(() => {
    done = true;
  });
  await Promise.race([stopped, sleep(graceMs)]);
  while (!done) {
    for (const runnerPid of engine.killRunners()) logger.warn({ runnerPid }, 'killed a probe runner still busy at shutdown');
    await Promise.race([stopped, sleep(100)]);
  }
}

/** Connections the open file limit leaves room for, besides what the process itself holds (cli.ts refuses to start with less than enough). */
function connectionCap(): number {
  const openFiles = openFileLimit() ?? Infinity;
  return Math.max(1, Math.min(LIMITS.maxConnections, openFiles - SERVE_RESERVED_FILES));
}

export async function serve(args: string[]): Promise<number> {
  const settings = settingsFrom(args);
  if (typeof settings === 'number') return settings;

  const logger = pino({ level: settings.logLevel, base: { pid: process.pid } });
  const signal = nextSignal();
  const engine = new ProbeEngine({ keepWarm: true, probeTimeoutMs: settings.probeTimeoutMs, runTimeoutMs: settings.runTimeoutMs });
  const cache = new VerdictCache({ engine, intervalMs: settings.refreshIntervalMs, minRefreshIntervalMs: settings.minRefreshIntervalMs, logger });
  cache.on('refreshed', (report, result) => {
    logger.info({ result, ...statusCounts(report.verdicts), durationMs: Math.round(report.durationMs), kconfigSource: report.kconfigSource, criu: criuInfo(report.verdicts) }, 'probe run finished');
    for (const d of criuDisagreements(report.verdicts)) logger.warn({ feature: d.feature, ours: d.ours, criu: d.criu, criuSays: d.message }, "criu's own verdict differs from ours");
  });
  // Writes one after another, so an older report never lands after a newer one.
  let nfdWrites = Promise.resolve();
  const nfdFile = settings.nfdFeaturesFile;
  if (nfdFile) {
    // NFD drops the labels after three missed refreshes: a dead pod's verdicts do not stay forever.
    const ttlMs = 3 * settings.refreshIntervalMs;
    cache.on('refreshed', (report) => {
      nfdWrites = nfdWrites.then(() => writeNfdFeatures(nfdFile, report, { ttlMs })).catch((err: unknown) => logger.error({ err, nfdFile }, 'cannot write the NFD feature file'));
    });
  }

  const lifecycle = { shuttingDown: false };
  const app = buildApp({ source: cache, logger, requestLogLevel: settings.requestLogLevel, lifecycle, allowedHosts: settings.allowedHosts, bounds: { maxConnections: connectionCap() } });
  // The heap's limit says whether the service runs with its Node options (package.json's config.serviceNodeOptions).
  logger.info({ version, settings, heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20) }, 'starting');
  // The first run starts now; /readyz answers 503 until it has finished.
  void cache.start();
  try {
    await app.listen({ host: settings.listen.host, port: settings.listen.port });
  } catch (err) {
    logger.error({ err }, `cannot listen on ${settings.listen.host}:${settings.listen.port}`);
    process.stderr.write(`Error: cannot listen on ${settings.listen.host}:${settings.listen.port}: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopProbing(cache, engine, logger, 0);
    return 1;
  }

  logger.info({ signal: await signal }, 'shutting down');
  lifecycle.shuttingDown = true;
  await sleep(DRAIN_MS);
  // No new connections from here; idle ones close, requests in flight finish.
  const forceClose = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
  await app.close();
  clearTimeout(forceClose);
  await stopProbing(cache, engine, logger, SHUTDOWN_GRACE_MS);
  await nfdWrites;
  logger.info('stopped');
  return 0;
}
