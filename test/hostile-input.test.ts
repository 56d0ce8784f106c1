// Hostile input, property-based: random methods, paths, query strings,
// headers and bodies, through inject() and over a real socket. Never a 5xx
// but the documented 503s, always a problem document on a 4xx, never a probe
// run but by POST /refresh, never a file the API does not serve.
import { METHODS } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { LIMITS, buildApp } from '../src/http/app.js';
import { SteeredProbes, TEST_FEATURES, UNKNOWN, UNSUPPORTED, steeredCache } from './helpers/http-cache.js';

// More runs for a deeper search: HOSTILE_RUNS=5000 npx tap test/hostile-input.test.ts
const NUM_RUNS = Number(process.env.HOSTILE_RUNS ?? 400);
const SOCKET_RUNS = Math.ceil(NUM_RUNS / 2);

const probes = new SteeredProbes(t);
// One feature of each answer, so that 200s and the documented 503s both occur.
probes.set('beta', UNSUPPORTED('beta'));
probes.set('gamma', UNKNOWN('gamma'));
const NOT_SUPPORTED = new Set(['beta', 'gamma']);
const cache = steeredCache(t);
const app = buildApp({ source: cache });
t.teardown(() => app.close());

/** The route that answered the last request, as fastify matched it (none for a 404 or a parser error). */
let answeredBy: { route?: string; params?: unknown } = {};
app.addHook('onResponse', async (request) => {
  answeredBy = { route: request.routeOptions.url, params: request.params };
});

await cache.start();
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as AddressInfo;

