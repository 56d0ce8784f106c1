// The metrics as the cache feeds them: one status per feature, no stale
// series, the level verdicts, the run counter, HELP text and labels.
import t from 'tap';
import { CATALOGUE } from '../src/catalogue.js';
import { LEVELS } from '../src/service/levels.js';
import { STATUSES, type Verdict } from '../src/model.js';
import { gunzipSync } from 'node:zlib';
import { Metrics, PREFIX, countNfdWriteError } from '../src/metrics.js';
import { version } from '../src/version.js';
import { cannedReport, exposition } from './helpers/prometheus.js';
import { MemorySource } from './helpers/memory-source.js';

type Values = { labels: Record<string, string | number>; value: number }[];

async function family(metrics: Metrics, name: string): Promise<Values> {
  const found = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === `${PREFIX}${name}`);
  if (!found) throw new Error(`no ${PREFIX}${name}`);
  return found.values.map(({ labels, value }) => ({ labels: { ...labels } as Record<string, string | number>, value }));
}

function supportedReport(overrides: Partial<Record<string, Pick<Verdict, 'status' | 'reason'>>> = {}) {
  const report = cannedReport();
  report.verdicts = report.verdicts.map((v) => ({
    ...v,
    status: 'supported',
    reason: 'Supported',
    ...overrides[v.name],
  }));
  return report;
}

t.test('exactly one status series is 1 for each feature, and it is the verdict', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  const report = cannedReport();
  source.publish(report);
  const values = await family(metrics, 'feature_status');
  t.equal(values.length, CATALOGUE.length * STATUSES.length, 'three series per feature');
  for (const verdict of report.verdicts) {
    const series = values.filter((v) => v.labels.feature === verdict.name);
    t.same(
      series.filter((v) => v.value === 1).map((v) => v.labels),
      [{ feature: verdict.name, category: verdict.category, status: verdict.status }],
      verdict.name,
    );
  }
});

t.test('a feature gone from the next report leaves no series behind', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport());
  source.publish(cannedReport({ omit: ['kcmp', 'uffd'] }));
  for (const name of ['feature_status', 'probe_duration_seconds']) {
    const features = new Set((await family(metrics, name)).map((v) => v.labels.feature));
    t.notOk(features.has('kcmp') || features.has('uffd'), `${name} has none of the removed features`);
    t.equal(features.size, CATALOGUE.length - 2, `${name} has every other feature`);
  }
});

t.test('a status change moves the 1 to the new status', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(supportedReport());
  source.publish(supportedReport({ tcp_repair: { status: 'unknown', reason: 'PermissionDenied' } }));
  const tcpRepair = (await family(metrics, 'feature_status')).filter((v) => v.labels.feature === 'tcp_repair');
  t.same(Object.fromEntries(tcpRepair.map((v) => [v.labels.status, v.value])), {
    supported: 0,
    unsupported: 0,
    unknown: 1,
  });
});

t.test('ready is 1 for a level only when every feature deciding it is supported', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  const ready = async () => Object.fromEntries((await family(metrics, 'ready')).map((v) => [v.labels.level, v.value]));

  source.publish(supportedReport());
  t.same(await ready(), { required: 1, extra: 1, experimental: 1, checkpoint: 1, all: 1 }, 'everything supported');
  source.publish(supportedReport({ uffd: { status: 'unsupported', reason: 'NotInKernel' } }));
  t.same(await ready(), { required: 1, extra: 0, experimental: 1, checkpoint: 1, all: 0 }, 'an extra feature missing');
  source.publish(supportedReport({ breakpoints: { status: 'unsupported', reason: 'NotInKernel' } }));
  t.same(
    await ready(),
    { required: 1, extra: 1, experimental: 1, checkpoint: 1, all: 1 },
    'an advisory feature decides nothing',
  );
  source.publish(supportedReport({ kcmp: { status: 'unknown', reason: 'PermissionDenied' } }));
  t.same(
    await ready(),
    { required: 0, extra: 0, experimental: 0, checkpoint: 0, all: 0 },
    'a required feature unknown',
  );
  t.same(
    (await family(metrics, 'ready')).map((v) => v.labels.level),
    [...LEVELS],
    'one series per level',
  );
});

t.test('check runs are counted by result, from the runs before the metrics existed', async (t) => {
  const source = new MemorySource();
  source.publish(cannedReport());
  source.publish(cannedReport());
  const metrics = new Metrics(source);
  const runs = async () =>
    Object.fromEntries((await family(metrics, 'check_runs_total')).map((v) => [v.labels.result, v.value]));
  t.same(await runs(), { ok: 2, failed: 0 }, 'the failed series exists at 0, so increase() sees the first failure');
  source.publish(cannedReport(), 'failed');
  source.publish(cannedReport(), 'ok');
  t.same(await runs(), { ok: 3, failed: 1 });
});

t.test('metrics made after a run show that run at once', async (t) => {
  const source = new MemorySource();
  source.publish(cannedReport());
  const metrics = new Metrics(source);
  t.equal((await family(metrics, 'feature_status')).length, CATALOGUE.length * STATUSES.length);
});

t.test('before the first run: no feature or level series, and a last check time of 0', async (t) => {
  const metrics = new Metrics(new MemorySource());
  t.same(await family(metrics, 'feature_status'), []);
  t.same(await family(metrics, 'ready'), []);
  t.same(await family(metrics, 'last_check_timestamp_seconds'), [{ labels: {}, value: 0 }]);
});

