// GET /features and GET /features/:name: the catalogue with each feature's
// latest verdict.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FEATURE_NAMES, type Feature } from '../../catalogue.js';
import type { Report } from '../../service/check.js';
import type { VerdictSource } from '../../service/source.js';
import { featureText } from '../../service/text.js';
import type { Verdict } from '../../model.js';
import { closestName } from '../../service/names.js';
import { JSON_TYPE, TEXT_TYPE, wantsText } from '../negotiate.js';
import { PROBLEM_TYPES, notReady, sendProblem } from '../problem.js';
import { PROBLEM_CONTENT_TYPE, echo, formatParam, problemResponse, problemSchema, roundMs, strictQuery, verdictSchemas } from '../schemas.js';

const featureSchema = z
  .object({
    name: verdictSchemas.name,
    category: verdictSchemas.category,
    summary: z.string().describe('what the kernel must do'),
    status: verdictSchemas.status,
    reason: verdictSchemas.reason,
    message: verdictSchemas.message,
    hint: verdictSchemas.hint,
    needs: z.string().optional().describe('privileges the check needs; without them it answers unknown'),
    differsFromCriu: z.string().optional().describe("where this verdict can differ from upstream CRIU's, and why"),
    kconfig: verdictSchemas.kconfig,
    durationMs: z.number().describe('how long the probe took'),
  })
  .meta({ id: 'Feature' });

const featuresSchema = z
  .object({
    finishedAt: z.string().describe('when the probe run these verdicts come from finished (ISO 8601)'),
    durationMs: z.number().describe('how long that run took'),
    kconfigSource: z.string().optional().describe('the kernel config file read, if any'),
    features: z.array(featureSchema),
  })
  .meta({ id: 'Features' });

type FeatureBody = z.infer<typeof featureSchema>;

function featureBody(feature: Feature, v: Verdict): FeatureBody {
  return {
    name: v.name,
    category: v.category,
    summary: feature.summary,
    status: v.status,
    reason: v.reason,
    message: v.message,
    hint: v.hint,
    needs: feature.needs,
    differsFromCriu: feature.differsFromCriu,
    kconfig: v.kconfig.map(({ option, value }) => ({ option, value })),
    durationMs: roundMs(v.durationMs),
  };
}

interface Rendered {
  json: string;
  text: string;
}

interface FeaturesRendering extends Rendered {
  lastModified: string;
  byName: Map<string, Rendered & { supported: boolean }>;
}

// Bodies are made once per report, not once per request.
const renderings = new WeakMap<Report, FeaturesRendering>();

function render(report: Report, features: readonly Feature[]): FeaturesRendering {
  let rendering = renderings.get(report);
  if (rendering) return rendering;
  const rows = new Map(features.map((f) => [f.name, f]));
  const byName = new Map<string, Rendered & { supported: boolean }>();
  const bodies: FeatureBody[] = [];
  const lines: string[] = [];
  for (const v of report.verdicts) {
    const feature = rows.get(v.name);
    if (!feature) continue;
    const body = featureBody(feature, v);
    const text = featureText(v);
    const own = [...text.problems, ...text.verdict];
    bodies.push(body);
    lines.push(...own);
    byName.set(v.name, { json: JSON.stringify(body), text: own.join('\n') + '\n', supported: v.status === 'supported' });
  }
  const all = { finishedAt: report.finishedAt.toISOString(), durationMs: roundMs(report.durationMs), kconfigSource: report.kconfigSource, features: bodies };
  rendering = { json: JSON.stringify(all), text: lines.join('\n') + '\n', lastModified: report.finishedAt.toUTCString(), byName };
  renderings.set(report, rendering);
  return rendering;
}

const query = strictQuery({ format: formatParam });

export const featuresRoutes: FastifyPluginAsyncZod<{ source: VerdictSource }> = async (app, { source }) => {
  const names = source.features.map((f) => f.name);

  app.get(
    '/features',
    {
      schema: {
        summary: "Every feature with its latest verdict",
        description: 'The catalogue (summary, needs, differences from CRIU) with the verdict of the last probe run, in catalogue order. Never runs a probe.',
        tags: ['verdicts'],
        querystring: query,
        response: {
          200: { description: 'every feature', content: { 'application/json': { schema: featuresSchema }, 'text/plain': { schema: z.string() } } },
          400: problemResponse('a bad parameter'),
          503: problemResponse('the first probe run has not finished yet'),
        },
      },
    },
    async (request, reply) => {
      const report = source.current;
      if (!report) return notReady(request, reply);
      const rendering = render(report, source.features);
      const text = wantsText(request.query.format, request.headers.accept);
      return reply
        .header('last-modified', rendering.lastModified)
        .header('vary', 'Accept')
        .header('cache-control', 'no-cache')
        .type(text ? TEXT_TYPE : JSON_TYPE)
        .send(text ? rendering.text : rendering.json);
    },
  );

  app.get(
    '/features/:name',
    {
      schema: {
        summary: 'One feature with its latest verdict',
        description: 'As `criu check --feature NAME`: 200 when supported, 503 when unsupported or unknown, 404 for a name that is not a feature (with the valid names and the closest one). Never runs a probe.',
        tags: ['verdicts'],
        params: z.object({
          // Any string is accepted so that an unknown name gets a 404 with suggestions, not a 400.
          name: z.string().meta({ enum: [...FEATURE_NAMES] }).describe('a feature name, as `criu-readiness check --feature list` prints them'),
        }),
        querystring: query,
        response: {
          200: { description: 'the feature is supported', content: { 'application/json': { schema: featureSchema }, 'text/plain': { schema: z.string() } } },
          400: problemResponse('a bad parameter'),
          404: problemResponse('no feature has that name'),
          503: {
            description: 'the feature is unsupported or unknown, or the first probe run has not finished yet (problem)',
            content: { 'application/json': { schema: featureSchema }, 'text/plain': { schema: z.string() }, [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
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
      const report = source.current;
      if (!report) return notReady(request, reply);
      const rendering = render(report, source.features);
      const one = rendering.byName.get(name);
      if (!one) return notReady(request, reply);
      const text = wantsText(request.query.format, request.headers.accept);
      return reply
        .code(one.supported ? 200 : 503)
        .header('last-modified', rendering.lastModified)
        .header('vary', 'Accept')
        .header('cache-control', 'no-cache')
        .type(text ? TEXT_TYPE : JSON_TYPE)
        .send(text ? one.text : one.json);
    },
  );
};
