// GET /check: one level's verdict, as JSON, as the CLI's lines or as the
// status page. The JSON and text bodies depend on the verdicts only, so
// identical verdicts give identical bytes (readiness reporters copy them into
// node conditions); time goes to headers.
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Report } from '../../service/check.js';
import type { VerdictSource } from '../../service/source.js';
import { LEVELS, evaluate, httpStatus, type Level, type LevelVerdict } from '../../service/levels.js';
import { levelText } from '../../service/text.js';
import { checkBody } from '../bodies.js';
import { HTML_TYPE, JSON_TYPE, TEXT_TYPE, chooseFormat, entityTag, notModified } from '../negotiate.js';
import { notReady } from '../problem.js';
import {
  PROBLEM_CONTENT_TYPE,
  checkSchema,
  formatParam,
  notModifiedResponse,
  problemResponse,
  problemSchema,
  strictQuery,
  type Format,
} from '../schemas.js';
import { PAGE_HEADERS, levelPage, notReadyPage } from '../status-page.js';

const BOOLEANS = ['true', 'false'] as const;

const query = strictQuery({
  level: z
    .enum(LEVELS, { error: () => `level must be one of ${LEVELS.join(', ')}` })
    .default('required')
    .describe(
      'required; extra = required + extra; experimental = required + ' +
        'experimental; checkpoint = required + runtime (can this node ' +
        'checkpoint a container); all = required + extra + experimental + ' +
        'runtime',
    ),
  strict: z
    .enum(BOOLEANS, { error: () => 'strict must be true or false' })
    .default('false')
    .transform((s) => s === 'true')
    .describe('true: a missing or unknown extra/experimental feature also gives 503'),
  format: formatParam,
});

interface Representation {
  /** Bytes, not a string: no encoding on each send. */
  body: Buffer;
  contentType: string;
  etag: string;
  /** Its headers, made once like the body. */
  headers: Record<string, string>;
}

function representation(
  body: string,
  contentType: string,
  lastModified: string,
  extra: Readonly<Record<string, string>> = {},
): Representation {
  const etag = entityTag(body);
  return {
    body: Buffer.from(body),
    contentType,
    etag,
    headers: { etag, 'last-modified': lastModified, vary: 'Accept', 'cache-control': 'no-cache', ...extra },
  };
}

interface CheckRendering {
  verdict: LevelVerdict;
  json: Representation;
  text: Representation;
  /** Made at the first request for it: most clients never ask. */
  html?: Representation;
}

// Bodies and their tags are made once per report and level, not once per request.
const renderings = new WeakMap<Report, Map<Level, CheckRendering>>();

function renderCheck(report: Report, level: Level): CheckRendering {
  let byLevel = renderings.get(report);
  if (!byLevel) renderings.set(report, (byLevel = new Map()));
  let rendering = byLevel.get(level);
  if (rendering) return rendering;
  const verdict = evaluate(report.verdicts, level);
  const json = JSON.stringify(checkBody(verdict));
  const lines = levelText(verdict);
  const text = [...lines.problems, ...lines.verdict].join('\n') + '\n';
  const lastModified = report.finishedAt.toUTCString();
  rendering = {
    verdict,
    json: representation(json, JSON_TYPE, lastModified),
    text: representation(text, TEXT_TYPE, lastModified),
  };
  byLevel.set(level, rendering);
  return rendering;
}

function chosen(report: Report, level: Level, rendering: CheckRendering, format: Format): Representation {
  if (format === 'json') return rendering.json;
  if (format === 'text') return rendering.text;
  rendering.html ??= representation(levelPage(report, level), HTML_TYPE, report.finishedAt.toUTCString(), PAGE_HEADERS);
  return rendering.html;
}

const verdictContent = {
  'application/json': { schema: checkSchema },
  'text/plain': { schema: z.string().describe('the lines `criu-readiness check` prints: problems, then the verdict') },
  'text/html': { schema: z.string().describe('the status page of the level (Accept: text/html or format=html)') },
};

export const checkRoute: FastifyPluginAsyncZod<{ source: VerdictSource }> = async (app, { source }) => {
  app.get(
    '/check',
    {
      schema: {
        operationId: 'getCheck',
        summary: "A level's verdict",
        description:
          'As `criu check` at the given level, from the cached verdicts (never ' +
          'runs a probe). 200 unless a required feature is unsupported or ' +
          'unknown; with strict=true, a missing or unknown extra/experimental ' +
          'feature gives 503 too. The JSON and text bodies depend on the verdicts ' +
          'only; ETag is the hash of the body and Last-Modified the end of the ' +
          'probe run; If-None-Match, or else If-Modified-Since, gives 304 when ' +
          'the answer would be 200. A browser (Accept: text/html) gets the status ' +
          'page of the level.',
        tags: ['verdicts'],
        querystring: query,
        response: {
          200: { description: 'the level passes', content: verdictContent },
          304: notModifiedResponse,
          400: problemResponse('a bad parameter'),
          503: {
            description: 'the level fails, or (problem) the first probe run has not finished yet',
            content: { ...verdictContent, [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
          },
        },
      },
    },
    // Synchronous, as nothing here waits: a promise per request costs throughput.
    (request, reply) => {
      const { level, strict, format } = request.query;
      const wanted = chooseFormat(format, request.headers.accept);
      const report = source.current;
      if (!report) {
        if (wanted === 'html')
          (reply as FastifyReply)
            .code(503)
            .headers(PAGE_HEADERS)
            .header('retry-after', '1')
            .header('cache-control', 'no-store')
            .type(HTML_TYPE)
            .send(notReadyPage());
        else notReady(request, reply);
        return;
      }
      const rendering = renderCheck(report, level);
      const answer = chosen(report, level, rendering, wanted);
      const status = httpStatus(rendering.verdict, strict);
      reply.headers(answer.headers);
      // Preconditions apply only to what would be a 2xx (RFC 9110 13.2.1): a failing level is always sent in full.
      if (status === 200 && notModified(request.headers, answer.etag, report.finishedAt)) {
        // 304 has no body; the typed reply wants one, the plain one does not.
        (reply as FastifyReply).code(304).send();
        return;
      }
      // The plain reply: the typed one knows the body only as the string it describes.
      (reply as FastifyReply).code(status).type(answer.contentType).send(answer.body);
    },
  );
};
