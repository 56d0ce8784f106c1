// The zod schemas the routes share (a verdict's fields, the format and
// strict query parameters, problem documents) and the helpers that shape
// values in bodies. One module, below every route.
import { z } from 'zod';
import { FEATURE_NAMES } from '../catalogue.js';
import { CATEGORIES, REASONS, STATUSES, type Reason } from '../model.js';
import { LEVELS } from '../service/levels.js';

/** Echo of user input in messages: bounded, so a hostile URL cannot blow up a body or a log line. */
export function echo(input: string, max = 100): string {
  return input.length > max ? `${input.slice(0, max)}...` : input;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The 400 any path can answer. */
export const MALFORMED_REQUEST = 'a malformed request: no Host header, or a bad percent-encoding';

export const problemSchema = z
  .object({
    type: z
      .string()
      .describe(
        'the kind of problem: about:blank for plain HTTP errors, ' +
          "urn:criu-readiness:problem:* for this service's own",
      ),
    title: z.string().describe('short summary of the kind of problem'),
    status: z.int().min(400).max(599).describe('the HTTP status code'),
    detail: z.string().describe('what went wrong with this request, for people'),
    instance: z.string().optional().describe('the request path'),
    invalidParams: z
      .array(z.object({ name: z.string(), reason: z.string() }))
      .optional()
      .describe('400: each invalid parameter'),
    validNames: z.array(z.string()).optional().describe('404 unknown feature: every valid feature name'),
    closest: z.string().optional().describe('404 unknown feature: the valid name closest to the one asked for'),
    allow: z.array(z.string()).optional().describe('405: the methods the path accepts'),
    retryAfterSeconds: z.int().min(0).max(86_400).optional().describe('429 and 503: when to try again'),
  })
  .describe('RFC 9457 problem details')
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof problemSchema>;

/** An OpenAPI response that is a problem document. */
export function problemResponse(description: string) {
  return { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } } };
}

/** An operation's documented responses, by status. */
type Responses = Record<string, { description?: string; content?: Record<string, unknown> }>;

/**
 * What the server answers before routing (app.ts's serverFactory, problem.ts), whatever the path: real answers of
 * every operation, so every operation documents them.
 */
const BEFORE_ROUTING: Readonly<Record<number, string>> = {
  408: 'the request did not arrive in time',
  417: 'an Expect header other than 100-continue',
  421:
    'a Host the service does not answer for (a guard against DNS rebinding): use its IP address, or add the name ' +
    'with --allowed-hosts',
  431: 'a request line and headers larger than the service accepts',
  501: 'a Transfer-Encoding other than chunked',
};
const OVERLOADED = 'the service has as many requests in progress as it accepts; Retry-After says when to try again';
const CROSS_SITE = 'a POST from a web page of another site (its Origin or Sec-Fetch-Site says so)';

