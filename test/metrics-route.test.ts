// GET /metrics in the real app, over the real cache and probe engine.
import t from 'tap';
import { gunzipSync } from 'node:zlib';
import { CATALOGUE } from '../src/catalogue.js';
import { VerdictCache } from '../src/service/cache.js';
import { ProbeEngine } from '../src/engine/engine.js';
import { buildApp } from '../src/http/app.js';

/** The real engine, counting the runs it is asked for. */
class CountingEngine extends ProbeEngine {
  runsAsked = 0;

  override run(names: readonly string[]) {
    this.runsAsked += 1;
    return super.run(names);
  }
}

const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

t.test('GET /metrics', async (t) => {
  const engine = new CountingEngine({ keepWarm: true });
  const features = CATALOGUE.filter((f) => ['kcmp', 'proc_stat', 'uffd'].includes(f.name));
  const cache = new VerdictCache({ engine, features, intervalMs: 3_600_000, minRefreshIntervalMs: 60_000 });
  const report = await cache.start();
  const app = buildApp({ cache });
  t.teardown(async () => {
    await app.close();
    await cache.stop();
  });

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
    const zipped = await app.inject({ url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' } });
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
      t.match(body, `\ncriu_readiness_feature_status{feature="${verdict.name}",category="${verdict.category}",status="${verdict.status}"} 1\n`, verdict.name);
    }
  });

  t.test('a scrape never runs a probe', async (t) => {
    const before = engine.runsAsked;
    for (let i = 0; i < 20; i++) await app.inject({ url: '/metrics', headers: i % 2 ? { accept: PROMETHEUS_ACCEPT } : {} });
    t.equal(before, 1, 'the start-up run');
    t.equal(engine.runsAsked, before, 'no run after 20 scrapes');
    const { body } = await app.inject({ url: '/metrics' });
    t.match(body, /\ncriu_readiness_check_runs_total\{result="ok"\} 1\n/);
    t.match(body, `\ncriu_readiness_last_check_timestamp_seconds ${report.finishedAt.getTime() / 1000}\n`);
  });

  t.test('a refresh shows in the next scrape', async (t) => {
    const next = await cache.refresh();
    const { body } = await app.inject({ url: '/metrics' });
    t.match(body, /\ncriu_readiness_check_runs_total\{result="ok"\} 2\n/);
    t.match(body, `\ncriu_readiness_last_check_timestamp_seconds ${next.finishedAt.getTime() / 1000}\n`);
  });

  t.test('is in the OpenAPI document with both media types', async (t) => {
    const document = (await app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, { get?: { tags?: string[]; responses?: Record<string, { content?: Record<string, unknown> }> } }>;
    };
    const get = document.paths['/metrics']?.get;
    t.same(get?.tags, ['metrics']);
    t.same(Object.keys(get?.responses?.['200']?.content ?? {}).sort(), ['application/openmetrics-text', 'text/plain']);
  });
});
