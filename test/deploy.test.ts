// deploy/: every manifest parses, every overlay resolves (with the test
// resolver, and the same as the real kustomize where kubectl is installed),
// every Kubernetes object validates against the Kubernetes schemas, the
// custom resources have what their controllers require, and every port and
// path the manifests use is one the service really serves.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { parseSettings } from '../src/config.js';
import { VerdictCache } from '../src/service/cache.js';
import { ProbeEngine } from '../src/engine/engine.js';
import { buildApp } from '../src/http/app.js';
import { CATALOGUE, findFeature } from '../src/catalogue.js';
import { readUnanswerable } from '../scripts/prometheusrule.js';
import { MemorySource, TEST_FEATURES, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';
import {
  DEPLOY,
  ROOT,
  SERVICE_PORT,
  build,
  canonical,
  composed,
  daemonSet,
  filesUnder,
  getField,
  isObject,
  kustomizations,
  loadYaml,
  realKustomize,
  type Json,
  type JsonObject,
  type K8sObject,
} from './helpers/deploy.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const { overlays, components } = kustomizations();
const overlay = (name: string) => join(DEPLOY, 'overlays', name);
const PROFILES = ['full-fidelity', 'least-privilege'] as const;
const INTEGRATIONS = ['runtime-chain', 'node-readiness', 'node-problem-detector', 'nfd', 'network-policy'] as const;

/** Every combination an operator is told to use: a profile, then integrations (or the Prometheus Operator opt-out). */
function combinations(t: Test): Map<string, string> {
  const out = new Map<string, string>(overlays.map((dir) => [`overlays/${basename(dir)}`, dir]));
  for (const profile of PROFILES) {
    out.set(`${profile} + every integration`, composed(t, [profile, ...INTEGRATIONS]));
    out.set(`${profile} + without-prometheus-operator`, composed(t, [profile, 'without-prometheus-operator']));
  }
  return out;
}

const containersOf = (pod: JsonObject, field = 'containers') =>
  Array.isArray(pod[field]) ? (pod[field] as JsonObject[]) : [];
const str = (value: Json | undefined) => (typeof value === 'string' ? value : undefined);

t.test('every file under deploy/ parses', async (t) => {
  const yamlFiles = filesUnder(DEPLOY, ['.yaml', '.yml']);
  t.ok(yamlFiles.length > 10);
  for (const file of yamlFiles) t.doesNotThrow(() => loadYaml(file), relative(ROOT, file));
  for (const file of filesUnder(DEPLOY, ['.json']))
    t.doesNotThrow(() => JSON.parse(readFileSync(file, 'utf8')), relative(ROOT, file));
});

t.test('the overlays are full-fidelity, least-privilege and integrations, and every component is used', async (t) => {
  t.same(overlays.map((d) => basename(d)).sort(), ['full-fidelity', 'integrations', 'least-privilege']);
  t.same(
    components.map((d) => basename(d)).sort(),
    // host-criu (below runtime-chain) is for full fidelity only: test/runtime-deploy.test.ts.
    [...PROFILES, ...INTEGRATIONS, 'without-prometheus-operator', 'host-criu'].sort(),
  );
});

t.test('every overlay and combination resolves as the real kustomize resolves it', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const mine = build(dir);
    t.ok(mine.length >= 5, `${name}: ${mine.length} objects`);
    const real = realKustomize(dir);
    if (!real) {
      t.comment('kubectl is not installed: compared with the test resolver only');
      continue;
    }
    t.same(canonical(mine), canonical(real), name);
  }
});

// kubernetes-models' module path for each built-in apiVersion/kind we deploy.
const BUILT_IN: Record<string, string> = {
  'v1/Namespace': 'v1/Namespace',
  'v1/ServiceAccount': 'v1/ServiceAccount',
  'v1/Service': 'v1/Service',
  'v1/ConfigMap': 'v1/ConfigMap',
  'apps/v1/DaemonSet': 'apps/v1/DaemonSet',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
  'networking.k8s.io/v1/NetworkPolicy': 'networking.k8s.io/v1/NetworkPolicy',
};
const CUSTOM = new Set([
  'monitoring.coreos.com/v1/PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
  'readiness.node.x-k8s.io/v1alpha1/NodeReadinessRule',
]);

interface Validatable {
  validate(): void;
}

t.test('every built-in object validates against the Kubernetes schemas (kubernetes-models)', async (t) => {
  for (const [name, dir] of combinations(t)) {
    for (const object of build(dir)) {
      const id = `${object.apiVersion}/${object.kind}`;
      if (CUSTOM.has(id)) continue;
      t.ok(id in BUILT_IN, `${name}: ${id} is a kind the tests validate`);
      if (!(id in BUILT_IN)) continue;
      const module = (await import(`kubernetes-models/${BUILT_IN[id]}`)) as Record<
        string,
        new (data: K8sObject) => Validatable
      >;
      const Model = module[object.kind];
      t.doesNotThrow(() => new Model(object).validate(), `${name}: ${object.kind}/${object.metadata.name}`);
    }
  }
});