/** Probe calls and finished runs so far: any change means something ran the probes. */
function probeActivity(): string {
  return `${probes.calls()}/${cache.runs.ok + cache.runs.failed}`;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

interface Sent {
  method: string;
  /** The path the client meant, before any normalisation. */
  url: string;
  /** A Transfer-Encoding other than chunked was sent: 501 is its documented answer (RFC 9112 6.1). */
  unknownTransferEncoding?: boolean;
}

/** Files outside what the API serves; none of them may ever be in a body. */
const FORBIDDEN_CONTENT = [/root:[^:\n]*:0:0:/, /"name": "criu-readiness"/, /HTTP_PROBES_DIR|PATH=\//];

/**
 * What every answer must be: no 5xx but a documented 503 (a level or a feature
 * that fails; the cache is ready so "not ready" never applies), a problem
 * document on every 4xx, no x-powered-by, no probe run but by POST /refresh,
 * and nothing read from a file the API does not serve.
 */
function checkAnswer(sent: Sent, answer: Answer, activityBefore: string): void {
  const { status, headers, body } = answer;
  const where = `${sent.method} ${JSON.stringify(sent.url.slice(0, 300))} -> ${status} ${body.slice(0, 200)}`;
  const fail = (why: string): never => {
    throw new Error(`${why}: ${where}`);
  };
  if (status === 501 && sent.unknownTransferEncoding) {
    if (!/^application\/problem\+json/.test(String(headers['content-type']))) fail('a 501 that is not a problem');
    return;
  }
  if (status >= 500) {
    if (status !== 503) fail('a 5xx');
    const { route, params } = answeredBy;
    if (route === '/features/:name') {
      const name = (params as { name?: string }).name ?? '';
      if (!NOT_SUPPORTED.has(name)) fail(`a 503 for feature ${JSON.stringify(name)}, which is supported`);
    } else if (route === '/check') {
      if (
        body &&
        String(headers['content-type']).startsWith('application/json') &&
        (JSON.parse(body) as { status: string }).status === 'ok'
      )
        fail('a 503 for a level that passes');
    } else fail(`an undocumented 503 (route ${route ?? 'none'})`);
  }
  if (status >= 400 && status < 500) {
    if (!/^application\/problem\+json/.test(String(headers['content-type'])))
      fail(`a ${status} without application/problem+json (${String(headers['content-type'])})`);
    if (sent.method !== 'HEAD') {
      let problem: { status?: unknown; type?: unknown; title?: unknown; detail?: unknown; instance?: unknown };
      try {
        problem = JSON.parse(body) as typeof problem;
      } catch {
        return fail('a problem body that is not JSON');
      }
      if (
        problem.status !== status ||
        typeof problem.type !== 'string' ||
        typeof problem.title !== 'string' ||
        typeof problem.detail !== 'string'
      )
        fail('a problem without status, type, title and detail');
      if ((problem.detail as string).length > 500)
        fail(`an unbounded detail (${(problem.detail as string).length} characters)`);
      if (typeof problem.instance === 'string' && problem.instance.length > 210) fail('an unbounded instance');
    }
  }
  if (headers['x-powered-by'] !== undefined) fail('x-powered-by');
  for (const pattern of FORBIDDEN_CONTENT) if (pattern.test(body)) fail(`a body with ${pattern}`);
  if (
    probeActivity() !== activityBefore &&
    !(sent.method === 'POST' && answeredBy.route === '/refresh' && status === 200)
  )
    fail('probes ran');
}

// --- generators -------------------------------------------------------------

const KNOWN_PATHS = [
  '/',
  '/check',
  '/features',
  '/refresh',
  '/metrics',
  '/healthz',
  '/readyz',
  '/openapi.json',
  '/docs',
  '/docs/static/index.html',
  '/docs/json',
  ...TEST_FEATURES.map((f) => `/features/${f.name}`),
];

const TRAVERSAL = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%2e.',
  '%252e%252e',
  '..%2f',
  '..%2F',
  '..%5c',
  '%2f',
  '%5c',
  '..;',
  '%c0%ae%c0%ae',
  '%c0%af',
  '%00',
  '%2500',
  'etc',
  'passwd',
  'proc',
  'self',
  'environ',
  '~root',
  '',
];
/** Percent-escapes that do not decode, or decode to what UTF-8 forbids. */
const BAD_ESCAPES = [
  '%',
  '%%',
  '%g0',
  '%0',
  '%zz',
  '%e0%a4%a',
  '%ff',
  '%fe%ff',
  '%ed%a0%80',
  '%c0%80',
  '%f8%88%80%80%80',
];

/** Every character outside the unreserved ones as %XX, control characters included. */
const percentEncodedAscii = fc
  .string({ unit: 'binary-ascii', maxLength: 12 })
  .map((s) =>
    [...s].map((c) => (/[A-Za-z0-9._~-]/.test(c) ? c : `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join(''),
  );

const segment = fc.oneof(
  fc.constantFrom(...TRAVERSAL),
  fc.constantFrom(...BAD_ESCAPES),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent),
  percentEncodedAscii,
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,20}$/),
  fc.integer({ min: 90, max: 5000 }).map((n) => 'a'.repeat(n)),
  fc.constantFrom(...TEST_FEATURES.map((f) => f.name)),
);

const path = fc
  .tuple(
    // Mostly the service's own paths, so that queries and headers reach the routes' code.
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...KNOWN_PATHS) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(...KNOWN_PATHS), fc.array(segment, { minLength: 1, maxLength: 6 }))
          .map(([base, rest]) => [base, ...rest].join('/')),
      },
      { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((rest) => `/${rest.join('/')}`) },
      { weight: 2, arbitrary: segment.map((name) => `/features/${name}`) },
    ),
    fc.constantFrom('', '', '', '/', '//', '/.', '/..', '%2f', '/%2e'),
  )
  .map(([p, tail]) => p + tail);

const queryKey = fc.oneof(
  fc.constantFrom(
    'level',
    'strict',
    'format',
    '',
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    'level[]',
    'level[0]',
    'level.x',
    'LEVEL',
    'format[]',
  ),
  percentEncodedAscii,
  fc.constantFrom(...BAD_ESCAPES),
);
const queryValue = fc.oneof(
  fc.constantFrom(
    'required',
    'extra',
    'experimental',
    'all',
    'true',
    'false',
    'json',
    'text',
    '',
    'ALL',
    'true%20',
    '1',
    '0',
    'null',
    '[]',
    '{}',
    '%00',
  ),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom(...BAD_ESCAPES),
  fc.integer({ min: 100, max: 8000 }).map((n) => 'x'.repeat(n)),
);
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?', '?&', '?&&&', '?=', '?=='),
  fc
    .array(fc.tuple(queryKey, fc.option(queryValue)), { minLength: 1, maxLength: 8 })
    .map((pairs) => `?${pairs.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join('&')}`),
  fc.tuple(queryKey, queryValue, fc.integer({ min: 2, max: 2000 })).map(
    ([k, v, n]) =>
      `?${Array(n)
        .fill(`${k}=${v.slice(0, 20)}`)
        .join('&')}`,
  ),
  fc.integer({ min: 2, max: 2000 }).map((n) => `?${Array.from({ length: n }, (_, i) => `k${i}=1`).join('&')}`),
);

/** Header values as clients may send them: visible ASCII, space and tab. */
const headerText = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

const headers = fc.record(
  {
    accept: fc.oneof(
      fc.constantFrom(
        'text/plain',
        'application/json',
        '*/*',
        'text/*',
        'application/problem+json',
        'text/html',
        'text/plain;q=0',
        'text/plain;q=abc',
        'text/plain;q=1e999',
        'application/json;q=-1',
        'text/plain;q=0.5, application/json;q=0.5',
        ',,,',
        ';',
        '',
        'application/openmetrics-text; version=1.0.0',
        'application/openmetrics-text;version=9;q=2',
        'text/plain; version=0.0.4',
      ),
      headerText(200),
      fc.integer({ min: 1000, max: 12_000 }).map((n) => `text/plain;q=0.${'9'.repeat(n)}`),
    ),
    'if-none-match': fc.oneof(
      fc.constantFrom('*', 'W/', '""', '"', ',', ' , ,', 'W/"x", *', 'W/W/"x"'),
      headerText(100),
      fc.integer({ min: 1000, max: 12_000 }).map((n) => `"${'a'.repeat(n)}"`),
    ),
    'accept-encoding': fc.oneof(
      fc.constantFrom('gzip', 'gzip;q=0', 'br, *;q=0.1', '*', 'identity;q=0', 'x-gzip', 'gzip;q=nope'),
      headerText(60),
    ),
    'content-type': fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-16',
        'application/json; charset=',
        'APPLICATION/JSON',
        'text/plain',
        'text/plain; charset=latin1',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded',
        ';;',
        'application/json\t',
        'application/problem+json',
        '',
      ),
      headerText(80),
    ),
    'x-forwarded-host': fc.constantFrom('evil.example', '127.0.0.1:1', ''),
    'x-pad': fc.integer({ min: 1000, max: 30_000 }).map((n) => 'p'.repeat(n)),
  },
  { requiredKeys: [] },
);

const body = fc.option(
  fc.oneof(
    fc.constantFrom(
      '{}',
      '{',
      '[]',
      'null',
      '{"__proto__":{"polluted":1}}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      'level=all',
    ),
    fc.string({ maxLength: 64 }),
    fc.integer({ min: 500, max: 4000 }).map((n) => JSON.stringify({ pad: 'x'.repeat(n) })),
  ),
  { nil: undefined },
);

const method = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST') },
  { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
);
const request = fc.record({ method, path, query, headers, body });

// --- over inject() --------------------------------------------------------------

t.test(
  'random methods, paths, queries, headers and bodies: no 5xx but documented 503s, problems on 4xx, no probe run but by POST /refresh',
  async (t) => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const url = r.path + r.query;
        const before = probeActivity();
        answeredBy = {};
        const res = await app.inject({ method: r.method as 'GET', url, headers: r.headers, payload: r.body });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        checkAnswer(
          { method: r.method, url },
          { status: res.statusCode, headers: res.headers, body: res.body },
          before,
        );
      }),
      { numRuns: NUM_RUNS },
    );
    t.notOk(({} as Record<string, unknown>).polluted, 'no prototype pollution from a body or a query');
    // The generators reach the answers they are meant to exercise.
    for (const status of [200, 400, 404, 405]) t.ok(statuses.has(status), `some answers were ${status}`);
  },
);

t.test('thousands of unknown parameters give a 400 problem that names a few of them, bounded', async (t) => {
  const res = await app.inject(`/check?${Array.from({ length: 2000 }, (_, i) => `${'k'.repeat(60)}${i}=1`).join('&')}`);
  t.equal(res.statusCode, 400);
  const { detail } = res.json() as { detail: string };
  t.match(
    detail,
    /^unknown parameter k{40}\.\.\., (k{40}\.\.\., ){3}k{40}\.\.\. and 1995 more; allowed: level, strict, format$/,
  );
  t.ok(res.body.length < 1000, `a body of ${res.body.length} bytes`);
});

t.test('feature names from the path are only looked up: traversal and encoded names are a 404 problem', async (t) => {
  const names = [
    '..%2f..%2fetc%2fpasswd',
    '..%2F..%2F..%2Fetc%2Fshadow',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '%252e%252e%252fetc%252fpasswd',
    '..%5c..%5cwindows',
    'alpha%2f..%2f..%2fetc',
    'alpha%00',
    '%00alpha',
    'alpha%0a',
    '%7cid',
    '%3bid',
    '%60id%60',
    '%24(id)',
    'proc%2fself%2fenviron',
    '~root',
    'alpha%20',
    'ALPHA',
    '%61lpha',
  ];
  for (const name of names) {
    answeredBy = {};
    const res = await app.inject(`/features/${name}`);
    const decoded = decodeURIComponent(name);
    if (decoded === 'alpha') {
      t.equal(res.statusCode, 200, `${name} is alpha, percent-encoded`);
      continue;
    }
    t.equal(res.statusCode, 404, name);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
    t.match(
      res.json(),
      {
        type: 'urn:criu-readiness:problem:unknown-feature',
        status: 404,
        detail: `no feature is named ${JSON.stringify(decoded)}`,
      },
      `${name} is looked up as it is, decoded once`,
    );
  }
  // Raw dot segments are resolved by the client or, over a socket, matched as they are: never a file.
  for (const raw of [
    '/features/../../etc/passwd',
    '/features/./alpha/../../../etc/passwd',
    '/features/%2e%2e/%2e%2e/etc/passwd',
  ]) {
    const answer = await rawRequest(`GET ${raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    t.equal(answer.status, 404, raw);
    t.match(answer.headers['content-type'], /^application\/problem\+json/);
    t.notMatch(answer.body, /root:/);
  }
});

t.test(
  'any feature name answers 200/503 when it is a feature and a 404 (or 414 when overlong) problem otherwise',
  async (t) => {
    const features = new Set(TEST_FEATURES.map((f) => f.name));
    await fc.assert(
      fc.asyncProperty(
        // "." and ".." are dot segments, which the client resolves before sending.
        fc
          .oneof(
            fc.string({ unit: 'grapheme', maxLength: 40 }),
            fc.string({ unit: 'binary-ascii', maxLength: 40 }),
            fc.constantFrom(...features),
          )
          .filter((name) => name !== '.' && name !== '..'),
        async (name) => {
          const encoded = encodeURIComponent(name);
          const res = await app.inject(`/features/${encoded}`);
          // An empty name is /features/, the list (the router ignores a trailing slash).
          const expected = features.has(name)
            ? [NOT_SUPPORTED.has(name) ? 503 : 200]
            : name === ''
              ? [200]
              : encoded.length > 100
                ? [404, 414]
                : [404];
          if (!expected.includes(res.statusCode))
            throw new Error(`/features/${encoded}: ${res.statusCode}, expected ${expected.join(' or ')}`);
          if (res.statusCode === 404 && res.json().type !== 'urn:criu-readiness:problem:unknown-feature')
            throw new Error(`/features/${encoded}: not an unknown-feature problem`);
        },
      ),
      { numRuns: NUM_RUNS },
    );
    t.pass('every name was looked up');
  },
);

t.test(
  'the request handlers import no file system, process or native module: input cannot reach a path, a command or a syscall',
  async (t) => {
    const dir = fileURLToPath(new URL('../src/http/', import.meta.url));
    // Every module of the HTTP side but those that start the service rather than answer requests:
    // serve.ts and serve-http.ts (the two images of `serve`), and privilege.ts, which gives up privilege before the
    // first request.
    const STARTING = ['serve.ts', 'serve-http.ts', 'privilege.ts'];
    const own = readdirSync(dir).filter((f) => f.endsWith('.ts') && !STARTING.includes(f));
    const files = [
      ...own,
      ...readdirSync(`${dir}routes`).map((f) => `routes/${f}`),
      '../metrics.ts',
      '../service/names.ts',
    ];
    const forbidden = [
      /^import (?!type\b)[^;]*from ['"](node:)?(fs|fs\/promises|child_process|net|dgram|worker_threads|vm)['"]/m,
      /from ['"][./]*native\//,
      /\beval\(|new Function\(/,
    ];
    for (const file of files) {
      const source = readFileSync(dir + file, 'utf8');
      for (const pattern of forbidden) t.notMatch(source, pattern, `${file}: ${pattern}`);
    }
  },
);

// --- over a real socket ---------------------------------------------------------

interface RawAnswer extends Answer {
  /** Nothing came back before the connection closed or the time ran out. */
  none?: string;
}

/**
 * Send bytes on a new connection and read the first whole answer (after any
 * 100 Continue): headers, then a body by Content-Length or chunks, none for
 * HEAD, 204 and 304. Gives up after `timeoutMs`.
 */
function rawRequest(bytes: string | Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  const isHead = /^HEAD /.test(bytes.toString('latin1'));
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = Buffer.alloc(0);
    let settled = false;
    const settle = (answer: RawAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const parse = (final: boolean) => {
      let text = data.toString('latin1');
      while (/^HTTP\/1\.1 1\d\d /.test(text) && text.includes('\r\n\r\n'))
        text = text.slice(text.indexOf('\r\n\r\n') + 4);
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (final)
          settle({
            status: 0,
            headers: {},
            body: '',
            none: text
              ? `a partial answer: ${JSON.stringify(text.slice(0, 200))}`
              : 'no answer before the connection closed',
          });
        return;
      }
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(statusLine)?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = Buffer.from(text.slice(end + 4), 'latin1');
      let body: string | undefined;
      if (isHead || status === 204 || status === 304) body = '';
      else if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length >= length) body = rest.subarray(0, length).toString('utf8');
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        const chunks: Buffer[] = [];
        let at = 0;
        for (;;) {
          const lineEnd = rest.indexOf('\r\n', at);
          if (lineEnd < 0) break;
          const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
          if (size === 0) {
            body = Buffer.concat(chunks).toString('utf8');
            break;
          }
          if (rest.length < lineEnd + 2 + size + 2) break;
          chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          at = lineEnd + 2 + size + 2;
        }
      } else if (final) body = rest.toString('utf8');
      if (body !== undefined) settle({ status, headers, body });
      else if (final) settle({ status, headers, body: rest.toString('utf8'), none: 'a body cut short' });
    };
    const timer = setTimeout(
      () => settle({ status: 0, headers: {}, body: '', none: `no whole answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      parse(false);
    });
    socket.on('close', () => parse(true));
    socket.on('error', () => undefined);
  });
}

const ODD_METHODS = [
  'get',
  'Get',
  'FOO',
  'G@T',
  'GET\t',
  '',
  'X'.repeat(100),
  'BREW',
  'PRI',
  'CONNECT',
  'M-SEARCH',
  'QUERY',
  'TRACE',
  'OPTIONS',
];
const ODD_TARGETS = [
  '*',
  'http://evil.example/check',
  'http://evil.example:99999/features/alpha',
  '//check',
  'check',
  '/check#frag',
  '/\x00',
  '/caf\xe9',
  '/features/\xff\xfe',
  '/features/../../etc/passwd',
  '/docs/static/../../../../etc/passwd',
  '/docs/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/docs/static/..%2f..%2f..%2f..%2fetc%2fpasswd',
  'evil.example:443',
  '/ /',
  '/%',
];
const VERSIONS = [
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/0.9',
  'HTTP/2.0',
  'HTTP/9.9',
  'http/1.1',
  'HTTP/1.1 ',
  '',
];

const headerName = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/),
  fc.constantFrom(
    '',
    ' X',
    'X ',
    'X(',
    'X"',
    ':x',
    'X\x7f',
    'Host',
    'Expect',
    'Upgrade',
    'Content-Type',
    'Accept',
    'If-None-Match',
    'Transfer-Encoding',
    'Content-Length',
  ),
);
const headerValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.constantFrom(
    '100-continue',
    'nonsense',
    'websocket',
    'h2c',
    'chunked',
    'gzip, chunked',
    '0',
    '-1',
    '1e3',
    ' ',
    'a\x00b',
    'a\x7fb',
    'a\rb',
    'a\nb',
    'x'.repeat(3000),
  ),
);

const rawHead = fc.record({
  method: fc.oneof(method, fc.constantFrom(...ODD_METHODS)),
  target: fc.oneof(
    path.map((p) => p.slice(0, 3000)),
    fc.constantFrom(...ODD_TARGETS),
    fc.tuple(path, query).map(([p, q]) => (p + q).slice(0, 6000)),
  ),
  version: fc.constantFrom(...VERSIONS),
  host: fc.constantFrom<string | undefined>('x', 'x', 'x', undefined, '', 'evil.example:1', 'a b'),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
  framing: fc.constantFrom('none', 'none', 'length', 'chunked', 'both'),
  body: fc.string({ maxLength: 200 }),
});

type RawHead = typeof rawHead extends fc.Arbitrary<infer T> ? T : never;

/** One request as bytes; Connection: close first, so the server closes after the answer. */
function rawBytes(r: RawHead): Buffer {
  const lines = [`${r.method} ${r.target}${r.version ? ` ${r.version}` : ''}`, 'Connection: close'];
  if (r.host !== undefined) lines.push(`Host: ${r.host}`);
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
  const body = Buffer.from(r.body);
  let payload = '';
  if (r.framing === 'length' || r.framing === 'both') lines.push(`Content-Length: ${body.length}`);
  if (r.framing === 'chunked' || r.framing === 'both') {
    lines.push('Transfer-Encoding: chunked');
    payload = `${body.length > 0 ? `${body.length.toString(16)}\r\n${r.body}\r\n` : ''}0\r\n\r\n`;
  } else if (r.framing === 'length') payload = r.body;
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(payload)]);
}

t.test(
  'over a socket, odd methods, targets, versions and header bytes always get a whole answer: never a 5xx but documented 503s, problems on 4xx',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(rawHead, async (r) => {
        const before = probeActivity();
        answeredBy = {};
        const bytes = rawBytes(r);
        const answer = await rawRequest(bytes);
        const unknownTransferEncoding = r.headers.some(
          ([name, value]) => name === 'Transfer-Encoding' && !/^\s*chunked\s*$/i.test(value),
        );
        const sent = { method: r.method, url: r.target, unknownTransferEncoding };
        if (answer.none) throw new Error(`${answer.none}: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`);
        checkAnswer(sent, answer, before);
      }),
      { numRuns: SOCKET_RUNS },
    );
    t.pass('every request was answered');
  },
);

t.test(
  'what Node answers bare or drops is a problem too: CONNECT, an Expect it cannot meet, an HTTP/1.1 request without Host',
  async (t) => {
    const connectAnswer = await rawRequest('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    t.equal(connectAnswer.status, 405, 'CONNECT: 405');
    t.equal(connectAnswer.headers.allow, 'GET, HEAD, POST');
    t.match(JSON.parse(connectAnswer.body), { status: 405, detail: /not a proxy/ });
    const expectAnswer = await rawRequest(
      'GET /check HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n',
    );
    t.equal(expectAnswer.status, 417, 'Expect: teapot: 417');
    t.match(JSON.parse(expectAnswer.body), { status: 417, detail: /100-continue/ });
    const continued = await rawRequest(
      'POST /refresh HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    t.equal(continued.status, 200, 'Expect: 100-continue still works');
    const hostless = await rawRequest('GET /check HTTP/1.1\r\nConnection: close\r\n\r\n');
    t.equal(hostless.status, 400, 'HTTP/1.1 without Host: 400');
    t.match(JSON.parse(hostless.body), { status: 400, detail: 'an HTTP/1.1 request must have a Host header' });
    t.equal((await rawRequest('GET /check HTTP/1.0\r\n\r\n')).status, 200, 'HTTP/1.0 needs no Host');
    for (const answer of [connectAnswer, expectAnswer, hostless])
      t.match(answer.headers['content-type'], /^application\/problem\+json/);
  },
);

t.test('request line and headers over the limit are a 431 problem; under it they are served', async (t) => {
  // Node counts the request line and every header line; keep clear of the exact boundary.
  const margin = 512;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 2 * LIMITS.headerBytes }),
      fc.integer({ min: 1, max: 40 }),
      fc.boolean(),
      async (total, count, inPath) => {
        const head = (pad: string, headers: string[]) =>
          `GET /healthz${inPath ? `?${pad}` : ''} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
        const per = Math.floor(total / count);
        const bytes = inPath
          ? head('p'.repeat(total), [])
          : head(
              '',
              Array.from({ length: count }, (_, i) => `X-Pad-${i}: ${'p'.repeat(per)}`),
            );
        const answer = await rawRequest(bytes);
        if (bytes.length < LIMITS.headerBytes - margin) {
          // A long query string is a 400 problem (unknown parameter), not a 431.
          if (answer.status === 431 || answer.status === 0)
            throw new Error(`${bytes.length} bytes: ${answer.status} ${answer.none ?? ''}`);
        } else if (bytes.length > LIMITS.headerBytes + margin) {
          if (answer.status !== 431) throw new Error(`${bytes.length} bytes: ${answer.status}, expected 431`);
          if (!answer.headers['content-type']?.toString().startsWith('application/problem+json'))
            throw new Error('431 without a problem');
        }
      },
    ),
    { numRuns: 80 },
  );
  t.pass('the limit holds both ways');
});

t.test('a body over 1 KiB is a 413 problem whatever its framing, and runs no probe', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 4 * LIMITS.bodyBytes }),
      fc.constantFrom('length', 'chunked'),
      fc.integer({ min: 1, max: 8 }),
      async (padding, framing, pieces) => {
        const json = JSON.stringify({ pad: 'x'.repeat(padding) });
        const lines = ['POST /refresh HTTP/1.1', 'Host: x', 'Connection: close', 'Content-Type: application/json'];
        let payload: string;
        if (framing === 'length') {
          lines.push(`Content-Length: ${json.length}`);
          payload = json;
        } else {
          lines.push('Transfer-Encoding: chunked');
          const size = Math.ceil(json.length / pieces);
          const chunks = [];
          for (let at = 0; at < json.length; at += size) chunks.push(json.slice(at, at + size));
          payload = `${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
        }
        const calls = probes.calls();
        const answer = await rawRequest(`${lines.join('\r\n')}\r\n\r\n${payload}`);
        if (json.length > LIMITS.bodyBytes) {
          if (answer.status !== 413 || !String(answer.headers['content-type']).startsWith('application/problem+json'))
            throw new Error(`${json.length} bytes (${framing}): ${answer.status}, expected a 413 problem`);
          if (probes.calls() !== calls) throw new Error(`${json.length} bytes: probes ran`);
        } else if (answer.status !== 200)
          throw new Error(`${json.length} bytes (${framing}): ${answer.status}, expected 200`);
      },
    ),
    { numRuns: 60 },
  );
  t.pass('the body limit holds');
});
