// GET /: the status page, for people with a browser. Programs use /check.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { VerdictSource } from '../../service/source.js';
import { HTML_TYPE } from '../negotiate.js';
import { MALFORMED_REQUEST, problemResponse } from '../schemas.js';
import { PAGE_HEADERS, notReadyPage, statusPage } from '../status-page.js';

const pageContent = { 'text/html': { schema: z.string().describe('the status page') } };

export const statusRoute: FastifyPluginAsyncZod<{ source: VerdictSource }> = async (app, { source }) => {
  app.get(
    '/',
    {
      schema: {
        operationId: 'getStatusPage',
        summary: 'The status page',
        description:
          'HTML for people: the verdict of each level, every feature that is not ' +
          'supported with its reason, message, hint and kernel config values, ' +
          'when the verdicts were made and the kernel release, with links to the ' +
          'JSON, /metrics and /docs. No script and no external asset. Programs ' +
          'read /check.',
        tags: ['verdicts'],
        response: {
          200: { description: 'the page', content: pageContent },
          400: problemResponse(MALFORMED_REQUEST),
          503: { description: 'the first probe run has not finished yet', content: pageContent },
        },
      },
    },
    async (_request, reply) => {
      reply.headers(PAGE_HEADERS).header('cache-control', 'no-cache').type(HTML_TYPE);
      const report = source.current;
      if (!report) return reply.code(503).header('retry-after', '1').send(notReadyPage());
      return reply.header('last-modified', report.finishedAt.toUTCString()).send(statusPage(report));
    },
  );
};