t.test('the schema validation is live: a broken DaemonSet is refused', async (t) => {
  const { DaemonSet } = await import('kubernetes-models/apps/v1/DaemonSet');
  const { ds } = daemonSet(build(overlay('full-fidelity')));
  const broken = structuredClone(ds);
  (getField(broken, 'spec.template.spec.containers.[name=criu-readiness].ports') as JsonObject[])[0].containerPort =
    'http';
  t.throws(() => new DaemonSet(broken as never).validate());
});

// ---------------------------------------------------------------------------
// The DaemonSet

t.test('the DaemonSet runs on every amd64 Linux node, critical, without host namespaces or API token', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { pod } = daemonSet(build(dir));
    t.same(pod.tolerations, [{ operator: 'Exists' }], `${name}: tolerates every taint`);
    t.equal(pod.priorityClassName, 'system-node-critical');
    t.equal(pod.automountServiceAccountToken, false);
    t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' });
    for (const field of ['hostPID', 'hostNetwork', 'hostIPC', 'shareProcessNamespace'])
      t.notOk(pod[field], `${name}: no ${field}`);
  }
});

t.test('the selector matches the pod, and the Service and PodMonitor select the same pods', async (t) => {
  const built = build(overlay('integrations'));
  const { ds } = daemonSet(built);
  const labels = getField(ds, 'spec.template.metadata.labels') as JsonObject;
  const matches = (selector: Json | undefined) =>
    isObject(selector) && Object.entries(selector).every(([k, v]) => labels[k] === v);
  t.ok(matches(getField(ds, 'spec.selector.matchLabels')));
  t.ok(
    matches(
      getField(
        built.find((o) => o.kind === 'Service')!,
        'spec.selector',
      ),
    ),
  );
  t.ok(
    matches(
      getField(
        built.find((o) => o.kind === 'PodMonitor')!,
        'spec.selector.matchLabels',
      ),
    ),
  );
});

