// The Grafana dashboard: it queries only metrics and labels the service
// exports (plus the node label the PodMonitor adds), its PromQL parses, and
// its per-feature encoding gives what its value mappings say.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { STATUSES } from '../src/model.js';
import { Metrics } from '../src/metrics.js';
import { DEPLOY, getField, loadYaml, type Json } from './helpers/deploy.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string }; refId: string }[];
  panels?: Panel[];
  fieldConfig?: { defaults?: { mappings?: { type: string; options: Record<string, { text: string }> }[] } };
}

const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'base', 'grafana-dashboard.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: Json; datasource?: { uid: string } }[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const targets = panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p.title, ...target })));
const variableQueries = dashboard.templating.list
  .filter((v) => v.type === 'query')
  .map((v) => String(getField(v as unknown as Json, 'query.query') ?? v.query));

/** The label the PodMonitor's relabelling adds. */
const NODE_LABEL = String(
  getField(
    loadYaml(join(DEPLOY, 'base', 'podmonitor.yaml'))[0],
    'spec.podMetricsEndpoints.0.relabelings.0.targetLabel',
  ),
);

/** The service's own metric families and their labels, from the service's registry. */
async function exported(): Promise<Map<string, string[]>> {
  const metrics = new Metrics({
    current: undefined,
    intervalMs: 300_000,
    runs: { ok: 0, failed: 0 },
    on: () => undefined,
  });
  const families = await metrics.registry.getMetricsAsJSON();
  return new Map(families.map((f) => [f.name, [...new Set(f.values.flatMap((v) => Object.keys(v.labels)))]]));
}

/** Substitute the dashboard variables as Grafana would for one node. */
const concrete = (expr: string) => expr.replaceAll('$node', 'node-1');

t.test('the node label is the one the PodMonitor adds', async (t) => {
  t.equal(NODE_LABEL, 'node');
});

t.test('every query uses metrics the service exports, with their labels or the node label', async (t) => {
  const families = await exported();
  // Labels of families with no series yet (feature_status before a run) come from their declarations.
  const declared: Record<string, string[]> = {
    criu_readiness_feature_status: ['feature', 'category', 'status'],
    criu_readiness_probe_duration_seconds: ['feature'],
    criu_readiness_ready: ['level'],
  };
  const exprs = [...targets.map((x) => x.expr), ...variableQueries];
  t.ok(exprs.length >= 10);
  for (const expr of exprs) {
    const names = [...expr.matchAll(/\bcriu_readiness_[a-z_]+\b/g)].map((m) => m[0]);
    t.ok(names.length > 0, `${expr} reads criu-readiness metrics`);
    const labels = new Set([NODE_LABEL]);
    for (const name of names) {
      t.ok(families.has(name), `${name} is exported`);
      for (const label of [...(families.get(name) ?? []), ...(declared[name] ?? [])]) labels.add(label);
    }
    const used = [
      ...[...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((s) => s.trim())),
      ...[...expr.matchAll(/[{,]\s*([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]),
      ...[...expr.matchAll(/label_values\([^,]+,\s*([a-z_]+)\)/g)].map((m) => m[1]),
    ].filter(Boolean);
    for (const label of used) t.ok(labels.has(label), `${label} is a label of ${names.join(', ')}`);
  }
});

t.test('every panel and query uses the datasource variable', async (t) => {
  const datasource = dashboard.templating.list.find((v) => v.name === 'datasource');
  t.same({ type: datasource?.type, query: datasource?.query }, { type: 'datasource', query: 'prometheus' });
  for (const panel of panels.filter((p) => p.type !== 'row')) {
    t.equal(panel.datasource?.uid, '${datasource}', panel.title);
    for (const target of panel.targets ?? [])
      t.equal(target.datasource?.uid, '${datasource}', `${panel.title} ${target.refId}`);
  }
});

t.test('panels have unique ids and do not overlap on the 24-column grid', async (t) => {
  t.equal(new Set(panels.map((p) => p.id)).size, panels.length);
  const cells = new Map<string, string>();
  const overlaps: string[] = [];
  for (const { title, gridPos: g } of panels) {
    t.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${title} fits`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        const other = cells.get(`${x},${y}`);
        if (other) overlaps.push(`${title} / ${other}`);
        cells.set(`${x},${y}`, title);
      }
    }
  }
  t.same([...new Set(overlaps)], []);
});

const promtool = spawnSync('promtool', ['--version']).error ? 'promtool is not installed' : false;

function tempFile(t: Test, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-dashboard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

t.test('every query is valid PromQL (promtool)', { skip: promtool }, async (t) => {
  const rules = {
    groups: [
      { name: 'dashboard', rules: targets.map((x, i) => ({ record: `dashboard:query_${i}`, expr: concrete(x.expr) })) },
    ],
  };
  const file = tempFile(t, 'rules.yaml', stringify(rules));
  const run = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stdout + run.stderr);
});

t.test('the feature-state query gives the values its mappings name', { skip: promtool }, async (t) => {
  const panel = panels.find((p) => p.type === 'status-history')!;
  const mapping = panel.fieldConfig!.defaults!.mappings![0].options;
  const valueOf = (status: string) => Number(Object.entries(mapping).find(([, m]) => m.text === status)![0]);
  t.same(
    Object.values(mapping)
      .map((m) => m.text)
      .sort(),
    [...STATUSES].sort(),
  );
  // One feature in each state on node-1; another node that must not leak in.
  const series = (feature: string, state: string, node = 'node-1') =>
    STATUSES.map((status) => ({
      series: `criu_readiness_feature_status{node="${node}",feature="${feature}",category="extra",status="${status}"}`,
      values: status === state ? '1x5' : '0x5',
    }));
  const test = {
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          ...series('a', 'supported'),
          ...series('b', 'unknown'),
          ...series('c', 'unsupported'),
          ...series('a', 'unsupported', 'node-2'),
        ],
        promql_expr_test: [
          {
            expr: concrete(panel.targets![0].expr),
            eval_time: '2m',
            exp_samples: ['a', 'b', 'c'].map((feature, i) => ({
              labels: `{feature="${feature}"}`,
              value: valueOf(['supported', 'unknown', 'unsupported'][i]),
            })),
          },
        ],
      },
    ],
  };
  const file = tempFile(t, 'test.yaml', stringify(test));
  const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stdout + run.stderr);
});

t.test('the dashboard is identified for provisioning', async (t) => {
  t.equal(dashboard.uid, 'criu-readiness');
  t.equal(dashboard.title, 'CRIU readiness');
});
