// The documentation's packages (@fastify/swagger, Swagger UI and the YAML
// parser they load) are loaded at the first request for /openapi.json or
// /docs, not at start-up: most instances are never asked for them. Its own
// file: nothing else in this process may load them first.
import { createRequire } from 'node:module';
import t from 'tap';
import { CATALOGUE } from '../src/catalogue.js';
import { buildApp } from '../src/http/app.js';
import { MemorySource } from './helpers/memory-source.js';

const require = createRequire(import.meta.url);

/** Whether a package's CommonJS code is loaded in this process (an import of CommonJS goes through require's cache). */
function loaded(pkg: string): boolean {
  return Object.keys(require.cache).some((file) => file.includes(`/node_modules/${pkg}/`));
}

t.test('the app answers without loading the documentation; /openapi.json and /docs load it', async (t) => {
  const source = new MemorySource({ features: CATALOGUE });
  await source.refresh();
  const app = buildApp({ source });
  t.teardown(() => app.close());
  for (const url of ['/check?level=all', '/features', '/metrics', '/healthz', '/readyz', '/'])
    t.equal((await app.inject(url)).statusCode < 500, true, url);
  t.notOk(loaded('@fastify/swagger'), '@fastify/swagger not loaded');
  t.notOk(loaded('@fastify/swagger-ui'), 'Swagger UI not loaded');

  t.equal((await app.inject('/openapi.json')).statusCode, 200);
  t.notOk(loaded('@fastify/swagger-ui'), 'the document alone needs no UI');
  const docs = await app.inject('/docs/');
  t.equal(docs.statusCode, 200);
  t.ok(loaded('@fastify/swagger-ui'), 'Swagger UI loaded for /docs');
});
