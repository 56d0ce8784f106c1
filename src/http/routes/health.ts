// GET /healthz (the process answers) and GET /readyz (a probe run has
// finished). Neither depends on what the kernel supports: that is /check's.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { VerdictSource } from '../../service/source.js';
import type { Lifecycle } from '../lifecycle.js';
import { PROBLEM_TYPES, notReady, sendProblem } from '../problem.js';
import { MALFORMED_REQUEST, problemResponse } from '../schemas.js';

const statusSchema = (value: string) => z.object({ status: z.literal(value) });

export const healthRoutes: FastifyPluginAsyncZod<{ source: VerdictSource; lifecycle: Lifecycle }> = async (
  app,
  { source, lifecycle },
) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getLiveness',
        summary: 'Liveness',
        description: 'Always 200 while the process serves requests; never depends on the kernel verdict.',
        tags: ['health'],
        response: {
          200: { description: 'alive', content: { 'application/json': { schema: statusSchema('ok') } } },
          400: problemResponse(MALFORMED_REQUEST),
        },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness of the service',
        description:
          '200 once the first probe run has finished (503 before, and while ' +
          'shutting down). Says the service can answer, not that the kernel ' +
          'passes: use /check?level=required for that.',
        tags: ['health'],
        response: {
          200: {
            description: 'verdicts are cached',
            content: { 'application/json': { schema: statusSchema('ready') } },
          },
          400: problemResponse(MALFORMED_REQUEST),
          503: problemResponse('the first probe run has not finished yet, or the service is shutting down'),
        },
      },
    },
    async (request, reply) => {
      if (lifecycle.shuttingDown)
        return sendProblem(request, reply, {
          status: 503,
          type: PROBLEM_TYPES.notReady,
          title: 'Not ready',
          detail: 'the service is shutting down',
        });
      if (!source.ready) return notReady(request, reply);
      return reply.header('cache-control', 'no-store').send({ status: 'ready' });
    },
  );
};
