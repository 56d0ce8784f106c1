// The fastify application: routes over the verdict cache, problem details
// for every error, the OpenAPI document. Tests drive it with inject();
// serve.ts listens with it.
import swagger from '@fastify/swagger';
import fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import type { VerdictCache } from '../engine/cache.js';
import { clientErrorHandler, frameworkErrors, installProblemHandlers, installServerProblemHandlers, missingHost } from './problem.js';
import { checkRoute } from './routes/check.js';
import { openapiRoutes, swaggerOptions } from './routes/docs.js';
import { featuresRoutes } from './routes/features.js';
import { healthRoutes } from './routes/health.js';
import { refreshRoute } from './routes/refresh.js';
import { metricsRoute } from './routes/metrics.js';
import { Metrics } from '../metrics.js';

export interface AppOptions {
  cache: VerdictCache;
  /** The service's logger; without one, a pino logger at `logLevel` (default silent). */
  logger?: Logger;
  logLevel?: LogLevel;
  /** The level of the one line logged per request (default debug; silent for none). */
  requestLogLevel?: LogLevel;
  /** Set by the owner when shutting down: /readyz turns 503 and every answer closes its connection. */
  lifecycle?: Lifecycle;
}

export interface Lifecycle {
  shuttingDown: boolean;
}

/** Limits: nothing the API takes is large, so anything large is refused early. */
export const LIMITS = {
  /** POST /refresh takes no body. */
  bodyBytes: 1024,
  /** Request line and headers (431 beyond). */
  headerBytes: 16 * 1024,
  /** Time for a whole request to arrive. */
  requestTimeoutMs: 10_000,
} as const;

/** One line per request, when the request finished, at the configured level. */
class RequestLog extends LogController {
  constructor(private readonly level: Exclude<LogLevel, 'silent'> | undefined) {
    super({ disableRequestLogging: level === undefined });
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.level === undefined) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log[this.level]({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

export function buildApp(options: AppOptions) {
  const { cache } = options;
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'silent' });
  const requestLevel = options.requestLogLevel ?? 'debug';
  // Decided once: a request line nobody would see costs nothing per request.
  const requestLog = requestLevel !== 'silent' && logger.isLevelEnabled(requestLevel) ? requestLevel : undefined;

  const app = fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new RequestLog(requestLog),
    // A child logger per request serialises its bindings each time: only worth it when requests are logged.
    childLoggerFactory: (parent, bindings, childOptions) => (requestLog ? parent.child(bindings, childOptions) : parent),
    bodyLimit: LIMITS.bodyBytes,
    // Node's answer to a request without Host has no body: missingHost answers it instead.
    http: { maxHeaderSize: LIMITS.headerBytes, requireHostHeader: false },
    requestTimeout: LIMITS.requestTimeoutMs,
    routerOptions: { ignoreTrailingSlash: true },
    // While closing, requests on open connections still get real answers
    // (and Connection: close), rather than fastify's bare 503.
    return503OnClosing: false,
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandlers(app);
  installServerProblemHandlers(app.server);

  const lifecycle = options.lifecycle ?? { shuttingDown: false };
  app.addHook('preClose', async () => {
    lifecycle.shuttingDown = true;
  });
  // While shutting down, clients learn to open a new connection, which a replacement
  // may take, rather than reuse this one. A request without Host ends here.
  app.addHook('onRequest', (request, reply, done) => {
    if (lifecycle.shuttingDown) reply.header('connection', 'close');
    if (missingHost(request, reply)) return;
    done();
  });

  app.register(swagger, swaggerOptions);
  app.register(checkRoute, { cache });
  app.register(featuresRoutes, { cache });
  app.register(refreshRoute, { cache });
  app.register(healthRoutes, { cache, lifecycle });
  app.register(metricsRoute, { metrics: new Metrics(cache) });
  app.register(openapiRoutes);
  return app;
}

export type App = ReturnType<typeof buildApp>;
