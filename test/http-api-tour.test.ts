// A tour of the API: every route, every status it can answer, each real
// response checked against the OpenAPI document the service serves (the
// status and the media type are documented for that path and method) and its
// body against the route's zod schema, which the document is made from.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { buildApp } from '../src/http/app.js';
import { refreshSchema } from '../src/http/routes/refresh.js';
import { checkSchema, featureSchema, featuresSchema, problemSchema } from '../src/http/schemas.js';
import { CATALOGUE } from '../src/catalogue.js';
import { MemorySource, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';

interface Operation {
  operationId?: string;
  responses: Record<string, { content?: Record<string, unknown> }>;
}
type Document = { paths: Record<string, Record<string, Operation>> };

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

// The catalogue's features, as the schemas name them.
const source = new MemorySource({ features: CATALOGUE });
const named = (category: string) => CATALOGUE.find((f) => f.category === category)?.name ?? 'none';
const [REQUIRED, EXTRA, EXPERIMENTAL] = [named('required'), named('extra'), named('experimental')];
const app = buildApp({ source });
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const { port } = app.server.address() as AddressInfo;
const base = `http://127.0.0.1:${port}`;
const document = (await (await fetch(`${base}/openapi.json`)).json()) as Document;

const status = (value: string) => z.strictObject({ status: z.literal(value) });

/** The zod schema of a JSON body, by the documented path, status and media type. */
function schemaOf(path: string, code: number, mediaType: string): z.ZodType | undefined {
  if (mediaType === 'application/problem+json') return problemSchema;
  if (mediaType !== 'application/json') return undefined;
  const schemas: Record<string, z.ZodType> = {
    '/check': checkSchema,
    '/features': featuresSchema,
    '/features/{name}': featureSchema,
    '/refresh': refreshSchema,
    '/healthz': status('ok'),
    '/readyz': status('ready'),
  };
  return code < 300 || code === 503 ? schemas[path] : undefined;
}

const seen = new Map<string, Set<number>>();

/** One request of the tour: the answer must be documented, and its body must be what the document says. */
async function visit(
  t: Test,
  method: string,
  documented: string,
  url: string,
  init: RequestInit = {},
): Promise<Answer> {
  const res = await fetch(base + url, { method, redirect: 'manual', ...init });
  return judge(t, method, documented, url, {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: await res.text(),
  });
}

/** An answer, however it was asked for, held to the document: its status, its media type, its body. */
function judge(t: Test, method: string, documented: string, url: string, answer: Answer): Answer {
  const { contentType, body } = answer;
  const mediaType = contentType.split(';')[0].trim();
  const operation = document.paths[documented]?.[method.toLowerCase()];
  const label = `${method} ${url} -> ${answer.status} ${mediaType}`;
  t.ok(operation, `${label}: ${method} ${documented} is documented`);
  const response = operation?.responses[String(answer.status)];
  t.ok(response, `${label}: its status is documented`);
  if (answer.status !== 304 && method !== 'HEAD') {
    t.ok(
      response?.content && mediaType in response.content,
      `${label}: its media type is documented (${Object.keys(response?.content ?? {}).join(', ')})`,
    );
    const schema = schemaOf(documented, answer.status, mediaType);
    if (schema) {
      const parsed = schema.safeParse(JSON.parse(body));
      t.ok(
        parsed.success,
        `${label}: the body fits the schema${parsed.success ? '' : `: ${parsed.error.message.slice(0, 300)}`}`,
      );
    }
  }
  const key = `${method} ${documented}`;
  seen.set(key, (seen.get(key) ?? new Set()).add(answer.status));
  return answer;
}

/** A request written by hand (what fetch will not send: no Host, a bad one, huge headers), read to the server's close. */
function raw(request: string, to = port): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(to, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket
      .setEncoding('utf8')
      .on('data', (chunk: string) => (data += chunk))
      .on('end', () => resolve(data))
      .on('error', reject);
  });
}

function withoutHost(path: string): Promise<string> {
  return raw(`GET ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`);
}

/** An HTTP/1.1 answer as text: its status, Content-Type and body. */
function parsed(text: string): Answer {
  const [head, ...rest] = text.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0),
    contentType: /^content-type: (.*)$/im.exec(head)?.[1] ?? '',
    body: rest.join('\r\n\r\n'),
  };
}