/** A Kubernetes memory quantity in bytes: the binary suffixes the manifests use, or plain bytes. */
function bytes(quantity: Json | undefined): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(quantity));
  if (!match) throw new Error(`not a memory quantity this test reads: ${String(quantity)}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1;
  return Number(match[1]) * unit;
}

// A memory-backed emptyDir is charged to the pod's memory: the limit must
// hold the service at its request and /tmp filled, or a full /tmp gets the
// service OOM-killed at rest.
t.test("the service's memory limit holds its request and its memory-backed volumes filled", async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { pod, containers } = daemonSet(build(dir));
    const service = containers.get('criu-readiness') as JsonObject;
    const mounted = new Set(
      (Array.isArray(service.volumeMounts) ? (service.volumeMounts as JsonObject[]) : []).map((m) => m.name),
    );
    const inMemory = (Array.isArray(pod.volumes) ? (pod.volumes as JsonObject[]) : [])
      .filter((v) => mounted.has(v.name) && getField(v, 'emptyDir.medium') === 'Memory')
      .map((v) => bytes(getField(v, 'emptyDir.sizeLimit')));
    const request = bytes(getField(service, 'resources.requests.memory'));
    const limit = bytes(getField(service, 'resources.limits.memory'));
    t.ok(inMemory.length > 0, `${name}: /tmp is memory-backed (what this test is about)`);
    t.ok(
      limit >= request + inMemory.reduce((a, b) => a + b, 0),
      `${name}: limit ${limit} >= request ${request} + ${inMemory.join(' + ')}`,
    );
  }
});

t.test('every container has requests, a memory limit, a read-only root and valid, unique named ports', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { pod } = daemonSet(build(dir));
    const portNames: string[] = [];
    const portNumbers: number[] = [];
    for (const container of [...containersOf(pod), ...containersOf(pod, 'initContainers')]) {
      const where = `${name}: ${str(container.name)}`;
      t.ok(
        getField(container, 'resources.requests.cpu') && getField(container, 'resources.requests.memory'),
        `${where} requests`,
      );
      t.ok(getField(container, 'resources.limits.memory'), `${where} memory limit`);
      t.equal(getField(container, 'securityContext.readOnlyRootFilesystem'), true, `${where} read-only root`);
      for (const port of Array.isArray(container.ports) ? (container.ports as JsonObject[]) : []) {
        // IANA_SVC_NAME: at most 15 characters, lower-case letters, digits and inner hyphens, a letter somewhere.
        const portName = String(port.name);
        t.ok(
          portName.length <= 15 &&
            /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(portName) &&
            /[a-z]/.test(portName) &&
            !portName.includes('--'),
          `${where}: port name ${portName}`,
        );
        portNames.push(portName);
        portNumbers.push(Number(port.containerPort));
      }
    }
    t.equal(new Set(portNames).size, portNames.length, `${name}: port names unique in the pod`);
    t.equal(new Set(portNumbers).size, portNumbers.length, `${name}: port numbers unique in the pod`);
  }
});

t.test('every volume is mounted and every mount names a volume', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { pod } = daemonSet(build(dir));
    const volumes = new Set((pod.volumes as JsonObject[]).map((v) => String(v.name)));
    const mounted = new Set<string>();
    for (const container of [...containersOf(pod), ...containersOf(pod, 'initContainers')]) {
      for (const mount of (container.volumeMounts ?? []) as JsonObject[]) {
        t.ok(volumes.has(String(mount.name)), `${name}: ${str(container.name)} mounts ${str(mount.name)}`);
        mounted.add(String(mount.name));
      }
    }
    t.same(
      [...volumes].filter((v) => !mounted.has(v)),
      [],
      `${name}: no unused volume`,
    );
  }
});

t.test('only the containers that talk to the API server get a token, read-only', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { containers } = daemonSet(build(dir));
    for (const [containerName, container] of containers) {
      const tokenMount = ((container.volumeMounts ?? []) as JsonObject[]).find(
        (m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount',
      );
      const talks = ['readiness-reporter', 'checkpoint-reporter', 'node-problem-detector'].includes(containerName);
      t.equal(Boolean(tokenMount), talks, `${name}: ${containerName} ${talks ? 'has' : 'has no'} token`);
      if (tokenMount) t.equal(tokenMount.readOnly, true);
    }
  }
});

t.test('security contexts are ones the API server accepts', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { pod } = daemonSet(build(dir));
    for (const container of [...containersOf(pod), ...containersOf(pod, 'initContainers')]) {
      const sc = (container.securityContext ?? {}) as JsonObject;
      if (sc.privileged === true)
        t.not(
          sc.allowPrivilegeEscalation,
          false,
          `${name}: ${str(container.name)}: privileged needs allowPrivilegeEscalation`,
        );
      const caps = (sc.capabilities ?? {}) as JsonObject;
      for (const cap of [...((caps.add ?? []) as string[]), ...((caps.drop ?? []) as string[])])
        t.match(cap, /^(ALL|[A-Z_]+)$/, `${name}: ${cap}`);
      for (const cap of (caps.add ?? []) as string[])
        t.notMatch(cap, /^CAP_/, 'Kubernetes names capabilities without CAP_');
    }
  }
});

t.test('full fidelity runs the service privileged', async (t) => {
  for (const dir of [overlay('full-fidelity'), overlay('integrations')]) {
    const { containers } = daemonSet(build(dir));
    const sc = containers.get('criu-readiness')!.securityContext as JsonObject;
    t.equal(sc.privileged, true);
    t.equal(sc.capabilities, undefined, 'nothing dropped from a privileged container');
  }
});

const LEAST_PRIVILEGE_CAPS = ['DAC_OVERRIDE', 'NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE'];

t.test('least privilege drops everything and adds back only the capabilities the checks use', async (t) => {
  const { containers } = daemonSet(build(overlay('least-privilege')));
  const sc = containers.get('criu-readiness')!.securityContext as JsonObject;
  t.notOk(sc.privileged);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.same(getField(sc, 'capabilities.drop'), ['ALL']);
  t.same([...(getField(sc, 'capabilities.add') as string[])].sort(), LEAST_PRIVILEGE_CAPS);
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const cap of LEAST_PRIVILEGE_CAPS) t.match(readme, `CAP_${cap}`, `README explains CAP_${cap}`);
});

t.test('the main image is criu-readiness at the package version', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { containers } = daemonSet(build(dir));
    t.equal(containers.get('criu-readiness')!.image, `criu-readiness:${pkg.version}`, name);
  }
});

t.test("the node-problem-detector sidecar runs in the service image with the service's privileges", async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { containers } = daemonSet(build(dir));
    const npd = containers.get('node-problem-detector');
    if (!npd) continue;
    const service = containers.get('criu-readiness')!;
    t.equal(npd.image, service.image, `${name}: image`);
    t.same(npd.securityContext, service.securityContext, `${name}: securityContext`);
  }
});

t.test("the Service reaches the named port of the local node's pod, ready or not", async (t) => {
  const built = build(overlay('full-fidelity'));
  const service = built.find((o) => o.kind === 'Service')!;
  const { containers } = daemonSet(built);
  const ports = (containers.get('criu-readiness')!.ports as JsonObject[]).map((p) => p.name);
  for (const port of getField(service, 'spec.ports') as JsonObject[]) {
    t.ok(ports.includes(port.targetPort), `targetPort ${String(port.targetPort)} is a container port`);
    t.equal(port.port, SERVICE_PORT);
  }
  t.equal(getField(service, 'spec.internalTrafficPolicy'), 'Local');
  t.equal(getField(service, 'spec.publishNotReadyAddresses'), true);
});

t.test('the dashboard ConfigMap carries the grafana_dashboard label and the dashboard JSON', async (t) => {
  const configMap = build(overlay('full-fidelity')).find(
    (o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1',
  );
  t.ok(configMap);
  const data = configMap!.data as JsonObject;
  t.same(Object.keys(data), ['criu-readiness.json']);
  t.same(
    JSON.parse(String(data['criu-readiness.json'])),
    JSON.parse(readFileSync(join(DEPLOY, 'base', 'grafana-dashboard.json'), 'utf8')),
  );
});

// ---------------------------------------------------------------------------
// Custom resources: what their controllers require.

const PROM_DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const toSeconds = (d: string) => {
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  return [...d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)].reduce((sum, [, n, u]) => sum + Number(n) * unit[u], 0);
};

t.test('the PodMonitor scrapes the metrics port and adds the node label by relabelling', async (t) => {
  const built = build(overlay('full-fidelity'));
  const monitor = built.find((o) => o.kind === 'PodMonitor')!;
  const { containers } = daemonSet(built);
  const portNames = (containers.get('criu-readiness')!.ports as JsonObject[]).map((p) => p.name);
  t.ok(isObject(getField(monitor, 'spec.selector')), 'spec.selector is required');
  const endpoints = getField(monitor, 'spec.podMetricsEndpoints') as JsonObject[];
  t.ok(Array.isArray(endpoints) && endpoints.length > 0);
  for (const endpoint of endpoints) {
    t.ok(portNames.includes(endpoint.port), `port ${String(endpoint.port)} is a named container port`);
    t.equal(endpoint.path, '/metrics');
    t.match(String(endpoint.interval), PROM_DURATION);
    t.match(String(endpoint.scrapeTimeout), PROM_DURATION);
    t.ok(
      toSeconds(String(endpoint.scrapeTimeout)) <= toSeconds(String(endpoint.interval)),
      'scrapeTimeout <= interval',
    );
    t.same(endpoint.relabelings, [
      { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' },
      {
        action: 'replace',
        sourceLabels: ['__meta_kubernetes_pod_label_criu_readiness_profile'],
        targetLabel: 'profile',
      },
    ]);
  }
});

t.test('the PrometheusRule has named groups of rules, each an alert or a record with an expression', async (t) => {
  const rule = build(overlay('full-fidelity')).find((o) => o.kind === 'PrometheusRule');
  t.ok(rule, 'deploy/base/prometheusrule.yaml is part of the base');
  const groups = getField(rule!, 'spec.groups') as JsonObject[];
  t.ok(Array.isArray(groups) && groups.length > 0);
  t.equal(new Set(groups.map((g) => g.name)).size, groups.length, 'group names unique');
  for (const group of groups) {
    t.match(String(group.name), /\S/);
    for (const r of group.rules as JsonObject[]) {
      t.ok(typeof r.expr === 'string' && r.expr.length > 0, 'expr');
      t.ok((typeof r.alert === 'string') !== (typeof r.record === 'string'), 'exactly one of alert and record');
      if (r.for !== undefined) t.match(String(r.for), PROM_DURATION);
    }
  }
});

t.test("the NodeReadinessRules (required and checkpoint levels) satisfy the CRD's schema and rules", async (t) => {
  const built = build(overlay('integrations'));
  const rules = built.filter((o) => o.kind === 'NodeReadinessRule');
  t.same(
    rules.map((r) => r.metadata.name),
    ['criu-readiness', 'criu-readiness-checkpoint'],
  );
  t.equal(new Set(rules.map((r) => getField(r, 'spec.taint.key'))).size, rules.length, 'each rule its own taint');
  for (const rule of rules) checkRule(t, rule);
});

function checkRule(t: Test, rule: K8sObject): void {
  t.equal(rule.apiVersion, 'readiness.node.x-k8s.io/v1alpha1');
  t.equal(rule.metadata.namespace, undefined, 'cluster-scoped');
  const spec = rule.spec as JsonObject;
  for (const field of ['conditions', 'enforcementMode', 'nodeSelector', 'taint'])
    t.ok(field in spec, `spec.${field} is required`);
  const conditions = spec.conditions as JsonObject[];
  t.ok(conditions.length >= 1 && conditions.length <= 32);
  t.equal(new Set(conditions.map((c) => c.type)).size, conditions.length, 'condition types unique (listMapKey)');
  for (const c of conditions) {
    t.ok(typeof c.type === 'string' && c.type.length >= 1 && c.type.length <= 316);
    t.ok(['True', 'False', 'Unknown'].includes(String(c.requiredStatus)));
    if (spec.enforcementMode === 'bootstrap-only')
      t.equal(c.defaultStatus, undefined, 'no defaultStatus with bootstrap-only');
  }
  t.ok(['bootstrap-only', 'continuous'].includes(String(spec.enforcementMode)));
  if (spec.conditionPolicy !== undefined) t.ok(['allOf', 'anyOf'].includes(String(spec.conditionPolicy)));
  const taint = spec.taint as JsonObject;
  const key = String(taint.key);
  t.ok(key.startsWith('readiness.k8s.io/') && key.length <= 253 && key.split('/').length === 2);
  const local = key.split('/')[1];
  t.ok(local.length >= 1 && local.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(local));
  t.ok(taint.value === undefined || String(taint.value).length <= 63);
  t.ok(['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(String(taint.effect)));
  t.ok(
    isObject(spec.nodeSelector) && Object.keys(spec.nodeSelector).length > 0,
    'gates only the nodes that ask for it',
  );
}

t.test(
  'each reporter writes the condition its rule waits for, from /check?level=required or checkpoint on the service port',
  async (t) => {
    const built = build(overlay('integrations'));
    const { containers } = daemonSet(built);
    for (const [reporter, ruleName, level] of [
      ['readiness-reporter', 'criu-readiness', 'required'],
      ['checkpoint-reporter', 'criu-readiness-checkpoint', 'checkpoint'],
    ] as const) {
      const rule = built.find((o) => o.kind === 'NodeReadinessRule' && o.metadata.name === ruleName)!;
      const env = new Map((containers.get(reporter)!.env as JsonObject[]).map((e) => [e.name, e]));
      t.same(
        (getField(rule, 'spec.conditions') as JsonObject[]).map((c) => c.type),
        [env.get('CONDITION_TYPE')!.value],
        reporter,
      );
      t.same(env.get('NODE_NAME')!.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
      const endpoint = new URL(String(env.get('CHECK_ENDPOINT')!.value));
      t.equal(endpoint.protocol, 'http:');
      t.equal(endpoint.hostname, '127.0.0.1', 'the same pod: its own node');
      t.equal(Number(endpoint.port), SERVICE_PORT);
      t.equal(endpoint.pathname, '/check');
      t.equal(endpoint.searchParams.get('level'), level, reporter);
    }
    // The RBAC lets the pod's account write node status.
    const binding = built.find(
      (o) => o.kind === 'ClusterRoleBinding' && getField(o, 'roleRef.name') === 'criu-readiness-node-status',
    )!;
    const { ds } = daemonSet(built);
    t.same(getField(binding, 'subjects'), [
      {
        kind: 'ServiceAccount',
        name: getField(ds, 'spec.template.spec.serviceAccountName'),
        namespace: ds.metadata.namespace,
      },
    ]);
    const role = built.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'criu-readiness-node-status')!;
    t.same(getField(role, 'rules'), [
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch', 'update'] },
    ]);
  },
);

// ---------------------------------------------------------------------------
// Probes: the pod's readiness is the service's, not the kernel's verdict.

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;

t.test(
  'the service is ready when its first check run has finished (/readyz), in every overlay and combination',
  async (t) => {
    for (const [name, dir] of combinations(t)) {
      const { containers } = daemonSet(build(dir));
      const service = containers.get('criu-readiness')!;
      t.equal(getField(service, 'readinessProbe.httpGet.path'), '/readyz', `${name}: readinessProbe`);
      t.equal(getField(service, 'livenessProbe.httpGet.path'), '/healthz', `${name}: livenessProbe`);
    }
  },
);

t.test(
  "the readiness probe's path answers 200 once the first run is done, on a node that fails or cannot check the required level",
  async (t) => {
    const { containers } = daemonSet(build(overlay('full-fidelity')));
    const path = String(getField(containers.get('criu-readiness')!, 'readinessProbe.httpGet.path'));
    const required = TEST_FEATURES.find((f) => f.category === 'required')!.name;
    for (const [verdict, outcome] of [
      ['missing', UNSUPPORTED(required)],
      ['unknown', UNKNOWN(required)],
    ] as const) {
      const source = new MemorySource();
      const app = buildApp({ source });
      t.teardown(() => app.close());
      t.equal((await app.inject(path)).statusCode, 503, `${verdict}: not ready before the first run`);
      source.outcomes = { [required]: outcome };
      await source.refresh();
      t.equal((await app.inject('/check?level=required')).statusCode, 503, `${verdict}: the kernel fails the level`);
      t.equal((await app.inject(path)).statusCode, 200, `${verdict}: the pod is ready all the same`);
    }
  },
);

t.test(
  "no probe of any container asks for a verdict (/check): rollouts never wait on the nodes' kernels",
  async (t) => {
    for (const [name, dir] of combinations(t)) {
      const { pod } = daemonSet(build(dir));
      for (const container of [...containersOf(pod), ...containersOf(pod, 'initContainers')]) {
        for (const probe of PROBES) {
          const path = getField(container, `${probe}.httpGet.path`);
          if (typeof path === 'string')
            t.notMatch(path, /^\/check/, `${name}: ${str(container.name)} ${probe} ${path}`);
        }
      }
    }
  },
);

/**
 * What each pinned image of a third-party sidecar serves over HTTP (port -> paths).
 * node-readiness-controller's reporter v0.5.0 serves nothing: /healthz and
 * /metrics on :9445 came with commit 33bdbc9c, in no release.
 */
const SERVED_BY_IMAGE: Record<string, Record<number, string[]>> = {
  'registry.k8s.io/node-readiness-controller/node-readiness-reporter:v0.5.0': {},
};

t.test('third-party sidecars are pinned, and probed only on a port and path their image serves', async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { containers } = daemonSet(build(dir));
    const reporter = containers.get('readiness-reporter');
    if (!reporter) continue;
    const image = String(reporter.image);
    t.ok(image in SERVED_BY_IMAGE, `${name}: ${image} is a pinned tag whose endpoints the test knows`);
    const served = SERVED_BY_IMAGE[image] ?? {};
    const ports = new Map(
      ((reporter.ports ?? []) as JsonObject[]).map((p) => [String(p.name), Number(p.containerPort)]),
    );
    for (const [, number] of ports)
      t.ok(number in served, `${name}: declares port ${number}, which ${image} listens on`);
    for (const probe of PROBES) {
      const spec = reporter[probe];
      if (spec === undefined) continue;
      const http = getField(spec, 'httpGet') as JsonObject | undefined;
      const tcp = getField(spec, 'tcpSocket') as JsonObject | undefined;
      const target = http ?? tcp;
      t.ok(target, `${name}: ${probe} is an HTTP or TCP probe the test can check`);
      if (!target) continue;
      const port = typeof target.port === 'number' ? target.port : ports.get(String(target.port));
      t.ok(
        port !== undefined && port in served,
        `${name}: ${probe} on port ${String(target.port)}, which ${image} serves`,
      );
      if (http && port !== undefined && port in served)
        t.ok(served[port].includes(String(http.path)), `${name}: ${probe} path ${String(http.path)}`);
    }
  }
  // The reporter at v0.5.0: no port, no probe at all.
  const { containers } = daemonSet(build(overlay('integrations')));
  const reporter = containers.get('readiness-reporter')!;
  for (const probe of PROBES) t.equal(reporter[probe], undefined, `no ${probe}`);
  t.equal(reporter.ports, undefined, 'no port');
});

t.test("README.md says the pod's readiness is /readyz, never the kernel's verdict", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const { containers } = daemonSet(build(overlay('full-fidelity')));
  const path = String(getField(containers.get('criu-readiness')!, 'readinessProbe.httpGet.path'));
  t.match(readme, `readiness probe \`${path}\``, 'names the probe the manifests have');
  t.notMatch(readme, /readiness probe `\/check/, 'no readiness probe on a verdict');
});

/** The rows of the Markdown table whose header row starts with `| first |`, as cells. */
function tableRows(markdown: string, first: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`| ${first} |`) && /\| why \|$/.test(line));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** README.md's section "Checks that may answer `unknown`, and why". */
function unknownsSection(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf('### Checks that may answer `unknown`');
  return readme.slice(from, readme.indexOf('\n## ', from));
}

t.test(
  "every check least privilege cannot answer is in deploy/README.md's table (its level, reason) and named in README.md",
  async (t) => {
    const unanswerable = readUnanswerable()['least-privilege'];
    const rows = tableRows(readFileSync(join(DEPLOY, 'README.md'), 'utf8'), 'check');
    const listed = new Map(
      rows.flatMap(([names, level, reason]) => names.split(', ').map((n) => [n, { level, reason }])),
    );
    t.same([...listed.keys()].sort(), Object.keys(unanswerable).sort(), 'the table lists exactly unanswerable.yaml');
    for (const [name, why] of Object.entries(unanswerable)) {
      t.same(
        listed.get(name),
        { level: findFeature(name)?.category, reason: why === 'seccomp' ? 'PermissionDenied' : why },
        `${name}: the catalogue's level, the reason the service gives`,
      );
    }
    const section = unknownsSection();
    for (const name of Object.keys(unanswerable)) t.match(section, `\`${name}\``, `README.md names ${name}`);
  },
);

