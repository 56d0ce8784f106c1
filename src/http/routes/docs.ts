// The OpenAPI document, made from the routes' zod schemas, at /openapi.json
// and as a UI at /docs. openapi/openapi.yaml is the same document, committed.
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { version } from '../../version.js';

type OpenapiDocument = ReturnType<typeof jsonSchemaTransformObject>;

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

/** GET /openapi.json and the UI at /docs. */
export async function openapiRoutes(app: FastifyInstance): Promise<void> {
  let document: string | undefined;
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => {
    document ??= JSON.stringify(app.swagger());
    return reply.type('application/json; charset=utf-8').send(document);
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
