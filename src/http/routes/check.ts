// GET /check: one level's verdict, as JSON or as the CLI's lines. The body
// depends on the verdicts only, so identical verdicts give identical bytes
// (readiness reporters copy it into node conditions); time goes to headers.
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Report } from '../../service/check.js';
import type { VerdictSource } from '../../service/source.js';
import { LEVELS, evaluate, httpStatus, type Level, type LevelVerdict } from '../../service/levels.js';
import { levelText } from '../../service/text.js';
import { JSON_TYPE, TEXT_TYPE, entityTag, matchesIfNoneMatch, wantsText } from '../negotiate.js';
import { notReady } from '../problem.js';
import { PROBLEM_CONTENT_TYPE, formatParam, problemResponse, problemSchema, strictQuery, verdictSchemas } from '../schemas.js';

const BOOLEANS = ['true', 'false'] as const;

const query = strictQuery({
  level: z
    .enum(LEVELS, { error: () => `level must be one of ${LEVELS.join(', ')}` })
    .default('required')
    .describe('required; extra = required + extra; experimental = required + experimental; checkpoint = required + runtime (can this node checkpoint a container); all = required + extra + experimental + runtime'),
  strict: z
    .enum(BOOLEANS, { error: () => 'strict must be true or false' })
    .default('false')
    .transform((s) => s === 'true')
    .describe('true: a missing or unknown extra/experimental feature also gives 503'),
  format: formatParam,
});

const checkSchema = z
  .object({
    level: z.enum(LEVELS),
    status: z.enum(['ok', 'degraded', 'unknown', 'failed']).describe('ok: nothing missing; degraded: only extra/experimental features missing or unknown; unknown: a required feature could not be checked; failed: a required feature is missing'),
    sentence: z.string().describe("criu check's verdict sentence"),
    missing: z.array(verdictSchemas.name).describe('deciding features the kernel lacks'),
    unknown: z.array(verdictSchemas.name).describe('deciding features that could not be checked'),
    features: z
      .array(z.object(verdictSchemas))
      .describe('every feature the level reports (its deciding ones and the advisory ones), in catalogue order'),
    criu: z
      .object({ version: z.string().describe('as criu --version prints it'), path: z.string().describe("the host's path to it") })
      .nullable()
      .optional()
      .describe('levels with the runtime chain (checkpoint, all): the criu found; null when none says its version'),
    criuDisagreements: z
      .array(
        z.object({
          feature: verdictSchemas.name,
          ours: z.enum(['supported', 'unsupported']),
          criu: z.enum(['supported', 'unsupported']),
          message: z.string().describe("criu's words"),
        }),
      )
      .optional()
      .describe("levels with the runtime chain: the level's features on which criu check --feature NAME answers otherwise than we do (unknowns on either side are not compared)"),
  })
  .meta({ id: 'Check' });

type CheckBody = z.infer<typeof checkSchema>;

function checkBody(lv: LevelVerdict): CheckBody {
  return {
    level: lv.level,
    status: lv.status,
    // CRIU prints the sentence over several lines; a JSON field has it as one.
    sentence: lv.sentence.replaceAll('\n', ' '),
    missing: lv.missing,
    unknown: lv.unknown,
    features: lv.features.map((v) => ({
      name: v.name,
      category: v.category,
      status: v.status,
      reason: v.reason,
      message: v.message,
      hint: v.hint,
      kconfig: v.kconfig.map(({ option, value }) => ({ option, value })),
    })),
    ...(lv.criu === undefined ? {} : { criu: lv.criu, criuDisagreements: lv.criuDisagreements }),
  };
}

interface Representation {
  /** Bytes, not a string: no encoding on each send. */
  body: Buffer;
  contentType: string;
  etag: string;
  /** Its caching headers, made once like the body. */
  headers: Record<string, string>;
}

function representation(body: string, contentType: string, lastModified: string): Representation {
  const etag = entityTag(body);
  return { body: Buffer.from(body), contentType, etag, headers: { etag, 'last-modified': lastModified, vary: 'Accept', 'cache-control': 'no-cache' } };
}

interface CheckRendering {
  verdict: LevelVerdict;
  json: Representation;
  text: Representation;
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

/** 304 has no body; the typed reply wants one, the plain one does not. */
function notModified(reply: FastifyReply): FastifyReply {
  return reply.code(304).send();
}

const verdictContent = { 'application/json': { schema: checkSchema }, 'text/plain': { schema: z.string().describe('the lines `criu-readiness check` prints: problems, then the verdict') } };

export const checkRoute: FastifyPluginAsyncZod<{ source: VerdictSource }> = async (app, { source }) => {
  app.get(
    '/check',
    {
      schema: {
        summary: "A level's verdict",
        description:
          'As `criu check` at the given level, from the cached verdicts (never runs a probe). 200 unless a required feature is unsupported or unknown; with strict=true, a missing or unknown extra/experimental feature gives 503 too. The body depends on the verdicts only; ETag is its hash and Last-Modified the end of the probe run; If-None-Match gives 304 when the answer would be 200.',
        tags: ['verdicts'],
        querystring: query,
        response: {
          200: { description: 'the level passes', content: verdictContent },
          304: z.null().describe('not modified: If-None-Match names the current ETag'),
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
      const report = source.current;
      if (!report) {
        notReady(request, reply);
        return;
      }
      const { level, strict, format } = request.query;
      const rendering = renderCheck(report, level);
      const chosen = wantsText(format, request.headers.accept) ? rendering.text : rendering.json;
      const status = httpStatus(rendering.verdict, strict);
      reply.headers(chosen.headers);
      // Preconditions apply only to what would be a 2xx (RFC 9110 13.2.1): a failing level is always sent in full.
      if (status === 200 && matchesIfNoneMatch(request.headers['if-none-match'], chosen.etag)) {
        notModified(reply);
        return;
      }
      // The plain reply: the typed one knows the body only as the string it describes.
      (reply as FastifyReply).code(status).type(chosen.contentType).send(chosen.body);
    },
  );
};
