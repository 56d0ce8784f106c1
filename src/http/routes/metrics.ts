// GET /metrics: the Prometheus exposition, in the format the scraper asks for.
import type { FastifyPluginAsync } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../../metrics.js';
import { acceptsGzip, negotiateFormat } from '../negotiate.js';
import { MALFORMED_REQUEST, problemResponse } from '../schemas.js';

export interface MetricsRouteOptions {
  /** Called at each scrape: the metrics, which it may make on its first call. */
  metrics: () => Promise<Metrics>;
}

const exposition = z.string().describe('Prometheus exposition');

export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, { metrics }) => {
  // The response schema is zod (for the OpenAPI document); these compilers make
  // the plugin work in any fastify instance, not only in one set up for zod.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        description:
          'Every feature as criu_readiness_feature_status{feature,category,status}, ' +
          'the level verdicts as criu_readiness_ready{level}, check timings and ' +
          'run counts, and the process defaults. Values come from the cached ' +
          'verdicts; a scrape never runs a probe. OpenMetrics 1.0.0 when the ' +
          'Accept header prefers application/openmetrics-text, else the ' +
          'Prometheus text format 0.0.4; gzipped when Accept-Encoding takes gzip.',
        tags: ['metrics'],
        response: {
          200: {
            description: 'The exposition',
            content: { 'text/plain': { schema: exposition }, 'application/openmetrics-text': { schema: exposition } },
          },
          // Never 406: a scraper whose Accept names nothing known still gets the Prometheus text format.
          400: problemResponse(MALFORMED_REQUEST),
        },
      },
    },
    async (request, reply) => {
      const made = await metrics();
      const { contentType, contentEncoding, body } = await made.render(negotiateFormat(request.headers.accept), {
        gzip: acceptsGzip(request.headers['accept-encoding']),
      });
      if (contentEncoding) reply.header('content-encoding', contentEncoding);
      // A Buffer body is sent as it is, never through the serializer.
      return reply
        .header('content-type', contentType)
        .header('vary', 'Accept, Accept-Encoding')
        .header('cache-control', 'no-store')
        .send(body);
    },
  );
};
