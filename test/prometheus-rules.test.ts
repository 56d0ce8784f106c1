// The alert rules: valid for promtool, unit-tested for every alert, about
// metrics the service exposes, and the same groups in the PrometheusRule.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Metrics } from '../src/metrics.js';
import { PROMETHEUS_RULE_YAML, RULES_YAML, prometheusRule } from '../scripts/prometheusrule.js';
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
    t.ok(own.some((c) => c.exp_alerts.length > 0), `${alert} fires`);
    t.ok(own.some((c) => c.exp_alerts.length === 0), `${alert} does not fire`);
  }
});

t.test('the alerts are the ones the design asks for, with their severities', async (t) => {
  t.same(Object.fromEntries(alerts.map((a) => [a.alert, a.labels.severity])), {
    CriuReadinessRequiredFeatureMissing: 'critical',
    CriuReadinessRequiredFeatureUnknown: 'warning',
    CriuReadinessExtraFeatureMissing: 'warning',
    CriuReadinessCheckStale: 'warning',
    CriuReadinessCheckRunsFailing: 'warning',
  });
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
  t.equal(committed, prometheusRule(readFileSync(RULES_YAML, 'utf8')), 'regenerate it with `node --import tsx scripts/prometheusrule.ts`');
  const resource = parse(committed) as { apiVersion: string; kind: string; spec: { groups: unknown } };
  t.equal(resource.apiVersion, 'monitoring.coreos.com/v1');
  t.equal(resource.kind, 'PrometheusRule');
  t.same(resource.spec.groups, rules.groups);
});
