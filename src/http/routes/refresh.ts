// POST /refresh: probe now. Callers during a run share it; a call too soon
// after the last run gets 429 with Retry-After, so nobody can keep the
// kernel busy with probes.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { runResult, statusCounts } from '../../service/check.js';
import type { VerdictSource } from '../../service/source.js';
import { RUN_RESULTS, type RunResult } from '../../model.js';
import { PROBLEM_TYPES, sendProblem } from '../problem.js';
import { problemResponse, roundMs } from '../schemas.js';

const count = z.int().min(0).max(100_000);

export const refreshSchema = z
  .object({
    result: z
      .enum(RUN_RESULTS as [RunResult, ...RunResult[]])
      .describe('failed: a probe crashed, timed out or threw, or no runner could start'),
    finishedAt: z.string().describe('when the run finished (ISO 8601)'),
    durationMs: z.number().min(0).describe('how long the run took'),
    counts: z.object({ supported: count, unsupported: count, unknown: count }),
  })
  .meta({ id: 'Refresh' });

export const refreshRoute: FastifyPluginAsyncZod<{ source: VerdictSource }> = async (app, { source }) => {
  app.post(
    '/refresh',
    {
      schema: {
        operationId: 'refresh',
        summary: 'Probe now',
        description:
          'Runs every probe again and answers when the run has finished. Calls ' +
          'while a run is under way share it; a call sooner than the minimum ' +
          'refresh interval after the last run gets 429 with Retry-After.',
        tags: ['verdicts'],
        response: {
          200: { description: 'the run finished', content: { 'application/json': { schema: refreshSchema } } },
          400: problemResponse(
            'a body that is not what its Content-Type says (the call takes no body), or a malformed request',
          ),
          413: problemResponse('a body larger than the service accepts (the call takes no body)'),
          415: problemResponse('a body of a media type the service does not read (the call takes no body)'),
          429: problemResponse('too soon after the last run; Retry-After says when to try again'),
        },
      },
    },
    async (request, reply) => {
      const waitMs = source.refreshAllowedInMs();
      if (waitMs > 0) {
        const retryAfterSeconds = Math.ceil(waitMs / 1000);
        return sendProblem(request, reply, {
          status: 429,
          type: PROBLEM_TYPES.refreshTooSoon,
          title: 'Refresh too soon',
          detail:
            `the last probe run finished less than ${source.minRefreshIntervalMs / 1000} s ` +
            `ago; try again in ${retryAfterSeconds} s (GET /check answers from the cache meanwhile)`,
          retryAfterSeconds,
        });
      }
      const report = await source.refresh();
      const body: z.infer<typeof refreshSchema> = {
        result: runResult(report),
        finishedAt: report.finishedAt.toISOString(),
        durationMs: roundMs(report.durationMs),
        counts: statusCounts(report.verdicts),
      };
      return reply.header('cache-control', 'no-store').send(body);
    },
  );
};
