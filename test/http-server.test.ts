// The app listening on a free loopback port, spoken to over real HTTP.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { LIMITS, buildApp } from '../src/http/app.js';
import { SteeredProbes, TEST_FEATURES, UNSUPPORTED, steeredCache } from './helpers/http-cache.js';

const probes = new SteeredProbes(t);
const cache = steeredCache(t);
const app = buildApp({ source: cache });
t.teardown(() => app.close());

await cache.start();
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as AddressInfo;
const base = `http://127.0.0.1:${port}`;

/** Send raw bytes and read the whole answer (the server closes the connection). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

t.test('answers over HTTP as it does through inject()', async (t) => {
  const res = await fetch(`${base}/check?level=all`);
  t.equal(res.status, 200);
  t.equal(await res.text(), (await app.inject('/check?level=all')).body);
  t.equal(res.headers.get('etag'), (await app.inject('/check?level=all')).headers.etag);
  const notModified = await fetch(`${base}/check?level=all`, {
    headers: { 'if-none-match': res.headers.get('etag') ?? '' },
  });
  t.equal(notModified.status, 304);
  t.equal((await fetch(`${base}/features/nope`)).status, 404);
});

t.test(
  'the listening server gives a request 10 s to arrive and keeps an idle connection 72 s, longer than load balancers do',
  async (t) => {
    t.equal(app.server.requestTimeout, LIMITS.requestTimeoutMs);
    t.equal(app.server.keepAliveTimeout, LIMITS.keepAliveMs);
    t.equal(LIMITS.requestTimeoutMs, 10_000);
    t.equal(LIMITS.keepAliveMs, 72_000);
  },
);

t.test('headers larger than the limit are a 431 problem', async (t) => {
  const answer = await raw(`GET /check HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(answer, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  t.match(answer, /Content-Type: application\/problem\+json/);
  t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), {
    type: 'about:blank',
    status: 431,
    title: 'Request Header Fields Too Large',
    detail: /larger than the service accepts/,
  });
});

t.test('a request that is not HTTP is a 400 problem', async (t) => {
  const answer = await raw('HELLO\r\n\r\n');
  t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { status: 400, detail: /not valid HTTP/ });
});

t.test('GET requests never run a probe', async (t) => {
  const before = probes.calls();
  await Promise.all(
    ['/check', '/check?level=all', '/features', '/features/alpha', '/readyz', '/healthz', '/metrics'].map((path) =>
      fetch(base + path).then((r) => r.text()),
    ),
  );
  t.equal(probes.calls(), before);
});

t.test('100 concurrent /check during a refresh are all answered from the cache, with one probe run', async (t) => {
  const cachedBody = await (await fetch(`${base}/check?level=extra`)).text();
  probes.delay(1000);
  probes.set('beta', UNSUPPORTED('beta'));
  const before = probes.calls();

  let refreshedAt = Infinity;
  const refresh = fetch(`${base}/refresh`, { method: 'POST' }).then(async (r) => {
    refreshedAt = performance.now();
    return { status: r.status, body: (await r.json()) as { counts: { unsupported: number } } };
  });
  while (!cache.refreshing) await new Promise((resolve) => setTimeout(resolve, 5));

  const answers = await Promise.all(
    Array.from({ length: 100 }, async () => {
      const res = await fetch(`${base}/check?level=extra&strict=true`);
      return { status: res.status, body: await res.text(), at: performance.now() };
    }),
  );
  const refreshed = await refresh;
  probes.delay(0);

  t.ok(
    answers.every((a) => a.status === 200 && a.body === cachedBody),
    'every answer is the cached verdict from before the refresh',
  );
  t.ok(
    answers.every((a) => a.at < refreshedAt),
    'every answer came before the refresh finished',
  );
  t.equal(refreshed.status, 200);
  t.equal(refreshed.body.counts.unsupported, 1);
  t.equal(probes.calls() - before, TEST_FEATURES.length, 'one probe run');
  t.equal((await fetch(`${base}/check?level=extra&strict=true`)).status, 503, 'then the new verdicts are served');
});

t.test('concurrent POST /refresh share one run', async (t) => {
  probes.delay(300);
  const before = probes.calls();
  const answers = await Promise.all(
    Array.from({ length: 20 }, () =>
      fetch(`${base}/refresh`, { method: 'POST' }).then((r) => r.json() as Promise<{ finishedAt: string }>),
    ),
  );
  probes.delay(0);
  t.equal(probes.calls() - before, TEST_FEATURES.length, 'one probe run');
  t.equal(new Set(answers.map((a) => a.finishedAt)).size, 1, 'every caller got that run');
});
