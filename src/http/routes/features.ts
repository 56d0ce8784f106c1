// GET /features and GET /features/:name: the catalogue with each feature's
// latest verdict, as JSON, as the CLI's lines or as the status page. The
// JSON and text bodies depend on the verdicts only; ETag is their hash.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FEATURE_NAMES, type Feature } from '../../catalogue.js';
import type { Report } from '../../service/check.js';
import type { VerdictSource } from '../../service/source.js';
import { featureText } from '../../service/text.js';
import { closestName } from '../../service/names.js';
import { featureBody, type FeatureBody, type FeaturesBody } from '../bodies.js';
import { HTML_TYPE, JSON_TYPE, TEXT_TYPE, chooseFormat, entityTag, notModified } from '../negotiate.js';
import { PROBLEM_TYPES, notReady, sendProblem } from '../problem.js';
import {
  PROBLEM_CONTENT_TYPE,
  echo,
  featureSchema,
  featuresSchema,
  formatParam,
  notModifiedResponse,
  problemResponse,
  problemSchema,
  strictQuery,
  type Format,
} from '../schemas.js';
import { PAGE_HEADERS, featurePage, featuresPage, notReadyPage } from '../status-page.js';

interface Body {
  text: string;
  etag: string;
}

function body(text: string): Body {
  return { text, etag: entityTag(text) };
}

interface Rendered {
  json: Body;
  text: Body;
  /** Made at the first request for it: most clients never ask. */
  html?: Body;
}

interface FeaturesRendering extends Rendered {
  byName: Map<string, Rendered & { feature: Feature; supported: boolean }>;
}

// Bodies are made once per report, not once per request.
const renderings = new WeakMap<Report, FeaturesRendering>();

function render(report: Report, features: readonly Feature[]): FeaturesRendering {
  let rendering = renderings.get(report);
  if (rendering) return rendering;
  const rows = new Map(features.map((f) => [f.name, f]));
  const byName: FeaturesRendering['byName'] = new Map();
  const bodies: FeatureBody[] = [];
  const lines: string[] = [];
  for (const v of report.verdicts) {
    const feature = rows.get(v.name);
    if (!feature) continue;
    const one = featureBody(feature, v);
    const text = featureText(v);
    const own = [...text.problems, ...text.verdict];
    bodies.push(one);
    lines.push(...own);
    byName.set(v.name, {
      json: body(JSON.stringify(one)),
      text: body(own.join('\n') + '\n'),
      feature,
      supported: v.status === 'supported',
    });
  }
  const all: FeaturesBody = { kconfigSource: report.kconfigSource, features: bodies };
  rendering = { json: body(JSON.stringify(all)), text: body(lines.join('\n') + '\n'), byName };
  renderings.set(report, rendering);
  return rendering;
}

const TYPES: Record<Format, string> = { json: JSON_TYPE, text: TEXT_TYPE, html: HTML_TYPE };

/** Send one representation with its caching headers, or 304 when the request's preconditions say the client has it. */
function send(
  request: FastifyRequest,
  reply: FastifyReply,
  report: Report,
  status: 200 | 503,
  format: Format,
  chosen: Body,
): FastifyReply {
  reply
    .header('etag', chosen.etag)
    .header('last-modified', report.finishedAt.toUTCString())
    .header('vary', 'Accept')
    .header('cache-control', 'no-cache');
  if (format === 'html') reply.headers(PAGE_HEADERS);
  // Preconditions apply only to what would be a 2xx (RFC 9110 13.2.1).
  if (status === 200 && notModified(request.headers, chosen.etag, report.finishedAt)) return reply.code(304).send();
  return reply.code(status).type(TYPES[format]).send(chosen.text);
}

function notReadyAnswer(request: FastifyRequest, reply: FastifyReply, format: Format): FastifyReply {
  if (format !== 'html') return notReady(request, reply);
  return reply
    .code(503)
    .headers(PAGE_HEADERS)
    .header('retry-after', '1')
    .header('cache-control', 'no-store')
    .type(HTML_TYPE)
    .send(notReadyPage());
}

