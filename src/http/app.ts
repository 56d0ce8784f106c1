// The fastify application: routes over a verdict source, problem details
// for every error, the OpenAPI document. Tests drive it with inject();
// serve.ts listens with it.
import type { AddressInfo } from 'node:net';
import fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
} from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import type { VerdictSource } from '../service/source.js';
import type { Lifecycle } from './lifecycle.js';
import { HostAllowList, crossOrigin, defaultAllowedHosts } from './hosts.js';
import { ConnectionGuard, type ConnectionBounds } from './limits.js';
import { http } from './node-http.js';
import {
  answerCrossOrigin,
  answerMisdirected,
  answerMissingHost,
  answerOverloaded,
  answerUnknownTransferEncoding,
  clientErrorHandler,
  frameworkErrors,
  installProblemHandlers,
  installServerProblemHandlers,
  refuseConnection,
} from './problem.js';
import { withAnswersBeforeRouting } from './schemas.js';
import { checkRoute } from './routes/check.js';
import { openapiRoutes, swaggerOptions, swaggerPlugin, type DocumentSource } from './routes/docs.js';
import { featuresRoutes } from './routes/features.js';
import { healthRoutes } from './routes/health.js';
import { refreshRoute } from './routes/refresh.js';
import { metricsRoute } from './routes/metrics.js';
import { statusRoute } from './routes/status.js';
import type { Metrics } from '../metrics.js';
import { rememberingValidatorCompiler } from './validation.js';

export interface AppOptions {
  /** Where the verdicts come from: the verdict cache, or fixed verdicts in tests. */
  source: VerdictSource;
  /** The service's logger; without one, a pino logger at `logLevel` (default silent). */
  logger?: Logger;
  logLevel?: LogLevel;
  /** The level of the one line logged per request (default debug; silent for none). */
  requestLogLevel?: LogLevel;
  /** Set by the owner when shutting down: /readyz turns 503 and every answer closes its connection. */
  lifecycle?: Lifecycle;
  /** Host names answered besides the defaults (defaultAllowedHosts); `*` for any. */
  allowedHosts?: readonly string[];
  /** Connection bounds other than LIMITS' (tests; the file descriptor limit). */
  bounds?: Partial<ConnectionBounds>;
  /** The OpenAPI document served: the committed one (default), or made from the routes (scripts/openapi.ts). */
  document?: DocumentSource;
}

/** Limits: nothing the API takes is large, so anything large is refused early. */
export const LIMITS = {
  /** POST /refresh takes no body. */
  bodyBytes: 1024,
  /** Request line and headers (431 beyond). */
  headerBytes: 16 * 1024,
  /** Time for a whole request, body included, to arrive (408 after). */
  requestTimeoutMs: 10_000,
  /** Time for the request line and headers to arrive. */
  headersTimeoutMs: 10_000,
  /** How often Node checks those two: its default (30 s) would let a request trickle in for 40 s. */
  timeoutCheckMs: 1000,
  /** An idle keep-alive connection is closed after this (fastify's default: longer than load balancers' usual 60 s). */
  keepAliveMs: 72_000,
  /** Open connections; the oldest idle one makes way for a new one. Also bounded by the file descriptor limit. */
  maxConnections: 1000,
  /** Pipelined requests on one connection waiting for their answers (more closes the connection). */
  maxPipelined: 16,
  /** Requests waiting for their answers in all. */
  maxInFlight: 256,
  /** An answer the client does not read for this long closes its connection. */
  stalledWriteMs: 10_000,
} as const;