t.test(
  "README.md's table of unknowns names every kernel check that needs a capability, a device or a writable /proc/sys",
  async (t) => {
    const section = unknownsSection();
    const table = section.split('\n').filter((line) => line.startsWith('| `'));
    for (const feature of CATALOGUE) {
      if (feature.category === 'runtime' || !/CAP_|\/dev\/|\/proc\/sys/.test(feature.needs ?? '')) continue;
      t.ok(
        table.some((row) => row.split('|')[1].includes(`\`${feature.name}\``)),
        `${feature.name} (needs ${feature.needs})`,
      );
    }
  },
);

t.test('the README tells to register nodes with the taint, as node-readiness-controller advises', async (t) => {
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  t.match(readme, '--register-with-taints');
  t.match(readme, 'readiness.k8s.io/CRIUReady=pending:NoSchedule');
  t.notMatch(readme, /DESIGN\.md|CATALOGUE\.md/, 'the README stands on its own');
});

// ---------------------------------------------------------------------------
// Seccomp: each container runs under the profile deploy/README.md documents.

/** Container -> seccompProfile type, per profile component (deploy/README.md, "Seccomp"). */
const SECCOMP: Record<(typeof PROFILES)[number], Record<string, string>> = {
  'full-fidelity': {
    'criu-readiness': 'Unconfined',
    'node-problem-detector': 'Unconfined',
    'readiness-reporter': 'RuntimeDefault',
    'checkpoint-reporter': 'RuntimeDefault',
    'install-node-problem-detector': 'RuntimeDefault',
  },
  'least-privilege': {
    'criu-readiness': 'RuntimeDefault',
    'node-problem-detector': 'RuntimeDefault',
    'readiness-reporter': 'RuntimeDefault',
    'checkpoint-reporter': 'RuntimeDefault',
    'install-node-problem-detector': 'RuntimeDefault',
  },
};