/** Every operation of the document: method, documented path, and a URL that reaches it. */
const OPERATIONS = [
  ['GET', '/', '/'],
  ['GET', '/check', '/check'],
  ['GET', '/features', '/features'],
  ['GET', '/features/{name}', `/features/${REQUIRED}`],
  ['GET', '/healthz', '/healthz'],
  ['GET', '/readyz', '/readyz'],
  ['GET', '/metrics', '/metrics'],
  ['POST', '/refresh', '/refresh'],
] as const;

t.test('before the first probe run: 503 wherever verdicts are needed', async (t) => {
  for (const [documented, url] of [
    ['/', '/'],
    ['/check', '/check'],
    ['/features', '/features'],
    ['/features/{name}', `/features/${REQUIRED}`],
    ['/readyz', '/readyz'],
  ]) {
    t.equal((await visit(t, 'GET', documented, url)).status, 503, url);
  }
  t.equal((await visit(t, 'GET', '/check', '/check', { headers: { accept: 'text/html' } })).status, 503);
});

t.test('with verdicts: 200, 304 and 503 in every representation', async (t) => {
  source.outcomes = { [EXTRA]: UNSUPPORTED(EXTRA), [EXPERIMENTAL]: UNKNOWN(EXPERIMENTAL) };
  await source.refresh();
  for (const accept of ['application/json', 'text/plain', 'text/html']) {
    const headers = { accept };
    t.equal((await visit(t, 'GET', '/', '/', { headers })).status, 200);
    const check = await visit(t, 'GET', '/check', '/check?level=required', { headers });
    t.equal(check.status, 200);
    t.equal((await visit(t, 'GET', '/check', '/check?level=all&strict=true', { headers })).status, 503);
    t.equal((await visit(t, 'GET', '/features', '/features', { headers })).status, 200);
    t.equal((await visit(t, 'GET', '/features/{name}', `/features/${REQUIRED}`, { headers })).status, 200);
    t.equal((await visit(t, 'GET', '/features/{name}', `/features/${EXTRA}`, { headers })).status, 503);
    for (const [documented, url] of [
      ['/check', '/check'],
      ['/features', '/features'],
      ['/features/{name}', `/features/${REQUIRED}`],
    ]) {
      const first = await fetch(base + url, { headers });
      const etag = first.headers.get('etag') ?? '';
      t.equal(
        (await visit(t, 'GET', documented, url, { headers: { ...headers, 'if-none-match': etag } })).status,
        304,
        `${url} If-None-Match`,
      );
      const lastModified = first.headers.get('last-modified') ?? '';
      t.equal(
        (await visit(t, 'GET', documented, url, { headers: { ...headers, 'if-modified-since': lastModified } })).status,
        304,
        `${url} If-Modified-Since`,
      );
    }
  }
  t.equal((await visit(t, 'GET', '/healthz', '/healthz')).status, 200);
  t.equal((await visit(t, 'GET', '/readyz', '/readyz')).status, 200);
  t.equal((await visit(t, 'GET', '/metrics', '/metrics')).status, 200);
  t.equal(
    (
      await visit(t, 'GET', '/metrics', '/metrics', {
        headers: { accept: 'application/openmetrics-text; version=1.0.0' },
      })
    ).status,
    200,
  );
  t.equal(
    (await visit(t, 'GET', '/metrics', '/metrics', { headers: { accept: 'image/png' } })).status,
    200,
    'a scraper always gets metrics: never 406',
  );
});

