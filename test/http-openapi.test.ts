import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

t.test(
  'openapi/openapi.yaml is what the server serves at /openapi.json (run `npm run openapi` after changing a route)',
  async (t) => {
    const committed: unknown = parse(readFileSync(new URL('../openapi/openapi.yaml', import.meta.url), 'utf8'));
    t.same(committed, await served());
  },
);

t.test('every API route is documented, the documentation routes are not', async (t) => {
  const doc = await served();
  t.equal(doc.openapi, '3.1.0');
  const paths = Object.keys(doc.paths);
  for (const path of ['/', '/check', '/features', '/features/{name}', '/healthz', '/readyz', '/refresh', '/metrics'])
    t.ok(paths.includes(path), path);
  t.same(
    paths.filter((p) => p.startsWith('/docs') || p === '/openapi.json'),
    [],
  );
  t.same(Object.keys(doc.paths['/refresh']), ['post']);
  t.same(
    Object.keys(doc.paths['/check'].get.responses).sort(),
    ['200', '304', '400', '408', '417', '421', '431', '501', '503'],
    "the route's own answers, and those the server gives before routing",
  );
  t.ok(doc.paths['/refresh'].post.responses['403'], 'a cross-site POST is refused');
});

t.test('the level, feature-name and reason enums come from the levels and the catalogue', async (t) => {
  const doc = await served();
  const param = (path: string, name: string) =>
    doc.paths[path].get.parameters?.find((p) => p.name === name)?.schema.enum;
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

// The devDependency's command; REDOCLY_BIN names another (a copy installed elsewhere).
const redocly = process.env.REDOCLY_BIN ?? fileURLToPath(new URL('../node_modules/.bin/redocly', import.meta.url));
const noRedocly =
  !existsSync(redocly) && `skipped: no redocly at ${redocly} (npm install brings @redocly/cli; or set REDOCLY_BIN)`;

t.test(
  'redocly lint, with its recommended rules, finds no error and no warning in the document',
  { skip: noRedocly },
  async (t) => {
    const yaml = fileURLToPath(new URL('../openapi/openapi.yaml', import.meta.url));
    // No telemetry, no update check: the test reads the document and nothing else.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    const r = spawnSync(redocly, ['lint', '--format=stylish', yaml], { encoding: 'utf8', env, timeout: 120_000 });
    const output = `${r.stdout}${r.stderr}`;
    t.equal(r.status, 0, output.slice(-2000));
    t.notMatch(output, /^\s*\d+:\d+\s+(error|warning)\s/m, 'no problem listed');
    t.match(output, /valid/i);
  },
);

t.test('integers in the document are bounded: no minimum or maximum beyond what a value can be', async (t) => {
  const text = JSON.stringify(await served());
  t.notMatch(text, /9007199254740991/, "zod's safe-integer bounds do not leak into the document");
  const problem = (await served()).components.schemas.Problem.properties as Record<
    string,
    { minimum?: number; maximum?: number }
  >;
  t.match(problem.status, { minimum: 400, maximum: 599 });
  t.match(problem.retryAfterSeconds, { minimum: 0 });
});

t.test('the document names its server and every operation', async (t) => {
  const doc = (await served()) as OpenApi & { servers?: { url: string }[] };
  t.same(
    doc.servers?.map((s) => s.url),
    ['/'],
  );
  const ids = Object.values(doc.paths).flatMap((methods) =>
    Object.values(methods).map((op) => (op as { operationId?: string }).operationId),
  );
  t.equal(ids.filter((id) => typeof id === 'string').length, ids.length, 'each has an operationId');
  t.equal(new Set(ids).size, ids.length, 'each unique');
});