/** An operation's responses with the answers given before routing added: 503 joins the route's own, if any. */
export function withAnswersBeforeRouting(responses: Responses, methods: readonly string[]): Responses {
  const all: Responses = { ...responses };
  for (const [status, description] of Object.entries(BEFORE_ROUTING)) all[status] ??= problemResponse(description);
  if (methods.includes('POST')) all[403] ??= problemResponse(CROSS_SITE);
  const own = all[503];
  // Idempotent: fastify's HEAD route of a GET may share its schema.
  if (own?.description?.includes(OVERLOADED)) return all;
  all[503] = own
    ? {
        description: `${own.description ?? ''}; or (problem) ${OVERLOADED}`,
        content: { ...own.content, [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
      }
    : problemResponse(OVERLOADED);
  return all;
}

const featureName = z.enum(FEATURE_NAMES as [string, ...string[]]).describe('a feature of the catalogue');

/** A verdict's fields that /check and /features share, in the order the bodies have them. */
const verdictSchemas = {
  name: featureName,
  category: z
    .enum(CATEGORIES as [string, ...string[]])
    .describe(
      'required, extra and experimental decide levels; advisory never does; ' +
        'runtime: the userspace chain, deciding the checkpoint level',
    ),
  status: z
    .enum(STATUSES as [string, ...string[]])
    .describe('supported: the kernel does it; unsupported: it lacks it; unknown: could not tell'),
  reason: z.enum(Object.keys(REASONS) as [Reason, ...Reason[]]).describe('stable, machine-readable cause'),
  message: z.string().describe("what the check saw, in CRIU's words where CRIU has them"),
  hint: z.string().describe('what would fix it (config option, module, sysctl, capability); empty when supported'),
  kconfig: z
    .array(
      z.object({
        option: z.string(),
        value: z.string().describe("y, m, a value, 'not set', or 'unknown' when no config was readable"),
      }),
    )
    .describe("the related kernel config options and this kernel's values"),
};

/**
 * GET /check's body, and what `criu-readiness check --json` prints: the
 * verdicts only, no time, so equal verdicts give equal bytes.
 */
export const checkSchema = z
  .strictObject({
    level: z.enum(LEVELS),
    status: z
      .enum(['ok', 'degraded', 'unknown', 'failed'])
      .describe(
        'ok: nothing missing; degraded: only extra/experimental features ' +
          'missing or unknown; unknown: a required feature could not be checked; ' +
          'failed: a required feature is missing',
      ),
    sentence: z.string().describe("criu check's verdict sentence"),
    missing: z.array(verdictSchemas.name).describe('deciding features the kernel lacks'),
    unknown: z.array(verdictSchemas.name).describe('deciding features that could not be checked'),
    features: z
      .array(z.strictObject(verdictSchemas))
      .describe('every feature the level reports (its deciding ones and the advisory ones), in catalogue order'),
    criu: z
      .strictObject({
        version: z.string().describe('as criu --version prints it'),
        path: z.string().describe("the host's path to it"),
      })
      .nullable()
      .optional()
      .describe('levels with the runtime chain (checkpoint, all): the criu found; null when none says its version'),
    criuDisagreements: z
      .array(
        z.strictObject({
          feature: verdictSchemas.name,
          ours: z.enum(['supported', 'unsupported']),
          criu: z.enum(['supported', 'unsupported']),
          message: z.string().describe("criu's words"),
        }),
      )
      .optional()
      .describe(
        "levels with the runtime chain: the level's features on which criu " +
          'check --feature NAME answers otherwise than we do (unknowns on either ' +
          'side are not compared)',
      ),
  })
  .meta({ id: 'Check' });

/** GET /features/:name's body, and what `criu-readiness check --feature NAME --json` prints. */
export const featureSchema = z
  .strictObject({
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
  })
  .meta({ id: 'Feature' });

/** GET /features's body. */
export const featuresSchema = z
  .strictObject({
    kconfigSource: z.string().optional().describe('the kernel config file read, if any'),
    features: z.array(featureSchema),
  })
  .meta({ id: 'Features' });

const FORMATS = ['json', 'text', 'html'] as const;
export type Format = (typeof FORMATS)[number];

export const formatParam = z
  .enum(FORMATS, { error: () => `format must be one of ${FORMATS.join(', ')}` })
  .optional()
  .describe(
    'json (the default), text (the lines the CLI prints) or html (the status page); overrides the Accept header',
  );

/** Parameter names quoted in a message: a few, each bounded, so a hostile query cannot blow up a body. */
function someNames(keys: readonly string[], max = 5): string {
  const shown = keys.slice(0, max).map((key) => echo(key, 40));
  return keys.length > max ? `${shown.join(', ')} and ${keys.length - max} more` : shown.join(', ');
}

/** A query string schema that refuses parameters it does not know, naming the ones it does. */
export function strictQuery<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown parameter ${someNames(issue.keys)}; allowed: ${allowed}`
        : undefined,
  });
}

/** Milliseconds in bodies: to the microsecond, not to the float's last digit. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The OpenAPI response of a 304. */
export const notModifiedResponse = z
  .null()
  .describe(
    'not modified: If-None-Match names the current ETag, or (without ' +
      'If-None-Match) nothing changed since If-Modified-Since',
  );
