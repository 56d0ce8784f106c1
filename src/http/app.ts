// The fastify application: routes over a verdict source, problem details
// for every error, the OpenAPI document. Tests drive it with inject();
// serve.ts listens with it.
import swagger from '@fastify/swagger';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import type { VerdictSource } from '../service/source.js';
import type { Lifecycle } from './lifecycle.js';
import { answerMissingHost, clientErrorHandler, frameworkErrors, installProblemHandlers, installServerProblemHandlers } from './problem.js';
import { checkRoute } from './routes/check.js';
import { openapiRoutes, swaggerOptions } from './routes/docs.js';
import { featuresRoutes } from './routes/features.js';
import { healthRoutes } from './routes/health.js';
import { refreshRoute } from './routes/refresh.js';
import { metricsRoute } from './routes/metrics.js';
import { statusRoute } from './routes/status.js';
import { Metrics } from '../metrics.js';
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
}

/** Limits: nothing the API takes is large, so anything large is refused early. */
export const LIMITS = {
  /** POST /refresh takes no body. */
  bodyBytes: 1024,
  /** Request line and headers (431 beyond). */
  headerBytes: 16 * 1024,
  /** Time for a whole request to arrive. */
  requestTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this (fastify's default: longer than load balancers' usual 60 s). */
  keepAliveMs: 72_000,
} as const;

/** One line per request, when the request finished, at the configured level. */
class RequestLog extends LogController {
  constructor(private readonly level: Exclude<LogLevel, 'silent'>) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
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
  return requestLog ? { loggerInstance: logger as FastifyBaseLogger, logController: new RequestLog(requestLog) } : { logger: false };
}

function listeningUrl({ address, family, port }: AddressInfo): string {
  return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
}

/**
 * The HTTP server, with what is answered before fastify routes a request:
 * a request without Host, and Connection: close while shutting down (so
 * clients open a new connection, which a replacement may take). A plain
 * function here rather than an onRequest hook: hooks cost every request.
 */
function serverFactory(lifecycle: Lifecycle): FastifyServerFactory {
  return (handler) => {
    const server = createServer({ maxHeaderSize: LIMITS.headerBytes, requireHostHeader: false }, (request, response) => {
      if (lifecycle.shuttingDown) response.setHeader('connection', 'close');
      if (answerMissingHost(request, response)) return;
      handler(request, response);
    });
    server.requestTimeout = LIMITS.requestTimeoutMs;
    server.keepAliveTimeout = LIMITS.keepAliveMs;
    installServerProblemHandlers(server);
    return server;
  };
}

export function buildApp(options: AppOptions) {
  const { source } = options;
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'silent' });
  const requestLevel = options.requestLogLevel ?? 'debug';
  // Decided once: a request line nobody would see costs nothing per request.
  const requestLog = requestLevel !== 'silent' && logger.isLevelEnabled(requestLevel) ? requestLevel : undefined;
  const lifecycle = options.lifecycle ?? { shuttingDown: false };

  const app = fastify({
    ...fastifyLogging(logger, requestLog),
    bodyLimit: LIMITS.bodyBytes,
    serverFactory: serverFactory(lifecycle),
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
      for (const address of this.addresses()) if (typeof address !== 'string') logger.info(`Server listening at ${listeningUrl(address)}`);
    });
  }
  app.addHook('preClose', async () => {
    lifecycle.shuttingDown = true;
  });

  app.register(swagger, swaggerOptions);
  app.register(checkRoute, { source });
  app.register(featuresRoutes, { source });
  app.register(refreshRoute, { source });
  app.register(healthRoutes, { source, lifecycle });
  app.register(metricsRoute, { metrics: new Metrics(source) });
  app.register(openapiRoutes);
  app.register(statusRoute, { source });
  return app;
}
