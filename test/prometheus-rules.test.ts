// The alert rules: valid for promtool, unit-tested for every alert, about
// metrics the service exposes, per profile (a check the profile cannot answer
// never alerts, from the one list in deploy/prometheus/unanswerable.yaml),
// and the same groups in the PrometheusRule.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Metrics } from '../src/metrics.js';
import {
  PROMETHEUS_RULE_YAML,
  RULES_YAML,
  featureRegex,
  prometheusRule,
  readUnanswerable,
  withUnanswerable,
} from '../scripts/prometheusrule.js';
import { CATALOGUE } from '../src/catalogue.js';
import { DEPLOY, build, daemonSet, getField, type JsonObject } from './helpers/deploy.js';
import { cannedReport, exposition, promtool } from './helpers/prometheus.js';
import { MemorySource } from './helpers/memory-source.js';

const RULES = fileURLToPath(RULES_YAML);
const RULE_TESTS = fileURLToPath(new URL('../deploy/prometheus/rules.test.yaml', import.meta.url));

interface Rules {
  groups: { name: string; rules: { alert: string; expr: string; labels: { severity: string } }[] }[];
}
interface RuleTests {
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const rules = parse(readFileSync(RULES, 'utf8')) as Rules;
const alerts = rules.groups.flatMap((g) => g.rules);

t.test('promtool check rules passes', async (t) => {
  const result = promtool(['check', 'rules', RULES]);
  t.equal(result.status, 0, result.output);
});

t.test('promtool test rules passes', async (t) => {
  const result = promtool(['test', 'rules', RULE_TESTS]);
  t.equal(result.status, 0, result.output);
  t.match(result.output, /SUCCESS/);
});

t.test('every alert has a unit test where it fires and one where it does not', async (t) => {
  const cases = (parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTests).tests.flatMap((test) => test.alert_rule_test);
  for (const { alert } of alerts) {
    const own = cases.filter((c) => c.alertname === alert);
    t.ok(
      own.some((c) => c.exp_alerts.length > 0),
      `${alert} fires`,
    );
    t.ok(
      own.some((c) => c.exp_alerts.length === 0),
      `${alert} does not fire`,
    );
  }
});

t.test('the alerts are the ones the design asks for, with their severities', async (t) => {
  t.same(Object.fromEntries(alerts.map((a) => [a.alert, a.labels.severity])), {
    CriuReadinessRequiredFeatureMissing: 'critical',
    CriuReadinessRequiredFeatureUnknown: 'warning',
    CriuReadinessExtraFeatureMissing: 'warning',
    CriuReadinessCheckStale: 'warning',
    CriuReadinessCheckRunsFailing: 'warning',
    CriuReadinessTargetDown: 'warning',
    CriuReadinessMetricsAbsent: 'warning',
  });
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const { alert } of alerts) t.match(readme, alert, `deploy/README.md describes ${alert}`);
});