t.test('every container states its seccomp profile, the one deploy/README.md documents', async (t) => {
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const [name, dir] of combinations(t)) {
    const { ds, pod } = daemonSet(build(dir));
    const profile = (getField(ds, 'spec.template.metadata.labels') as JsonObject)[
      'criu-readiness/profile'
    ] as (typeof PROFILES)[number];
    t.ok(PROFILES.includes(profile), `${name}: the pod says its profile (${profile})`);
    for (const container of [...containersOf(pod), ...containersOf(pod, 'initContainers')]) {
      const expected = SECCOMP[profile]?.[String(container.name)];
      t.ok(expected, `${name}: ${str(container.name)} has a documented seccomp profile`);
      t.equal(getField(container, 'securityContext.seccompProfile.type'), expected, `${name}: ${str(container.name)}`);
    }
  }
  for (const profile of PROFILES) {
    for (const [container, type] of Object.entries(SECCOMP[profile])) {
      t.match(
        readme,
        new RegExp(`\\| ${profile} \\| ${container} \\| ${type} \\|`),
        `README: ${profile}, ${container}: ${type}`,
      );
    }
  }
});

// ---------------------------------------------------------------------------
// NetworkPolicy: port 9870 for Prometheus only.

t.test('the NetworkPolicy admits only Prometheus, only on the service port, to the criu-readiness pods', async (t) => {
  const built = build(overlay('integrations'));
  const policies = built.filter((o) => o.kind === 'NetworkPolicy');
  t.equal(policies.length, 1, 'the integrations overlay has the NetworkPolicy');
  const policy = policies[0];
  const { ds, containers } = daemonSet(built);
  t.equal(policy.metadata.namespace, ds.metadata.namespace, "in the pods' namespace");
  const podLabels = getField(ds, 'spec.template.metadata.labels') as JsonObject;
  const selector = getField(policy, 'spec.podSelector.matchLabels') as JsonObject;
  t.ok(
    Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v),
    'selects the criu-readiness pods',
  );
  t.same(
    getField(policy, 'spec.policyTypes'),
    ['Ingress'],
    'ingress only: egress (the API server, for the sidecars) stays open',
  );
  const rules = getField(policy, 'spec.ingress') as JsonObject[];
  t.equal(rules.length, 1);
  const servicePorts = new Map(
    (containers.get('criu-readiness')!.ports as JsonObject[]).map((p) => [p.name, p.containerPort]),
  );
  for (const rule of rules) {
    const ports = rule.ports as JsonObject[];
    t.equal(ports.length, 1);
    const port = ports[0].port;
    t.equal(
      typeof port === 'number' ? port : servicePorts.get(port as string),
      SERVICE_PORT,
      'the service port and no other',
    );
    t.equal(ports[0].protocol, 'TCP');
    const from = rule.from as JsonObject[];
    t.ok(Array.isArray(from) && from.length > 0, 'from someone, not from everyone');
    for (const peer of from) {
      // Both selectors in one peer: pods so labelled in namespaces so labelled (not either).
      t.ok(isObject(peer.namespaceSelector) && isObject(peer.podSelector), 'namespace and pod selector together');
      t.equal(peer.ipBlock, undefined);
      t.equal((getField(peer, 'podSelector.matchLabels') as JsonObject)['app.kubernetes.io/name'], 'prometheus');
    }
  }
  // Without the component, no policy.
  for (const profile of PROFILES)
    t.notOk(
      build(overlay(profile)).some((o) => o.kind === 'NetworkPolicy'),
      `${profile}: none`,
    );
});

