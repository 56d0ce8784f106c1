import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { CATALOGUE, FEATURE_NAMES } from '../src/catalogue.js';
import { LEVELS } from '../src/service/levels.js';
import { REASONS } from '../src/model.js';
import { buildApp } from '../src/http/app.js';
import { MemorySource } from './helpers/memory-source.js';

// The document does not depend on verdicts: this source never has any.
const app = buildApp({ source: new MemorySource({ features: CATALOGUE }) });
t.teardown(() => app.close());

interface Parameter {
  name: string;
  in: string;
  schema: { enum?: string[] };
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { parameters?: Parameter[]; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
}

const served = async (): Promise<OpenApi> => (await app.inject('/openapi.json')).json() as OpenApi;

t.test('openapi/openapi.yaml is what the server serves at /openapi.json (run `npm run openapi` after changing a route)', async (t) => {
  const committed: unknown = parse(readFileSync(new URL('../openapi/openapi.yaml', import.meta.url), 'utf8'));
  t.same(committed, await served());
});

t.test('every API route is documented, the documentation routes are not', async (t) => {
  const doc = await served();
  t.equal(doc.openapi, '3.1.0');
  const paths = Object.keys(doc.paths);
  for (const path of ['/', '/check', '/features', '/features/{name}', '/healthz', '/readyz', '/refresh', '/metrics']) t.ok(paths.includes(path), path);
  t.same(
    paths.filter((p) => p.startsWith('/docs') || p === '/openapi.json'),
    [],
  );
  t.same(Object.keys(doc.paths['/refresh']), ['post']);
  t.same(Object.keys(doc.paths['/check'].get.responses).sort(), ['200', '304', '400', '503']);
});

t.test('the level, feature-name and reason enums come from the levels and the catalogue', async (t) => {
  const doc = await served();
  const param = (path: string, name: string) => doc.paths[path].get.parameters?.find((p) => p.name === name)?.schema.enum;
  t.same(param('/check', 'level'), [...LEVELS]);
  t.same(param('/check', 'strict'), ['true', 'false']);
  t.same(param('/features/{name}', 'name'), [...FEATURE_NAMES]);
  t.same(doc.components.schemas.Feature.properties.name.enum, [...FEATURE_NAMES]);
  t.same(doc.components.schemas.Feature.properties.reason.enum, Object.keys(REASONS));
});

t.test('/docs serves the swagger UI', async (t) => {
  const docs = await app.inject('/docs');
  t.equal(docs.statusCode, 200);
  t.match(docs.headers['content-type'], /text\/html/);
  t.match(docs.body, /swagger/i);
});