t.test('service down, nothing scraped and nothing fresh each alert, even with no series left', async (t) => {
  const expr = (name: string) => alerts.find((a) => a.alert === name)!.expr;
  t.match(expr('CriuReadinessTargetDown'), /^up\{job=~"[^"]+"\} == 0$/);
  // The job of the PodMonitor (namespace/name) and of a plain scrape job named criu-readiness.
  const job = new RegExp(`^${/job=~"([^"]+)"/.exec(expr('CriuReadinessTargetDown'))![1]}$`);
  for (const name of ['criu-readiness/criu-readiness', 'criu-readiness']) t.match(name, job, name);
  t.notMatch('node-exporter', job);
  t.equal(expr('CriuReadinessMetricsAbsent'), 'absent(criu_readiness_ready)');
  t.match(
    expr('CriuReadinessCheckStale'),
    /time\(\) - criu_readiness_last_check_timestamp_seconds > \d+\s+or absent\(criu_readiness_last_check_timestamp_seconds\)/,
  );
});

const unanswerable = readUnanswerable();

t.test(
  "each profile's unanswerable checks are catalogue features, written into the rules from the one list",
  async (t) => {
    const names = new Set(CATALOGUE.map((f) => f.name));
    t.same(Object.keys(unanswerable).sort(), ['full-fidelity', 'least-privilege'], 'one entry per profile component');
    t.same(unanswerable['full-fidelity'], {}, 'full fidelity answers every check');
    for (const [profile, features] of Object.entries(unanswerable)) {
      for (const [name, why] of Object.entries(features)) {
        t.ok(names.has(name), `${profile}: ${name} is a feature`);
        t.ok(['ReadOnlyFilesystem', 'DeviceUnavailable', 'seccomp'].includes(why), `${profile}: ${name}: ${why}`);
      }
    }
    const text = readFileSync(RULES, 'utf8');
    t.equal(
      text,
      withUnanswerable(text, unanswerable),
      'rules.yaml has the list: regenerate with `node --import tsx scripts/prometheusrule.ts`',
    );
    const unknown = alerts.find((a) => a.alert === 'CriuReadinessRequiredFeatureUnknown')!;
    t.match(
      unknown.expr,
      `profile="least-privilege",feature=~"${featureRegex(Object.keys(unanswerable['least-privilege']))}"`,
    );
    // The two required checks no non-privileged container can answer are in it.
    for (const name of ['ns_last_pid', 'ipc']) t.ok(name in unanswerable['least-privilege'], name);
    // Only the unknown alert excludes anything: a missing feature alerts in every profile.
    for (const { alert, expr } of alerts)
      if (alert !== unknown.alert) t.notMatch(expr, /profile/, `${alert} is the same in every profile`);
  },
);

t.test('the series carry the profile the rules key on: the pod label, copied by the PodMonitor', async (t) => {
  for (const profile of Object.keys(unanswerable)) {
    const built = build(join(DEPLOY, 'overlays', profile));
    const { ds } = daemonSet(built);
    t.equal(
      (getField(ds, 'spec.template.metadata.labels') as JsonObject)['criu-readiness/profile'],
      profile,
      `${profile}: pod label`,
    );
    t.notOk(
      (getField(ds, 'spec.selector.matchLabels') as JsonObject)['criu-readiness/profile'],
      'not in the selector, which cannot change',
    );
    const monitor = built.find((o) => o.kind === 'PodMonitor')!;
    const relabelings = (getField(monitor, 'spec.podMetricsEndpoints') as JsonObject[]).flatMap(
      (e) => e.relabelings as JsonObject[],
    );
    t.ok(
      relabelings.some(
        (r) =>
          r.targetLabel === 'profile' &&
          JSON.stringify(r.sourceLabels) === JSON.stringify(['__meta_kubernetes_pod_label_criu_readiness_profile']),
      ),
      `${profile}: the PodMonitor sets profile from the pod label`,
    );
  }
});

t.test('the rules only read metrics the service exposes', async (t) => {
  const source = new MemorySource();
  const metrics = new Metrics(source);
  source.publish(cannedReport());
  const body = await exposition(metrics);
  const exposed = new Set([...body.matchAll(/^(criu_readiness_\w+)[{ ]/gm)].map((m) => m[1]));
  for (const { alert, expr } of alerts) {
    for (const [name] of expr.matchAll(/criu_readiness_\w+/g)) t.ok(exposed.has(name), `${alert}: ${name}`);
  }
});

t.test('the PrometheusRule holds the groups of the rules file', async (t) => {
  const committed = readFileSync(PROMETHEUS_RULE_YAML, 'utf8');
  t.equal(
    committed,
    prometheusRule(readFileSync(RULES_YAML, 'utf8')),
    'regenerate it with `node --import tsx scripts/prometheusrule.ts`',
  );
  const resource = parse(committed) as { apiVersion: string; kind: string; spec: { groups: unknown } };
  t.equal(resource.apiVersion, 'monitoring.coreos.com/v1');
  t.equal(resource.kind, 'PrometheusRule');
  t.same(resource.spec.groups, rules.groups);
});