t.test('a kustomize patch re-targets the NetworkPolicy at another Prometheus', async (t) => {
  const dir = composed(t, ['full-fidelity', 'network-policy']);
  const patch = [
    'patches:',
    '  - target: { kind: NetworkPolicy, name: criu-readiness }',
    '    patch: |-',
    '      - op: replace',
    '        path: /spec/ingress/0/from/0/namespaceSelector/matchLabels',
    '        value: { kubernetes.io/metadata.name: observability }',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'kustomization.yaml'), readFileSync(join(dir, 'kustomization.yaml'), 'utf8') + patch);
  const real = realKustomize(dir);
  if (!real) {
    t.comment('kubectl is not installed: the JSON patch the README shows is not checked');
    return;
  }
  const policy = real.find((o) => o.kind === 'NetworkPolicy')!;
  t.same(getField(policy, 'spec.ingress.0.from.0.namespaceSelector.matchLabels'), {
    'kubernetes.io/metadata.name': 'observability',
  });
  t.same(getField(policy, 'spec.ingress.0.from.0.podSelector.matchLabels'), { 'app.kubernetes.io/name': 'prometheus' });
});

// ---------------------------------------------------------------------------
// Against the service itself.

/** Every HTTP GET the manifests make against the service, with who makes it. */
function pathsUsed(built: readonly K8sObject[]): Map<string, string> {
  const used = new Map<string, string>();
  const { containers } = daemonSet(built);
  const service = containers.get('criu-readiness')!;
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const path = getField(service, `${probe}.httpGet.path`);
    if (typeof path === 'string') used.set(path, probe);
  }
  for (const monitor of built.filter((o) => o.kind === 'PodMonitor')) {
    for (const endpoint of getField(monitor, 'spec.podMetricsEndpoints') as JsonObject[])
      used.set(String(endpoint.path), 'PodMonitor');
  }
  const reporter = containers.get('readiness-reporter');
  const endpoint = reporter && (reporter.env as JsonObject[]).find((e) => e.name === 'CHECK_ENDPOINT');
  if (endpoint) {
    const url = new URL(String(endpoint.value));
    used.set(url.pathname + url.search, 'readiness-reporter');
  }
  return used;
}