const query = strictQuery({ format: formatParam });

const page = (what: string) => ({
  schema: z.string().describe(`the status page of ${what} (Accept: text/html or format=html)`),
});

export const featuresRoutes: FastifyPluginAsyncZod<{ source: VerdictSource }> = async (app, { source }) => {
  const names = source.features.map((f) => f.name);

  app.get(
    '/features',
    {
      schema: {
        operationId: 'listFeatures',
        summary: 'Every feature with its latest verdict',
        description:
          'The catalogue (summary, needs, differences from CRIU) with the verdict ' +
          'of the last probe run, in catalogue order. Never runs a probe. The ' +
          'JSON and text bodies depend on the verdicts only; ETag is the hash of ' +
          'the body and Last-Modified the end of the probe run; If-None-Match, or ' +
          'else If-Modified-Since, gives 304.',
        tags: ['verdicts'],
        querystring: query,
        response: {
          200: {
            description: 'every feature',
            content: {
              'application/json': { schema: featuresSchema },
              'text/plain': { schema: z.string() },
              'text/html': page('every feature'),
            },
          },
          304: notModifiedResponse,
          400: problemResponse('a bad parameter'),
          503: problemResponse('the first probe run has not finished yet'),
        },
      },
    },
    async (request, reply) => {
      const format = chooseFormat(request.query.format, request.headers.accept);
      const report = source.current;
      if (!report) return notReadyAnswer(request, reply, format);
      const rendering = render(report, source.features);
      if (format === 'html') rendering.html ??= body(featuresPage(report));
      return send(request, reply, report, 200, format, rendering[format] ?? rendering.json);
    },
  );

  app.get(
    '/features/:name',
    {
      schema: {
        operationId: 'getFeature',
        summary: 'One feature with its latest verdict',
        description:
          'As `criu check --feature NAME`: 200 when supported, 503 when ' +
          'unsupported or unknown, 404 for a name that is not a feature (with the ' +
          'valid names and the closest one). Never runs a probe. ETag, ' +
          'Last-Modified and 304 as for /features.',
        tags: ['verdicts'],
        params: z.object({
          // Any string is accepted so that an unknown name gets a 404 with suggestions, not a 400.
          name: z
            .string()
            .meta({ enum: [...FEATURE_NAMES] })
            .describe('a feature name, as `criu-readiness check --feature list` prints them'),
        }),
        querystring: query,
        response: {
          200: {
            description: 'the feature is supported',
            content: {
              'application/json': { schema: featureSchema },
              'text/plain': { schema: z.string() },
              'text/html': page('the feature'),
            },
          },
          304: notModifiedResponse,
          400: problemResponse('a bad parameter'),
          404: problemResponse('no feature has that name'),
          503: {
            description: 'the feature is unsupported or unknown, or the first probe run has not finished yet (problem)',
            content: {
              'application/json': { schema: featureSchema },
              'text/plain': { schema: z.string() },
              'text/html': page('the feature'),
              [PROBLEM_CONTENT_TYPE]: { schema: problemSchema },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!source.features.some((f) => f.name === name)) {
        const closest = closestName(name, names);
        return sendProblem(request, reply, {
          status: 404,
          type: PROBLEM_TYPES.unknownFeature,
          title: 'Unknown feature',
          detail: `no feature is named ${JSON.stringify(echo(name, 64))}${closest ? `; did you mean ${closest}?` : ''}`,
          validNames: names,
          closest,
        });
      }
      const format = chooseFormat(request.query.format, request.headers.accept);
      const report = source.current;
      const one = report && render(report, source.features).byName.get(name);
      if (!report || !one) return notReadyAnswer(request, reply, format);
      if (format === 'html') {
        const verdict = report.verdicts.find((v) => v.name === name);
        if (verdict) one.html ??= body(featurePage(report, one.feature, verdict));
      }
      return send(request, reply, report, one.supported ? 200 : 503, format, one[format] ?? one.json);
    },
  );
};
