// Every route and status through inject(), over verdicts held in memory.
import { pino } from 'pino';
import t, { type Test } from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import { evaluate, LEVELS, type Level } from '../src/service/levels.js';
import { levelText } from '../src/service/text.js';
import type { ProbeOutcome } from '../src/model.js';
import { buildApp } from '../src/http/app.js';
import { MemorySource, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';

function appFor(t: Test, source: MemorySource) {
  const app = buildApp({ source });
  t.teardown(() => app.close());
  return app;
}

/** A run with these outcomes (others supported), now current. */
async function verdicts(source: MemorySource, outcomes: Record<string, ProbeOutcome> = {}) {
  source.outcomes = outcomes;
  return source.refresh();
}

function assertProblem(t: Test, res: LightMyRequestResponse, status: number, detail: RegExp): Record<string, unknown> {
  t.equal(res.statusCode, status, `status ${status}`);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  t.match(body, { type: String, title: String, status, detail });
  t.equal(typeof body.instance, 'string');
  return body;
}

const source = new MemorySource();
const app = appFor(t, source);

t.test('before the first run: /healthz 200, /readyz and /check 503 problems', async (t) => {
  t.equal(source.ready, false);
  const health = await app.inject('/healthz');
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok' });
  const ready = assertProblem(t, await app.inject('/readyz'), 503, /first probe run has not finished/);
  t.equal(ready.type, 'urn:criu-readiness:problem:not-ready');
  const check = await app.inject('/check');
  assertProblem(t, check, 503, /first probe run/);
  t.equal(check.headers['retry-after'], '1');
  assertProblem(t, await app.inject('/features'), 503, /first probe run/);
  assertProblem(t, await app.inject('/features/alpha'), 503, /first probe run/);
  await source.refresh();
  t.equal((await app.inject('/readyz')).statusCode, 200);
  t.same((await app.inject('/readyz')).json(), { status: 'ready' });
});

t.test('/check answers 200 or 503 per level and strict', async (t) => {
  const table: [string, Record<string, ProbeOutcome>, Record<Level, [string, number, number]>][] = [
    // scenario, outcomes, level -> [body status, status without strict, status with strict]
    [
      'all supported',
      {},
      {
        required: ['ok', 200, 200],
        extra: ['ok', 200, 200],
        experimental: ['ok', 200, 200],
        checkpoint: ['ok', 200, 200],
        all: ['ok', 200, 200],
      },
    ],
    [
      'an extra feature missing',
      { beta: UNSUPPORTED('beta') },
      {
        required: ['ok', 200, 200],
        extra: ['degraded', 200, 503],
        experimental: ['ok', 200, 200],
        checkpoint: ['ok', 200, 200],
        all: ['degraded', 200, 503],
      },
    ],
    [
      'an experimental feature unknown',
      { gamma: UNKNOWN('gamma') },
      {
        required: ['ok', 200, 200],
        extra: ['ok', 200, 200],
        experimental: ['degraded', 200, 503],
        checkpoint: ['ok', 200, 200],
        all: ['degraded', 200, 503],
      },
    ],
    [
      'an advisory feature missing decides nothing',
      { delta: UNSUPPORTED('delta') },
      {
        required: ['ok', 200, 200],
        extra: ['ok', 200, 200],
        experimental: ['ok', 200, 200],
        checkpoint: ['ok', 200, 200],
        all: ['ok', 200, 200],
      },
    ],
    [
      'a required feature missing',
      { alpha: UNSUPPORTED('alpha') },
      {
        required: ['failed', 503, 503],
        extra: ['failed', 503, 503],
        experimental: ['failed', 503, 503],
        checkpoint: ['failed', 503, 503],
        all: ['failed', 503, 503],
      },
    ],
    [
      'a required feature unknown',
      { alpha: UNKNOWN('alpha') },
      {
        required: ['unknown', 503, 503],
        extra: ['unknown', 503, 503],
        experimental: ['unknown', 503, 503],
        checkpoint: ['unknown', 503, 503],
        all: ['unknown', 503, 503],
      },
    ],
  ];
  for (const [scenario, outcomes, expected] of table) {
    await verdicts(source, outcomes);
    for (const level of LEVELS) {
      const [bodyStatus, plain, strict] = expected[level];
      const res = await app.inject(`/check?level=${level}`);
      t.equal(res.statusCode, plain, `${scenario}: ${level}`);
      t.equal(res.json().status, bodyStatus, `${scenario}: ${level} body status`);
      t.equal(
        (await app.inject(`/check?level=${level}&strict=true`)).statusCode,
        strict,
        `${scenario}: ${level} strict`,
      );
      t.equal(
        (await app.inject(`/check?level=${level}&strict=false`)).statusCode,
        plain,
        `${scenario}: ${level} strict=false`,
      );
    }
  }
});

t.test('/check defaults to the required level and says what is missing, with hints', async (t) => {
  await verdicts(source, { alpha: UNSUPPORTED('alpha'), beta: UNKNOWN('beta') });
  const required = await app.inject('/check');
  t.match(required.headers['content-type'], /^application\/json; charset=utf-8/);
  t.same(required.json(), {
    level: 'required',
    status: 'failed',
    sentence: 'Does not look good.',
    missing: ['alpha'],
    unknown: [],
    features: [
      {
        name: 'alpha',
        category: 'required',
        status: 'unsupported',
        reason: 'NotInKernel',
        message: 'alpha is missing',
        hint: 'enable ALPHA',
        kconfig: [],
      },
      {
        name: 'delta',
        category: 'advisory',
        status: 'supported',
        reason: 'Supported',
        message: 'delta works',
        hint: '',
        kconfig: [],
      },
    ],
  });
  const extra = (await app.inject('/check?level=extra')).json();
  t.same(extra.missing, ['alpha']);
  t.same(extra.unknown, ['beta']);
  t.same(
    extra.features.map((f: { name: string }) => f.name),
    ['alpha', 'beta', 'delta'],
  );
});

t.test('the /check body is byte-identical for identical verdicts; time is in Last-Modified only', async (t) => {
  const first = await verdicts(source, { beta: UNSUPPORTED('beta') });
  const a = await app.inject('/check?level=all');
  const second = await verdicts(source, { beta: UNSUPPORTED('beta') });
  t.not(first, second, 'two runs');
  const b = await app.inject('/check?level=all');
  t.equal(a.body, b.body);
  t.equal(a.headers.etag, b.headers.etag);
  t.notMatch(a.body, /durationMs|finishedAt|\d{4}-\d\d-\d\dT/, 'no durations or timestamps in the body');
  t.equal(b.headers['last-modified'], second.finishedAt.toUTCString());
  t.equal(b.headers.vary, 'Accept');
  await verdicts(source, {});
  const c = await app.inject('/check?level=all');
  t.not(c.body, a.body);
  t.not(c.headers.etag, a.headers.etag, 'other verdicts, another ETag');
});

t.test('If-None-Match with the current ETag gives 304, but never hides a failing level', async (t) => {
  await verdicts(source, { beta: UNSUPPORTED('beta') });
  const full = await app.inject('/check?level=extra');
  const etag = full.headers.etag as string;
  t.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const notModified = await app.inject({ url: '/check?level=extra', headers: { 'if-none-match': etag } });
  t.equal(notModified.statusCode, 304);
  t.equal(notModified.body, '');
  t.equal(notModified.headers.etag, etag);
  t.equal(
    (await app.inject({ url: '/check?level=extra', headers: { 'if-none-match': `"other", W/${etag}` } })).statusCode,
    304,
    'a list, weakly compared',
  );
  t.equal((await app.inject({ url: '/check?level=extra', headers: { 'if-none-match': '"other"' } })).statusCode, 200);
  const strict = await app.inject({ url: '/check?level=extra&strict=true', headers: { 'if-none-match': etag } });
  t.equal(strict.statusCode, 503, 'a 503 is sent in full whatever the client has');
  t.equal(strict.body, full.body);
});

t.test("text for people: Accept: text/plain or ?format=text gives the CLI's lines", async (t) => {
  const report = await verdicts(source, { alpha: UNSUPPORTED('alpha'), beta: UNKNOWN('beta') });
  const lines = levelText(evaluate(report.verdicts, 'extra'));
  const expected = [...lines.problems, ...lines.verdict].join('\n') + '\n';
  t.equal(
    expected,
    'Error (alpha): alpha is missing [hint: enable ALPHA]\nWarn  (beta): could not check (PermissionDenied): beta needs a capability [hint: enable BETA]\nDoes not look good.\n',
  );
  for (const request of [
    { url: '/check?level=extra', headers: { accept: 'text/plain' } },
    { url: '/check?level=extra&format=text' },
    { url: '/check?level=extra', headers: { accept: 'application/json;q=0.5, text/plain' } },
  ]) {
    const res = await app.inject(request);
    t.equal(res.statusCode, 503);
    t.match(res.headers['content-type'], /^text\/plain; charset=utf-8/);
    t.equal(res.body, expected, JSON.stringify(request));
  }
  for (const request of [
    { url: '/check?level=extra', headers: { accept: 'text/plain' }, query: { format: 'json' } },
    { url: '/check?level=extra', headers: { accept: 'application/xml,*/*;q=0.8' } },
  ]) {
    t.match((await app.inject(request)).headers['content-type'], /^application\/json/, JSON.stringify(request));
  }
  await verdicts(source, {});
  t.equal((await app.inject('/check?format=text')).body, 'Looks good.\n');
  const sentence = (await verdicts(source, { beta: UNSUPPORTED('beta') }),
  await app.inject('/check?level=extra&format=text')).body;
  t.equal(sentence.split('\n').length, 5, "CRIU's three-line sentence after the warning");
});

t.test('bad parameters are 400 problems that name the parameter and the allowed values', async (t) => {
  const level = assertProblem(
    t,
    await app.inject('/check?level=bogus'),
    400,
    /^level must be one of required, extra, experimental, checkpoint, all$/,
  );
  t.equal(level.type, 'urn:criu-readiness:problem:invalid-parameter');
  t.same(level.invalidParams, [
    { name: 'level', reason: 'level must be one of required, extra, experimental, checkpoint, all' },
  ]);
  assertProblem(t, await app.inject('/check?strict=yes'), 400, /^strict must be true or false$/);
  assertProblem(t, await app.inject('/check?format=xml'), 400, /^format must be one of json, text, html$/);
  assertProblem(t, await app.inject('/check?level=extra&level=all'), 400, /level must be one of/);
  assertProblem(
    t,
    await app.inject('/check?levle=extra'),
    400,
    /^unknown parameter levle; allowed: level, strict, format$/,
  );
  assertProblem(t, await app.inject('/features?verbose=1'), 400, /unknown parameter verbose/);
  assertProblem(t, await app.inject('/features/%E0%A4%A'), 400, /^the path is not valid \(bad percent-encoding\)$/);
});

t.test('unknown routes are 404 problems, wrong methods 405 problems with Allow', async (t) => {
  const missing = assertProblem(t, await app.inject('/nope'), 404, /^no route GET \/nope/);
  t.equal(missing.type, 'about:blank');
  t.equal(missing.title, 'Not Found');
  t.equal(missing.instance, '/nope');
  const post = assertProblem(
    t,
    await app.inject({ method: 'POST', url: '/check' }),
    405,
    /\/check does not accept POST; it accepts GET, HEAD/,
  );
  t.same(post.allow, ['GET', 'HEAD']);
  t.equal((await app.inject({ method: 'POST', url: '/check' })).headers.allow, 'GET, HEAD');
  const get = await app.inject('/refresh');
  assertProblem(t, get, 405, /accepts POST/);
  t.equal(get.headers.allow, 'POST');
  assertProblem(t, await app.inject({ method: 'DELETE', url: '/features/alpha' }), 405, /accepts GET, HEAD/);
  assertProblem(t, await app.inject({ method: 'OPTIONS', url: '/healthz' }), 405, /accepts GET, HEAD/);
  assertProblem(t, await app.inject({ method: 'POST', url: '/check/?level=all' }), 405, /accepts GET, HEAD/);
  const long = assertProblem(
    t,
    await app.inject(`/features/${'x'.repeat(5000)}`),
    414,
    /^a path segment is longer than the service accepts$/,
  );
  t.ok((long.instance as string).length < 300, 'the path is echoed bounded');
});

t.test('HEAD and a trailing slash work; no x-powered-by', async (t) => {
  await verdicts(source, {});
  const head = await app.inject({ method: 'HEAD', url: '/check' });
  t.equal(head.statusCode, 200);
  t.equal(head.body, '');
  t.equal((await app.inject('/check/')).statusCode, 200);
  for (const url of ['/check', '/nope', '/features']) t.notOk((await app.inject(url)).headers['x-powered-by']);
});

t.test('/features lists every feature with its latest verdict, in catalogue order', async (t) => {
  const report = await verdicts(source, { gamma: UNKNOWN('gamma') });
  const res = await app.inject('/features');
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.equal(
    res.headers['last-modified'],
    report.finishedAt.toUTCString(),
    'the time of the run is in a header, not in the body',
  );
  t.same(
    body.features.map((f: { name: string; status: string }) => [f.name, f.status]),
    [
      ['alpha', 'supported'],
      ['beta', 'supported'],
      ['gamma', 'unknown'],
      ['delta', 'supported'],
    ],
  );
  t.match(body.features[2], {
    category: 'experimental',
    summary: 'the gamma test feature',
    reason: 'PermissionDenied',
    hint: 'enable GAMMA',
    kconfig: [],
  });
  t.notMatch(res.body, /durationMs|finishedAt/, 'no durations or timestamps in the body');
  const text = await app.inject('/features?format=text');
  t.equal(
    text.body,
    'alpha is supported\nbeta is supported\nWarn  (gamma): could not check (PermissionDenied): gamma needs a capability [hint: enable GAMMA]\ndelta is supported\n',
  );
});

t.test('/features/:name: 200 supported, 503 unsupported or unknown, text as --feature prints', async (t) => {
  await verdicts(source, { beta: UNSUPPORTED('beta'), gamma: UNKNOWN('gamma') });
  const alpha = await app.inject('/features/alpha');
  t.equal(alpha.statusCode, 200);
  t.match(alpha.json(), { name: 'alpha', status: 'supported' });
  const beta = await app.inject('/features/beta');
  t.equal(beta.statusCode, 503);
  t.match(beta.json(), {
    name: 'beta',
    status: 'unsupported',
    reason: 'NotInKernel',
    message: 'beta is missing',
    hint: 'enable BETA',
  });
  t.equal((await app.inject('/features/gamma')).statusCode, 503);
  t.equal(
    (await app.inject({ url: '/features/alpha', headers: { accept: 'text/plain' } })).body,
    'alpha is supported\n',
  );
  t.equal((await app.inject('/features/beta?format=text')).body, 'Warn  (beta): beta is missing [hint: enable BETA]\n');
});

t.test('an unknown feature is a 404 problem with every valid name and the closest one', async (t) => {
  const body = assertProblem(
    t,
    await app.inject('/features/alpah'),
    404,
    /^no feature is named "alpah"; did you mean alpha\?$/,
  );
  t.equal(body.type, 'urn:criu-readiness:problem:unknown-feature');
  t.equal(body.closest, 'alpha');
  t.same(body.validNames, ['alpha', 'beta', 'gamma', 'delta']);
  const far = assertProblem(t, await app.inject('/features/zzzzzzzzzz'), 404, /^no feature is named "zzzzzzzzzz"$/);
  t.equal(far.closest, undefined);
});

t.test('POST /refresh runs the probes and reports the run', async (t) => {
  await verdicts(source, {});
  source.outcomes = { beta: UNSUPPORTED('beta'), gamma: UNKNOWN('gamma') };
  const before = source.refreshes;
  const res = await app.inject({ method: 'POST', url: '/refresh' });
  t.equal(res.statusCode, 200);
  t.match(res.json(), {
    result: 'ok',
    finishedAt: String,
    durationMs: Number,
    counts: { supported: 2, unsupported: 1, unknown: 1 },
  });
  t.equal(source.refreshes - before, 1, 'one run');
  t.equal((await app.inject('/check?level=extra&strict=true')).statusCode, 503, 'the new verdicts are served');
});

t.test('POST /refresh reports a run in which a probe crashed as failed', async (t) => {
  source.outcomes = { gamma: { status: 'unknown', reason: 'ProbeCrashed', message: 'runner exited (SIGKILL)' } };
  const res = await app.inject({ method: 'POST', url: '/refresh' });
  t.match(res.json(), { result: 'failed', counts: { supported: 3, unsupported: 0, unknown: 1 } });
});

t.test('POST /refresh too soon after a run is a 429 problem with Retry-After', async (t) => {
  const slow = new MemorySource({ minRefreshIntervalMs: 30_000 });
  const slowApp = appFor(t, slow);
  await slow.refresh();
  slow.waitMs = 30_000;
  const before = slow.refreshes;
  const res = await slowApp.inject({ method: 'POST', url: '/refresh' });
  const body = assertProblem(t, res, 429, /less than 30 s ago; try again in 30 s/);
  t.equal(res.headers['retry-after'], '30');
  t.equal(body.retryAfterSeconds, 30);
  t.equal(body.type, 'urn:criu-readiness:problem:refresh-too-soon');
  t.equal(slow.refreshes, before, 'no run');
});

t.test('limits: a body over 1 KiB is 413, an unknown content type 415, both problems', async (t) => {
  assertProblem(
    t,
    await app.inject({
      method: 'POST',
      url: '/refresh',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ pad: 'x'.repeat(2000) }),
    }),
    413,
    /.+/,
  );
  assertProblem(
    t,
    await app.inject({
      method: 'POST',
      url: '/refresh',
      headers: { 'content-type': 'application/xml' },
      payload: '<a/>',
    }),
    415,
    /.+/,
  );
});

t.test(
  'an unexpected failure is a 500 problem without internals, logged by the service with the request though requests are not logged',
  async (t) => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    let exploding = false;
    const broken = Object.create(source, {
      current: {
        get() {
          if (exploding) throw new Error('the cache exploded');
          return source.current;
        },
      },
    }) as MemorySource;
    const app = buildApp({ source: broken, logger });
    t.teardown(() => app.close());
    await app.ready();
    exploding = true;
    const res = await app.inject('/check?level=all');
    assertProblem(t, res, 500, /^the service failed to answer; its log has the cause$/);
    t.notMatch(res.body, /exploded/, 'the cause stays in the log');
    t.match(lines, [
      {
        level: 50,
        msg: 'request failed',
        method: 'GET',
        url: '/check?level=all',
        err: { message: 'the cache exploded' },
      },
    ]);
    t.equal(lines.length, 1, 'nothing else: requests are not logged at the default levels');
  },
);
