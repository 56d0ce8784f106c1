// GET /metrics in the real app, over verdicts held in memory.
import t, { type Test } from 'tap';
import { gunzipSync } from 'node:zlib';
import { buildApp } from '../src/http/app.js';
import { MemorySource, UNSUPPORTED } from './helpers/memory-source.js';

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

t.test('GET /metrics', async (t) => {
  const source = new MemorySource();
  source.outcomes = { beta: UNSUPPORTED('beta') };
  const report = await source.refresh();
  const app = buildApp({ source });
  t.teardown(() => app.close());

  t.test('answers OpenMetrics to a scraper that prefers it', async (t) => {
    const response = await app.inject({ url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } });
    t.equal(response.statusCode, 200);
    t.equal(response.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    t.equal(response.headers.vary, 'Accept, Accept-Encoding');
    t.ok(response.body.endsWith('\n# EOF\n'));
  });

  t.test('answers the Prometheus text format otherwise', async (t) => {
    for (const accept of [undefined, 'text/plain', '*/*']) {
      const response = await app.inject({ url: '/metrics', headers: accept ? { accept } : {} });
      t.equal(response.statusCode, 200, String(accept));
      t.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8', String(accept));
      t.notMatch(response.body, /# EOF/, String(accept));
    }
  });

  t.test('gzips for a scraper that takes gzip', async (t) => {
    const plain = await app.inject({ url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } });
    const zipped = await app.inject({
      url: '/metrics',
      headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' },
    });
    t.equal(zipped.headers['content-encoding'], 'gzip');
    t.equal(zipped.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    t.equal(plain.headers['content-encoding'], undefined);
    // The process defaults may have been collected again in between: compare the service's own lines.
    const own = (body: string) => body.split('\n').filter((line) => line.startsWith('criu_readiness_'));
    t.same(own(gunzipSync(zipped.rawPayload).toString()), own(plain.body));
  });

  t.test('serves the cached verdicts', async (t) => {
    const { body } = await app.inject({ url: '/metrics' });
    for (const verdict of report.verdicts) {
      t.match(
        body,
        `\ncriu_readiness_feature_status{feature="${verdict.name}",category="${verdict.category}",status="${verdict.status}"} 1\n`,
        verdict.name,
      );
    }
  });

  t.test('a scrape never runs a probe', async (t) => {
    const before = source.refreshes;
    for (let i = 0; i < 20; i++)
      await app.inject({ url: '/metrics', headers: i % 2 ? { accept: PROMETHEUS_ACCEPT } : {} });
    t.equal(before, 1, 'the start-up run');
    t.equal(source.refreshes, before, 'no run after 20 scrapes');
    const { body } = await app.inject({ url: '/metrics' });
    t.match(body, /\ncriu_readiness_check_runs_total\{result="ok"\} 1\n/);
    t.match(body, `\ncriu_readiness_last_check_timestamp_seconds ${report.finishedAt.getTime() / 1000}\n`);
  });

  t.test('a refresh shows in the next scrape', async (t) => {
    const next = await source.refresh();
    const { body } = await app.inject({ url: '/metrics' });
    t.match(body, /\ncriu_readiness_check_runs_total\{result="ok"\} 2\n/);
    t.match(body, `\ncriu_readiness_last_check_timestamp_seconds ${next.finishedAt.getTime() / 1000}\n`);
  });

  t.test('is in the OpenAPI document with both media types', async (t) => {
    const document = (await app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        { get?: { tags?: string[]; responses?: Record<string, { content?: Record<string, unknown> }> } }
      >;
    };
    const get = document.paths['/metrics']?.get;
    t.same(get?.tags, ['metrics']);
    t.same(Object.keys(get?.responses?.['200']?.content ?? {}).sort(), ['application/openmetrics-text', 'text/plain']);
  });
});

/** An app over a source that has finished `runs` runs, and nothing else: no scrape yet. */
async function unscraped(t: Test, runs: number, source = new MemorySource()) {
  const app = buildApp({ source });
  t.teardown(() => app.close());
  await app.ready();
  for (let i = 0; i < runs; i++) await source.refresh();
  return { app, source };
}

t.test('no metrics are made before the first scrape', async (t) => {
  const { app, source } = await unscraped(t, 2);
  t.equal(source.listenerCount('refreshed'), 0, 'nothing follows the runs');
  await app.inject({ url: '/metrics' });
  t.equal(source.listenerCount('refreshed'), 1, 'the first scrape made them');
});

t.test('concurrent first scrapes make one set of metrics', async (t) => {
  const { app, source } = await unscraped(t, 1);
  const answers = await Promise.all([app.inject({ url: '/metrics' }), app.inject({ url: '/metrics' })]);
  t.same(
    answers.map((a) => a.statusCode),
    [200, 200],
  );
  t.equal(source.listenerCount('refreshed'), 1);
});

t.test('metrics made at the first scrape count the runs before it', async (t) => {
  const { app } = await unscraped(t, 2);
  const { body } = await app.inject({ url: '/metrics' });
  t.match(body, /\ncriu_readiness_check_runs_total\{result="ok"\} 2\n/);
});

t.test('a scrape after one whose metrics could not be made makes them again', async (t) => {
  const source = new MemorySource();
  let current = source.current;
  let failures = 1;
  Object.defineProperty(source, 'current', {
    get: () => {
      if (failures-- > 0) throw new Error('the source failed once');
      return current;
    },
    set: (report: typeof current) => (current = report),
  });
  const { app } = await unscraped(t, 0, source);
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 500, 'the scrape that met the failure');
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200, 'the next one');
});