t.test("probes, monitors and the reporter use the service's named port", async (t) => {
  for (const [name, dir] of combinations(t)) {
    const { containers } = daemonSet(build(dir));
    const service = containers.get('criu-readiness')!;
    const http = (service.ports as JsonObject[]).find((p) => p.name === 'http')!;
    t.equal(http.containerPort, SERVICE_PORT, name);
    for (const probe of ['livenessProbe', 'readinessProbe'])
      t.equal(getField(service, `${probe}.httpGet.port`), 'http', `${name}: ${probe}`);
  }
});

t.test('the service listens where the manifests look, and every serve argument is one it takes', async (t) => {
  t.equal(parseSettings([], {}).listen.port, SERVICE_PORT);
  for (const [name, dir] of combinations(t)) {
    const { containers } = daemonSet(build(dir));
    const service = containers.get('criu-readiness')!;
    t.equal(service.command, undefined, `${name}: the image's entrypoint (tini) stays`);
    const [command, ...args] = service.args as string[];
    t.equal(command, 'serve');
    const settings = parseSettings(args, {});
    if (settings.nfdFeaturesFile) {
      const mounts = (service.volumeMounts as JsonObject[]).map((m) => m.mountPath);
      t.ok(
        mounts.includes(dirname(settings.nfdFeaturesFile)),
        `${name}: the NFD feature file is written into a mounted directory`,
      );
      t.equal(basename(settings.nfdFeaturesFile), 'criu-readiness');
      t.equal(dirname(settings.nfdFeaturesFile), '/etc/kubernetes/node-feature-discovery/features.d');
    }
  }
});