t.test("the timings are the last report's, in seconds", async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  const report = cannedReport({ finishedAt: new Date('2025-06-07T08:09:10.500Z') });
  source.publish(report);
  t.same(await family(metrics, 'last_check_timestamp_seconds'), [
    { labels: {}, value: Date.parse('2025-06-07T08:09:10.500Z') / 1000 },
  ]);
  t.same(await family(metrics, 'check_duration_seconds'), [{ labels: {}, value: report.durationMs / 1000 }]);
  const kcmp = report.verdicts.find((v) => v.name === 'kcmp');
  t.same(
    (await family(metrics, 'probe_duration_seconds')).find((v) => v.labels.feature === 'kcmp')?.value,
    (kcmp?.durationMs ?? NaN) / 1000,
  );
});

t.test('build_info carries the package version', async (t) => {
  const metrics = new Metrics(new MemorySource());
  t.same(await family(metrics, 'build_info'), [{ labels: { version }, value: 1 }]);
});

t.test('HELP of every value taken from the cache says so and gives the refresh interval', async (t) => {
  const metrics = new Metrics(new MemorySource({ intervalMs: 120_000 }));
  const own = (await metrics.registry.getMetricsAsJSON()).filter(
    (m) => m.name.startsWith(PREFIX) && m.name !== `${PREFIX}build_info`,
  );
  t.equal(own.length, 9);
  for (const m of own)
    t.match(m.help, /Cached: rebuilt after each check run, every 120 s; a scrape never runs a probe\./, m.name);
});

t.test('series carry no node, instance or kernel labels', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport());
  const body = await exposition(metrics);
  const labelNames = new Set(
    [...body.matchAll(/^criu_readiness_\w+\{([^}]*)\}/gm)].flatMap((m) =>
      [...m[1].matchAll(/(\w+)="/g)].map((l) => l[1]),
    ),
  );
  t.same([...labelNames].sort(), ['category', 'feature', 'level', 'result', 'status', 'version']);
});

t.test('the exposition has the process defaults, without gauges named *_total', async (t) => {
  const body = await exposition(new Metrics(new MemorySource()));
  t.match(body, /^process_cpu_seconds_total \d/m);
  t.match(body, /^nodejs_heap_size_used_bytes \d/m);
  t.notMatch(body, /^nodejs_active_\w+_total /m);
});

t.test('OpenMetrics: counters typed without _total, samples with it, one # EOF at the end', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport());
  const { contentType } = await metrics.render('openmetrics');
  const body = await exposition(metrics, 'openmetrics');
  t.equal(contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  t.match(body, /^# TYPE criu_readiness_check_runs counter$/m);
  t.match(body, /^criu_readiness_check_runs_total\{result="ok"\} 1$/m);
  t.equal(body.match(/^# EOF$/gm)?.length, 1);
  t.ok(body.endsWith('\n# EOF\n'));
  t.notOk(body.includes('\n\n'), 'no blank lines');
});

t.test('the Prometheus text format keeps counter names after an OpenMetrics rendering', async (t) => {
  const metrics = new Metrics(new MemorySource());
  await metrics.render('openmetrics');
  const { contentType } = await metrics.render('prometheus');
  const body = await exposition(metrics);
  t.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  t.match(body, /^# TYPE criu_readiness_check_runs_total counter$/m);
  t.match(body, /^criu_readiness_check_runs_total\{result="failed"\} 0$/m);
  t.match(body, /^process_cpu_seconds_total /m);
});

t.test('a refresh shows in the very next rendering of either format', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport({ finishedAt: new Date(1_000_000) }));
  t.match(await exposition(metrics), /^criu_readiness_last_check_timestamp_seconds 1000$/m);
  t.match(await exposition(metrics, 'openmetrics'), /^criu_readiness_last_check_timestamp_seconds 1000$/m);
  source.publish(cannedReport({ finishedAt: new Date(2_000_000), omit: ['kcmp'] }));
  for (const format of ['prometheus', 'openmetrics'] as const) {
    const body = await exposition(metrics, format);
    t.match(body, /^criu_readiness_last_check_timestamp_seconds 2000$/m, format);
    t.notMatch(body, /feature="kcmp"/, format);
  }
});

t.test('a run is rendered once, at the first scrape after it', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  let renderings = 0;
  const render = metrics.registry.metrics.bind(metrics.registry);
  metrics.registry.metrics = () => {
    renderings += 1;
    return render();
  };
  source.publish(cannedReport());
  t.equal(renderings, 0, 'none as the run is published');
  const [first, second] = await Promise.all([metrics.render('prometheus'), metrics.render('prometheus')]);
  const third = await metrics.render('prometheus');
  t.equal(renderings, 1, 'one, for the first scrapes');
  t.equal(second.body, first.body, 'the same bytes');
  t.equal(third.body, first.body, 'the same bytes');
});

t.test('gzip gives the same exposition', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport());
  for (const format of ['prometheus', 'openmetrics'] as const) {
    const plain = await metrics.render(format);
    const zipped = await metrics.render(format, { gzip: true });
    t.equal(zipped.contentEncoding, 'gzip', format);
    t.equal(plain.contentEncoding, undefined, format);
    t.equal(gunzipSync(zipped.body).toString(), plain.body.toString(), format);
    t.ok(
      zipped.body.length * 4 < plain.body.length,
      `${format}: ${plain.body.length} bytes, ${zipped.body.length} gzipped`,
    );
  }
});

t.test('a failed write of the NFD feature file is counted, and the next scrape shows it', async (t) => {
  const metrics = new Metrics(new MemorySource());
  const count = async () =>
    Number(/^criu_readiness_nfd_write_errors_total (\d+)$/m.exec(await exposition(metrics))?.[1]);
  const before = await count();
  t.ok(before >= 0, 'present before any failure');
  countNfdWriteError();
  t.equal(await count(), before + 1);
});
