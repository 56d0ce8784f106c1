// Conditional requests: /check, /features and /features/:name carry an ETag
// (the body's hash) and Last-Modified (the end of the run); If-None-Match, or
// without it If-Modified-Since, turns an answer that would be 200 into a 304.
import t from 'tap';
import { buildApp } from '../src/http/app.js';
import { notModified } from '../src/http/negotiate.js';
import { MemorySource, UNSUPPORTED } from './helpers/memory-source.js';

const source = new MemorySource();
await source.refresh();
const app = buildApp({ source });
t.teardown(() => app.close());

const URLS = [
  '/check',
  '/check?format=text',
  '/features',
  '/features?format=text',
  '/features/alpha',
  '/features/alpha?format=text',
];

t.test('each answer has an ETag and Last-Modified; If-None-Match with it gives 304 with no body', async (t) => {
  for (const url of URLS) {
    const first = await app.inject(url);
    t.match(first.headers.etag, /^"[A-Za-z0-9_-]{32}"$/, url);
    t.equal(first.headers['last-modified'], source.current?.finishedAt.toUTCString(), url);
    const again = await app.inject({ url, headers: { 'if-none-match': String(first.headers.etag) } });
    t.equal(again.statusCode, 304, url);
    t.equal(again.body, '', url);
    t.equal(
      (await app.inject({ url, headers: { 'if-none-match': '"another"' } })).statusCode,
      200,
      `${url}: another tag gets the body`,
    );
  }
});

t.test("If-Modified-Since: 304 from the run's end on, the body before it", async (t) => {
  const finished = source.current?.finishedAt ?? new Date();
  const before = new Date(finished.getTime() - 2000).toUTCString();
  const later = new Date(finished.getTime() + 60_000).toUTCString();
  for (const url of URLS) {
    t.equal(
      (await app.inject({ url, headers: { 'if-modified-since': finished.toUTCString() } })).statusCode,
      304,
      `${url} since the run`,
    );
    t.equal((await app.inject({ url, headers: { 'if-modified-since': later } })).statusCode, 304, `${url} since later`);
    t.equal(
      (await app.inject({ url, headers: { 'if-modified-since': before } })).statusCode,
      200,
      `${url} since before the run`,
    );
    t.equal(
      (await app.inject({ url, headers: { 'if-modified-since': 'not a date' } })).statusCode,
      200,
      `${url} with an unreadable date`,
    );
  }
});

t.test('If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)', async (t) => {
  const later = new Date(Date.now() + 60_000).toUTCString();
  const res = await app.inject({
    url: '/features',
    headers: { 'if-none-match': '"another"', 'if-modified-since': later },
  });
  t.equal(res.statusCode, 200);
  t.equal(notModified({ 'if-none-match': '"another"', 'if-modified-since': later }, '"tag"', new Date()), false);
  t.equal(notModified({ 'if-modified-since': later }, '"tag"', new Date()), true);
});

t.test('a failing answer is always sent in full, whatever the preconditions', async (t) => {
  source.outcomes = { alpha: UNSUPPORTED('alpha') };
  await source.refresh();
  const later = new Date(Date.now() + 60_000).toUTCString();
  const failing = await app.inject('/features/alpha');
  t.equal(failing.statusCode, 503);
  t.equal(
    (await app.inject({ url: '/features/alpha', headers: { 'if-none-match': String(failing.headers.etag) } }))
      .statusCode,
    503,
  );
  t.equal((await app.inject({ url: '/check', headers: { 'if-modified-since': later } })).statusCode, 503);
  source.outcomes = {};
  await source.refresh();
});

t.test('the ETag of /features changes with a verdict, not with the run', async (t) => {
  const first = (await app.inject('/features')).headers.etag;
  await source.refresh();
  t.equal((await app.inject('/features')).headers.etag, first, 'a new run with the same verdicts: the same tag');
  source.outcomes = { beta: UNSUPPORTED('beta') };
  await source.refresh();
  t.not((await app.inject('/features')).headers.etag, first, 'a verdict changed: a new tag');
  source.outcomes = {};
});