t.test("the NFD directory is the host's features.d, writable by the service", async (t) => {
  const { pod, containers } = daemonSet(build(overlay('integrations')));
  const volume = (pod.volumes as JsonObject[]).find(
    (v) => getField(v, 'hostPath.path') === '/etc/kubernetes/node-feature-discovery/features.d',
  );
  t.ok(volume);
  t.equal(getField(volume!, 'hostPath.type'), 'DirectoryOrCreate');
  const mount = (containers.get('criu-readiness')!.volumeMounts as JsonObject[]).find((m) => m.name === volume!.name)!;
  t.notOk(mount.readOnly);
});

t.test('every path the manifests GET is one the service answers', async (t) => {
  const used = new Map<string, string>();
  for (const dir of overlays) for (const [path, who] of pathsUsed(build(dir))) used.set(path, who);
  t.same([...used.keys()].sort(), ['/check?level=required&format=text', '/healthz', '/metrics', '/readyz']);

  const engine = new ProbeEngine({ keepWarm: true });
  const cache = new VerdictCache({ engine, intervalMs: 3_600_000, minRefreshIntervalMs: 0 });
  t.teardown(() => cache.stop());
  await cache.start();
  const app = buildApp({ source: cache });
  t.teardown(() => app.close());
  for (const [path, who] of used) {
    const res = await app.inject({ method: 'GET', url: path });
    if (path.startsWith('/check'))
      t.ok([200, 503].includes(res.statusCode), `${who}: ${path} answers a verdict (${res.statusCode})`);
    else t.equal(res.statusCode, 200, `${who}: ${path}`);
    if (path.includes('format=text'))
      t.match(res.headers['content-type'], /^text\/plain/, `${who}: plain text for the node condition's message`);
  }
});

t.test(
  "the runtime chain sees the host's / read-only at /host, as CRIU_READINESS_HOST_ROOT says, without a host namespace",
  async (t) => {
    const { pod, containers } = daemonSet(build(overlay('integrations')));
    const service = containers.get('criu-readiness')!;
    t.same(
      (service.env as JsonObject[]).find((e) => e.name === 'CRIU_READINESS_HOST_ROOT'),
      { name: 'CRIU_READINESS_HOST_ROOT', value: '/host' },
    );
    const volumes = new Map((pod.volumes as JsonObject[]).map((v) => [v.name, v]));
    const mounts = service.volumeMounts as JsonObject[];
    const root = mounts.find((m) => m.mountPath === '/host')!;
    t.equal(getField(volumes.get(String(root.name))!, 'hostPath.path'), '/');
    t.equal(root.readOnly, true, 'the host root is read-only');
    const checkpoints = mounts.find((m) => m.mountPath === '/host/var/lib/kubelet/checkpoints')!;
    t.equal(
      getField(volumes.get(String(checkpoints.name))!, 'hostPath.path'),
      '/var/lib/kubelet/checkpoints',
      'the checkpoint directory is the same path on both sides',
    );
    t.notOk(checkpoints.readOnly, 'the storage check writes its test file there');
    for (const field of ['hostPID', 'hostNetwork', 'hostIPC']) t.notOk(pod[field], `no ${field}`);
  },
);