t.test('bad requests: 400, 404, 413, 415 and 429, each a problem', async (t) => {
  t.equal((await visit(t, 'GET', '/check', '/check?level=nope')).status, 400);
  t.equal((await visit(t, 'GET', '/features', '/features?x=1')).status, 400);
  t.equal((await visit(t, 'GET', '/features/{name}', `/features/${REQUIRED}?format=xml`)).status, 400);
  t.equal((await visit(t, 'GET', '/features/{name}', '/features/no_such_feature')).status, 404);
  const json = { 'content-type': 'application/json' };
  t.equal(
    (await visit(t, 'POST', '/refresh', '/refresh', { headers: json, body: '{' })).status,
    400,
    'a body that is not JSON',
  );
  t.equal(
    (await visit(t, 'POST', '/refresh', '/refresh', { headers: json, body: JSON.stringify({ pad: 'x'.repeat(4096) }) }))
      .status,
    413,
    'a body too large',
  );
  t.equal(
    (await visit(t, 'POST', '/refresh', '/refresh', { headers: { 'content-type': 'application/xml' }, body: '<x/>' }))
      .status,
    415,
    'a body of an unknown type',
  );
  t.equal((await visit(t, 'POST', '/refresh', '/refresh')).status, 200);
  source.waitMs = 5000;
  t.equal((await visit(t, 'POST', '/refresh', '/refresh')).status, 429);
  source.waitMs = 0;
  for (const path of ['/', '/check', '/features', `/features/${REQUIRED}`, '/healthz', '/readyz', '/metrics']) {
    const raw = await withoutHost(path);
    t.match(raw, /^HTTP\/1\.1 400 /, `${path} without Host`);
    const documented = path.startsWith('/features/') ? '/features/{name}' : path;
    t.ok(document.paths[documented].get.responses['400'], `${path}: 400 is documented`);
    const seenHere = seen.get(`GET ${documented}`) ?? new Set();
    seen.set(`GET ${documented}`, seenHere.add(400));
  }
});

t.test(
  'answers before routing, on every operation: 408, 417, 421, 431 and 501, and 403 for a cross-site POST',
  async (t) => {
    const head = (method: string, url: string, lines: string[]) =>
      `${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${lines.map((l) => `${l}\r\n`).join('')}`;
    // Headers never finished, sent first: their 408 comes when Node's timeout runs out, while the others are answered.
    const slow = OPERATIONS.map(([method, , url]) => raw(head(method, url, [])));
    for (const [method, documented, url] of OPERATIONS) {
      const cases: [number, string][] = [
        [417, head(method, url, ['Expect: something-else'])],
        [421, head(method, url, []).replace('Host: 127.0.0.1', 'Host: rebinding.example')],
        [431, head(method, url, [`X-Big: ${'x'.repeat(20 * 1024)}`])],
        [501, head(method, url, ['Transfer-Encoding: gzip'])],
      ];
      for (const [expected, request] of cases) {
        const answer = judge(t, method, documented, url, parsed(await raw(request + '\r\n')));
        t.equal(answer.status, expected, `${method} ${url}: ${expected}`);
      }
    }
    const crossSite = await raw(head('POST', '/refresh', ['Origin: http://elsewhere.example']) + '\r\n');
    t.equal(judge(t, 'POST', '/refresh', '/refresh', parsed(crossSite)).status, 403, 'a cross-site POST');
    for (const [i, answer] of (await Promise.all(slow)).entries()) {
      const [method, documented, url] = OPERATIONS[i];
      t.equal(judge(t, method, documented, url, parsed(answer)).status, 408, `${method} ${url}: 408`);
    }
  },
);

t.test('an overloaded service answers 503 on every operation, before routing', async (t) => {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  /** A source whose refresh waits for the gate: the request in progress. */
  class HeldSource extends MemorySource {
    held = false;
    waiting = false;
    override async refresh() {
      this.waiting = this.held;
      if (this.held) await gate;
      return super.refresh();
    }
  }
  const busy = new HeldSource({ features: CATALOGUE });
  await busy.refresh();
  busy.held = true;
  const small = buildApp({ source: busy, bounds: { maxInFlight: 1 } });
  await small.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => small.close());
  const smallPort = (small.server.address() as AddressInfo).port;
  // The one request in progress: a refresh held until the others have been answered.
  const held = fetch(`http://127.0.0.1:${smallPort}/refresh`, { method: 'POST' });
  while (!busy.waiting) await new Promise((resolve) => setTimeout(resolve, 20));
  for (const [method, documented, url] of OPERATIONS) {
    const text = await raw(`${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, smallPort);
    t.equal(judge(t, method, documented, url, parsed(text)).status, 503, `${method} ${url}: 503 while overloaded`);
  }
  release();
  t.equal((await held).status, 200, 'the request in progress was answered');
});

t.test('the tour saw every status the document lists, and every operation has an operationId', async (t) => {
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      t.type(operation.operationId, 'string', `${method} ${path} has an operationId`);
      t.same(
        [...(seen.get(`${method.toUpperCase()} ${path}`) ?? [])].map(String).sort(),
        Object.keys(operation.responses).sort(),
        `${method} ${path}: every documented status was answered`,
      );
    }
  }
});
