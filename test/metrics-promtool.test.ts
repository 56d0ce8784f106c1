// promtool check metrics: Prometheus' own parser and linter on the exposition.
import t from 'tap';
import { Metrics } from '../src/metrics.js';
import { cannedReport, exposition, promtool } from './helpers/prometheus.js';
import { MemorySource } from './helpers/memory-source.js';

t.test('promtool check metrics passes on the exposition with every status in every category', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport(), 'failed');
  source.publish(cannedReport({ omit: ['kcmp'] }));
  const body = await exposition(metrics);
  t.match(body, /status="unknown",?[^}]*\} 1/, 'the exposition has verdicts');
  const result = promtool(['check', 'metrics'], body);
  t.equal(result.status, 0, result.output);
  t.notMatch(result.output, /\S/, 'no lint findings');
});

t.test('promtool check metrics passes before the first check run', async (t) => {
  const body = await exposition(new Metrics(new MemorySource()));
  const result = promtool(['check', 'metrics'], body);
  t.equal(result.status, 0, result.output);
});

t.test('the exposition is small', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport());
  for (const format of ['prometheus', 'openmetrics'] as const) {
    const body = await exposition(metrics, format);
    const bytes = Buffer.byteLength(body);
    t.comment(`${format}: ${bytes} bytes, ${body.split('\n').filter((l) => l && !l.startsWith('#')).length} samples`);
    t.ok(bytes < 64 * 1024, `${format} under 64 KiB`);
  }
});