/** One line per request, when the request finished, at the configured level. */
class RequestLog extends LogController {
  constructor(private readonly level: Exclude<LogLevel, 'silent'>) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error)
      reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log[this.level]({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/**
 * fastify's logger costs every request a child logger and two response
 * listeners, which shows in cached /check throughput, so fastify gets one
 * only when requests are logged. Errors go to the service's logger either
 * way (problem.ts), and so does the listening line.
 */
function fastifyLogging(logger: Logger, requestLog: Exclude<LogLevel, 'silent'> | undefined) {
  return requestLog
    ? { loggerInstance: logger as FastifyBaseLogger, logController: new RequestLog(requestLog) }
    : { logger: false };
}

function listeningUrl({ address, family, port }: AddressInfo): string {
  return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
}

/**
 * The HTTP server, with what is answered before fastify routes a request:
 * the connection bounds (limits.ts), a request without Host or with a Host
 * not allowed, a browser's cross-site POST, a transfer coding other than
 * chunked, and Connection: close while shutting down (so clients open a new
 * connection, which a replacement may take). A plain function here rather
 * than an onRequest hook: hooks cost every request.
 */
function serverFactory(lifecycle: Lifecycle, hosts: HostAllowList, bounds: ConnectionBounds): FastifyServerFactory {
  return (handler) => {
    let guard: ConnectionGuard | undefined;
    const server = http.createServer(
      {
        maxHeaderSize: LIMITS.headerBytes,
        requireHostHeader: false,
        requestTimeout: LIMITS.requestTimeoutMs,
        headersTimeout: LIMITS.headersTimeoutMs,
        connectionsCheckingInterval: LIMITS.timeoutCheckMs,
        keepAliveTimeout: LIMITS.keepAliveMs,
      },
      (request, response) => {
        const admission = guard?.admit(request, response) ?? 'route';
        if (admission === 'closed') return;
        if (admission === 'overloaded') return answerOverloaded(request, response);
        if (lifecycle.shuttingDown) response.setHeader('connection', 'close');
        if (answerMissingHost(request, response) || answerUnknownTransferEncoding(request, response)) return;
        const host = request.headers.host;
        if (host !== undefined && !hosts.allows(host)) return answerMisdirected(request, response);
        if (request.method === 'POST' && crossOrigin(request.headers)) return answerCrossOrigin(request, response);
        handler(request, response);
      },
    );
    guard = new ConnectionGuard(server, bounds, refuseConnection);
    connectionGuards.set(server, guard);
    // Node's server.close() (and fastify's) closes idle connections by destroying them, which drops an
    // answer still being written; the guard's way ends them after what was written.
    const closeIdle = guard.closeIdle.bind(guard);
    server.closeIdleConnections = closeIdle;
    installServerProblemHandlers(server);
    return server;
  };
}

const connectionGuards = new WeakMap<object, ConnectionGuard>();

/** The connection guard of an app's server: what it has counted, and its idle close. */
export function connectionGuard(server: object): ConnectionGuard | undefined {
  return connectionGuards.get(server);
}

export function buildApp(options: AppOptions) {
  const { source } = options;
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'silent' });
  const requestLevel = options.requestLogLevel ?? 'debug';
  // Decided once: a request line nobody would see costs nothing per request.
  const requestLog = requestLevel !== 'silent' && logger.isLevelEnabled(requestLevel) ? requestLevel : undefined;
  const lifecycle = options.lifecycle ?? { shuttingDown: false };
  const hosts = new HostAllowList([...defaultAllowedHosts(), ...(options.allowedHosts ?? [])]);
  const bounds: ConnectionBounds = {
    maxConnections: LIMITS.maxConnections,
    maxPipelined: LIMITS.maxPipelined,
    maxInFlight: LIMITS.maxInFlight,
    stalledWriteMs: LIMITS.stalledWriteMs,
    ...options.bounds,
  };

  const app = fastify({
    ...fastifyLogging(logger, requestLog),
    bodyLimit: LIMITS.bodyBytes,
    serverFactory: serverFactory(lifecycle, hosts, bounds),
    routerOptions: { ignoreTrailingSlash: true },
    // While closing, requests on open connections still get real answers
    // (and Connection: close), rather than fastify's bare 503.
    return503OnClosing: false,
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(rememberingValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandlers(app, logger);
  if (!requestLog) {
    app.addHook('onListen', function () {
      for (const address of this.addresses())
        if (typeof address !== 'string') logger.info(`Server listening at ${listeningUrl(address)}`);
    });
  }
  app.addHook('preClose', async () => {
    lifecycle.shuttingDown = true;
  });

  const document = options.document ?? 'committed';
  if (document === 'routes') {
    // Only to make the document: every operation documents what the server answers before routing it, and
    // @fastify/swagger watches every route registered after it.
    app.addHook('onRoute', (route) => {
      const schema = route.schema as { response?: Parameters<typeof withAnswersBeforeRouting>[0] } | undefined;
      if (schema?.response) schema.response = withAnswersBeforeRouting(schema.response, [route.method].flat());
    });
    app.register(swaggerPlugin(), swaggerOptions);
  }
  app.register(checkRoute, { source });
  app.register(featuresRoutes, { source });
  app.register(refreshRoute, { source });
  app.register(healthRoutes, { source, lifecycle });
  // Made at the first scrape, not during start-up, which /readyz waits for; they count the runs before them.
  let metrics: Promise<Metrics> | undefined;
  const loadMetrics = () =>
    (metrics ??= import('../metrics.js')
      .then((m) => new m.Metrics(source))
      .catch((err: unknown) => {
        // That scrape fails; the next one tries again.
        metrics = undefined;
        throw err;
      }));
  app.register(metricsRoute, { metrics: loadMetrics });
  app.register(openapiRoutes, { from: document, logger });
  app.register(statusRoute, { source });
  return app;
}
