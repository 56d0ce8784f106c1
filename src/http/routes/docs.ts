// The OpenAPI document at /openapi.json, and as a UI at /docs.
//
// The document is made from the routes' zod schemas by @fastify/swagger
// (scripts/openapi.ts, `npm run openapi`) and committed as
// openapi/openapi.yaml, which a test keeps equal to what the routes make. The
// service serves the committed one: @fastify/swagger, Swagger UI and the YAML
// library they both load were a good part of the service's start-up, for
// pages most instances are never asked for. They load at the first request
// for them, in a fastify instance of their own that serves /docs.
import { createRequire } from 'node:module';
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { committedDocument } from '../../openapi.js';
import { version } from '../../version.js';
import { frameworkErrors, installProblemHandlers } from '../problem.js';

type OpenapiDocument = ReturnType<typeof jsonSchemaTransformObject>;

/**
 * The swagger packages stay packages (they read files beside their own code)
 * and load with require: the built HTTP side runs in a vm.Script from V8's
 * code (v8-code-cache.ts), where Node 20 loses the dynamic import() callback
 * of functions compiled after the code was read.
 */
const requirePackage = createRequire(import.meta.url);

export const swaggerPlugin = () => requirePackage('@fastify/swagger') as typeof import('@fastify/swagger').default;
const swaggerUiPlugin = () => requirePackage('@fastify/swagger-ui') as typeof import('@fastify/swagger-ui').default;

/**
 * The zod transform adds an input and an output component for every named
 * schema; responses only use the output ones. Keep the components the
 * document refers to (directly or through other components).
 */
function withoutUnusedSchemas(document: OpenapiDocument): OpenapiDocument {
  const components = (document as { components?: { schemas?: Record<string, unknown> } }).components;
  const schemas = components?.schemas;
  if (!schemas) return document;
  const referenced = (value: unknown) =>
    [...JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
  const keep = new Set<string>();
  const pending = referenced({ ...document, components: { ...components, schemas: {} } });
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (keep.has(name) || !(name in schemas)) continue;
    keep.add(name);
    pending.push(...referenced(schemas[name]));
  }
  const used = Object.fromEntries(Object.entries(schemas).filter(([name]) => keep.has(name)));
  return { ...document, components: { ...components, schemas: used } } as OpenapiDocument;
}

/** Options of @fastify/swagger, which must be registered before any route so that every route is in the document. */
export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'criu-readiness',
      version,
      description:
        'Can this kernel checkpoint and restore processes with CRIU? The ' +
        'verdicts of every `criu check` test, cached and refreshed in the ' +
        'background. Each feature is supported, unsupported (the kernel lacks ' +
        'it) or unknown (could not tell), with a stable reason and a hint. ' +
        'Errors are RFC 9457 problem details.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    // Relative: the document describes whichever instance serves it (each node runs its own, on :9870 by default).
    servers: [{ url: '/', description: 'the service that serves this document' }],
    // No authentication: the service is read-only but for POST /refresh, which is rate-limited; reach is limited by the
    // NetworkPolicy.
    security: [],
    tags: [
      { name: 'verdicts', description: "the kernel's CRIU features, from the cache" },
      { name: 'health', description: 'the service itself' },
      { name: 'metrics', description: 'Prometheus' },
    ],
  },
  transform: jsonSchemaTransform,
  transformObject: (document) => withoutUnusedSchemas(jsonSchemaTransformObject(document)),
};

/** Where the document comes from: the committed file, or the routes themselves (registered with @fastify/swagger). */
export type DocumentSource = 'committed' | 'routes';

/** Swagger UI at /docs over `document`, in a fastify instance of its own that answers errors as the service does. */
async function docsServer(document: unknown, logger: Logger): Promise<FastifyInstance> {
  const [swagger, swaggerUi] = [swaggerPlugin(), swaggerUiPlugin()];
  const docs = fastify({ logger: false, routerOptions: { ignoreTrailingSlash: true }, frameworkErrors });
  installProblemHandlers(docs, logger);
  await docs.register(swagger, { mode: 'static', specification: { document: document as never } });
  await docs.register(swaggerUi, { routePrefix: '/docs' });
  await docs.ready();
  return docs;
}

/** GET /openapi.json, and /docs handed to the UI's own instance, both made at the first request. */
export async function openapiRoutes(
  app: FastifyInstance,
  { from, logger }: { from: DocumentSource; logger: Logger },
): Promise<void> {
  let document: Promise<{ object: unknown; json: string }> | undefined;
  const theDocument = () =>
    (document ??= (from === 'routes' ? Promise.resolve(app.swagger()) : committedDocument()).then((object) => ({
      object,
      json: JSON.stringify(object),
    })));
  let docs: Promise<FastifyInstance> | undefined;
  app.addHook('onClose', async () => {
    if (docs) await (await docs).close();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send((await theDocument()).json),
  );
  const ui = async (request: FastifyRequest, reply: FastifyReply) => {
    docs ??= theDocument().then(({ object }) => docsServer(object, logger));
    const server = await docs;
    reply.hijack();
    server.routing(request.raw, reply.raw);
  };
  app.get('/docs', { schema: { hide: true } }, ui);
  app.get('/docs/*', { schema: { hide: true } }, ui);
}
