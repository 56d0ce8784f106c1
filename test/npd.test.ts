// node-problem-detector's custom plugin config: valid for NPD, wired to the
// sidecar, and its commands, run as NPD runs them, speak NPD's protocol.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SENTENCE } from '../src/service/levels.js';
import { DEPLOY, ROOT, build, daemonSet, type JsonObject } from './helpers/deploy.js';
import { UNPRIVILEGED } from './helpers/probe.js';
import { TS_LOADER } from './helpers/node.js';

interface Rule {
  type: 'temporary' | 'permanent';
  condition?: string;
  reason: string;
  path: string;
  args?: string[];
  timeout?: string;
}
interface PluginConfig {
  plugin: string;
  pluginConfig: { invoke_interval: string; timeout: string; max_output_length: number; concurrency?: number };
  source: string;
  conditions: { type: string; reason: string; message: string }[];
  rules: Rule[];
}

const COMPONENT = join(DEPLOY, 'components', 'node-problem-detector');
const CONFIG_FILE = 'criu-readiness-plugin-monitor.json';
const config = JSON.parse(readFileSync(join(COMPONENT, CONFIG_FILE), 'utf8')) as PluginConfig;

/** Go's time.ParseDuration, for the units NPD configs use. */
function goDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/.exec(text);
  if (!match) throw new Error(`${text} is not a Go duration`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)].reduce((sum, [, n, u]) => sum + Number(n) * unit[u], 0);
}

t.test('the config is one NPD\'s custom plugin monitor accepts', async (t) => {
  t.equal(config.plugin, 'custom');
  t.equal(config.pluginConfig.max_output_length, 80, "NPD's default message length");
  t.ok(goDurationMs(config.pluginConfig.invoke_interval) > 0);
  const globalTimeout = goDurationMs(config.pluginConfig.timeout);
  t.ok(config.source.length > 0);
  const conditionTypes = config.conditions.map((c) => c.type);
  for (const rule of config.rules) {
    t.ok(['temporary', 'permanent'].includes(rule.type));
    t.ok(rule.reason.length > 0);
    if (rule.timeout) t.ok(goDurationMs(rule.timeout) <= globalTimeout, 'a rule timeout may not exceed the global one');
    // NPD refuses a permanent rule whose condition has no default.
    if (rule.type === 'permanent') t.ok(conditionTypes.includes(rule.condition!), `${rule.condition} has a default condition`);
  }
  // Node conditions are CamelCase types with CamelCase reasons.
  for (const c of config.conditions) t.match(c.type + c.reason, /^[A-Z][A-Za-z]+$/);
});

t.test('every rule runs criu-readiness check from the image\'s PATH', async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  for (const rule of config.rules) {
    t.equal(rule.path, '/usr/local/bin/criu-readiness');
    t.match(dockerfile, `ln -s /app/dist/cli.js ${rule.path}`);
    t.equal(rule.args?.[0], 'check');
  }
});

t.test('the sidecar loads this config from the ConfigMap the component generates', async (t) => {
  const built = build(join(DEPLOY, 'overlays', 'integrations'));
  const { pod, containers } = daemonSet(built);
  const npd = containers.get('node-problem-detector')!;
  const flag = (npd.args as string[]).find((a) => a.startsWith('--config.custom-plugin-monitor='))!;
  const path = flag.slice(flag.indexOf('=') + 1);
  t.equal(basename(path), CONFIG_FILE);
  const mount = (npd.volumeMounts as JsonObject[]).find((m) => m.mountPath === dirname(path))!;
  t.ok(mount, 'the config directory is mounted');
  const volume = (pod.volumes as JsonObject[]).find((v) => v.name === mount.name)!;
  const configMapName = (volume.configMap as JsonObject).name;
  const configMap = built.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMapName)!;
  t.equal(configMap.metadata.namespace, daemonSet(built).ds.metadata.namespace, 'in the pod\'s namespace');
  t.same(JSON.parse(String((configMap.data as JsonObject)[CONFIG_FILE])), config);
  t.same(
    (npd.env as JsonObject[]).find((e) => e.name === 'NODE_NAME')?.valueFrom,
    { fieldRef: { fieldPath: 'spec.nodeName' } },
    'NPD finds its node by NODE_NAME',
  );
});

interface Run {
  code: number | null;
  stdout: string;
}

/** Run a rule as NPD does: path and args, stdout and stderr piped, killed at the rule's timeout. */
function runRule(rule: Rule, prefix: readonly string[] = []): Promise<Run> {
  // /usr/local/bin/criu-readiness in the image is this CLI.
  const argv = [...prefix, process.execPath, ...TS_LOADER, join(ROOT, 'src', 'cli.ts'), ...(rule.args ?? [])];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: goDurationMs(rule.timeout ?? config.pluginConfig.timeout) });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

/** The condition message NPD makes of the output: stdout, trimmed, cut at max_output_length bytes. */
function npdMessage(stdout: string): string {
  return Buffer.from(stdout.trim()).subarray(0, config.pluginConfig.max_output_length).toString();
}

const FIRST_LINES = Object.values(SENTENCE).map((s) => s.split('\n')[0]);

for (const rule of config.rules) {
  t.test(`${rule.reason} (${rule.args?.join(' ')}): exit 0, 1 or 2 and a verdict that fits the message`, async (t) => {
    const run = await runRule(rule);
    t.ok([0, 1, 2].includes(run.code ?? -1), `exit ${run.code}`);
    const firstLine = run.stdout.split('\n')[0];
    t.ok(firstLine.length <= config.pluginConfig.max_output_length, `"${firstLine}" fits in ${config.pluginConfig.max_output_length}`);
    t.ok(FIRST_LINES.includes(firstLine), 'the verdict sentence comes first');
    t.ok(npdMessage(run.stdout).startsWith(firstLine), 'NPD shows the whole first line');
    t.equal(run.code === 0, firstLine === SENTENCE.ok, 'exit 0 exactly when it looks good');
  });
}

const NOT_ROOT = process.getuid?.() !== 0 && 'needs root to drop to nobody';

t.test('without privileges the required check says it cannot tell (exit 2), never that it looks good', { skip: NOT_ROOT }, async (t) => {
  const required = config.rules.find((r) => r.args?.length === 1)!;
  const asRoot = await runRule(required);
  const asNobody = await runRule(required, UNPRIVILEGED);
  // ns_last_pid needs root: unprivileged, the required level is at best unknown.
  t.not(asNobody.code, 0);
  if (asRoot.code !== 1) {
    t.equal(asNobody.code, 2);
    t.equal(asNobody.stdout.split('\n')[0], SENTENCE.uncheckedRequired);
  }
  t.ok(npdMessage(asNobody.stdout).length > 0);
});
