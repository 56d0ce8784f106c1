// A real Prometheus scrapes the real service (real probes, real cache, the
// app's /metrics) and evaluates the alert rules on what it stored.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { VerdictCache } from '../src/service/cache.js';
import { ProbeEngine } from '../src/engine/engine.js';
import { LEVELS } from '../src/service/levels.js';
import { STATUSES, type Category, type Status } from '../src/model.js';
import { buildApp } from '../src/http/app.js';
import { freePort, promtool, startPrometheus, waitFor, type RuleGroup, type Sample } from './helpers/prometheus.js';

const RULES = fileURLToPath(new URL('../deploy/prometheus/rules.yaml', import.meta.url));

interface CheckedFeature {
  name: string;
  category: Category;
  status: Status;
}

t.test('a real Prometheus scrapes the service', async (t) => {
  const cache = new VerdictCache({ engine: new ProbeEngine(), intervalMs: 3_600_000, minRefreshIntervalMs: 60_000 });
  await cache.start();
  const app = buildApp({ source: cache });
  // What each scrape asked for and got.
  const scrapes: { accept: string; contentType: string }[] = [];
  app.addHook('onSend', async (request, reply) => {
    if (request.url === '/metrics')
      scrapes.push({ accept: String(request.headers.accept), contentType: String(reply.getHeader('content-type')) });
  });
  t.teardown(async () => {
    await app.close();
    await cache.stop();
  });
  const appPort = await freePort();
  await app.listen({ host: '127.0.0.1', port: appPort });
  const service = `http://127.0.0.1:${appPort}`;

  const prometheus = await startPrometheus({ targets: [`127.0.0.1:${appPort}`], ruleFiles: [RULES] });
  t.teardown(() => prometheus.stop());
  const context = () => `Prometheus log:\n${prometheus.log()}`;

  const all = (await (await fetch(`${service}/check?level=all`)).json()) as { features: CheckedFeature[] };
  t.ok(all.features.length > 0, '/check?level=all lists features');

  await waitFor(
    'the service target to be up',
    async () => {
      const targets = await prometheus.targets();
      return targets.length === 1 && targets[0].health === 'up' ? targets : undefined;
    },
    30_000,
  ).catch((err: Error) => t.fail(err.message, { context: context() }));

  t.test('the stored feature series equal the verdicts of /check?level=all', async (t) => {
    const stored = await waitFor('the feature series', async () => {
      const samples = await prometheus.query('criu_readiness_feature_status');
      return samples.length === all.features.length * STATUSES.length ? samples : undefined;
    });
    const byKey = new Map(stored.map((s) => [`${s.metric.feature}/${s.metric.status}`, s]));
    for (const feature of all.features) {
      for (const status of STATUSES) {
        const sample: Sample | undefined = byKey.get(`${feature.name}/${status}`);
        t.same(
          sample && { labels: sample.metric, value: sample.value[1] },
          {
            labels: {
              __name__: 'criu_readiness_feature_status',
              feature: feature.name,
              category: feature.category,
              status,
              instance: `127.0.0.1:${appPort}`,
              job: 'criu-readiness',
            },
            value: feature.status === status ? '1' : '0',
          },
          `${feature.name} ${status}`,
        );
      }
    }
  });

  t.test('the stored level series equal what /check?strict=true answers', async (t) => {
    const stored = await waitFor('the ready series', async () => {
      const samples = await prometheus.query('criu_readiness_ready');
      return samples.length === LEVELS.length ? samples : undefined;
    });
    for (const level of LEVELS) {
      const response = await fetch(`${service}/check?level=${level}&strict=true`);
      await response.body?.cancel();
      const sample = stored.find((s) => s.metric.level === level);
      t.equal(sample?.value[1], response.status === 200 ? '1' : '0', `${level}: /check answered ${response.status}`);
    }
  });

  t.test('Prometheus asked for OpenMetrics and parsed it', async (t) => {
    t.ok(scrapes.length > 0, 'scraped');
    t.ok(
      scrapes.every((s) => s.contentType.startsWith('application/openmetrics-text; version=1.0.0')),
      'every scrape was answered in OpenMetrics',
      { scrapes: scrapes.slice(0, 2) },
    );
    const runs = await prometheus.query('criu_readiness_check_runs_total');
    t.same(
      Object.fromEntries(runs.map((s) => [s.metric.result, s.value[1]])),
      { ok: String(cache.runs.ok), failed: String(cache.runs.failed) },
      'the counter kept its _total name',
    );
  });

  t.test("promtool check metrics passes on the service's text exposition", async (t) => {
    const response = await fetch(`${service}/metrics`);
    t.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const result = promtool(['check', 'metrics'], await response.text());
    t.equal(result.status, 0, result.output);
  });

  t.test('the alert rules evaluate on the stored series and alert on exactly what is missing', async (t) => {
    // Evaluated after the series were stored (the subtests above waited for them).
    const stored = Date.now();
    const groups = await waitFor('the rules to be evaluated', async () => {
      const loaded = await prometheus.rules();
      const evaluated = (r: RuleGroup['rules'][number]) => r.health === 'ok' && Date.parse(r.lastEvaluation) > stored;
      return loaded.length > 0 && loaded.every((g) => g.rules.every(evaluated)) ? loaded : undefined;
    });
    t.same(
      groups.map((g) => g.name),
      ['criu-readiness'],
    );

    const expected = all.features
      .flatMap((f) => {
        if (f.category === 'required' && f.status === 'unsupported')
          return [`CriuReadinessRequiredFeatureMissing/${f.name}`];
        if (f.category === 'required' && f.status === 'unknown')
          return [`CriuReadinessRequiredFeatureUnknown/${f.name}`];
        if (f.category === 'extra' && f.status === 'unsupported') return [`CriuReadinessExtraFeatureMissing/${f.name}`];
        return [];
      })
      .sort();
    // The feature alerts wait 10 minutes: here they can only be pending.
    const alerts = await waitFor(
      'the alerts of the rules',
      async () => {
        const active = (await prometheus.query('ALERTS'))
          .map((s) => `${s.metric.alertname}/${s.metric.feature}`)
          .sort();
        return active.length === expected.length ? active : undefined;
      },
      10_000,
    ).catch(async () =>
      (await prometheus.query('ALERTS')).map((s) => `${s.metric.alertname}/${s.metric.feature}`).sort(),
    );
    t.comment(`alerts on this kernel: ${expected.join(', ') || 'none'}`);
    t.same(
      alerts,
      expected,
      'one alert per missing required or extra feature and per unknown required feature, and no other',
    );
  });
});
