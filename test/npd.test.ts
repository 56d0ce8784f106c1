// node-problem-detector's custom plugin config: valid for NPD, wired to the
// sidecar, and its commands (`criu-readiness check --format=npd`), run as NPD
// runs them, speak NPD's protocol: exit 0, 1 or 2 and one line of at most 80
// bytes. The line itself is npdLine's: its lists, truncation and bounds.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DEPLOY, ROOT, build, daemonSet, type JsonObject } from './helpers/deploy.js';
import { UNPRIVILEGED } from './helpers/probe.js';
import { TS_LOADER } from './helpers/node.js';
import { NPD_MAX_LENGTH, npdLine } from '../src/service/text.js';

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

t.test("the config is one NPD's custom plugin monitor accepts", async (t) => {
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
    if (rule.type === 'permanent')
      t.ok(conditionTypes.includes(rule.condition!), `${rule.condition} has a default condition`);
  }
  // Node conditions are CamelCase types with CamelCase reasons.
  for (const c of config.conditions) t.match(c.type + c.reason, /^[A-Z][A-Za-z]+$/);
});

t.test("every rule runs criu-readiness check --format=npd from the image's PATH", async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  for (const rule of config.rules) {
    t.equal(rule.path, '/usr/local/bin/criu-readiness');
    t.match(dockerfile, `ln -s /app/bin/criu-readiness ${rule.path}`);
    t.equal(rule.args?.[0], 'check');
    // One line of at most 80 bytes naming the features: what NPD keeps of stdout.
    t.ok(rule.args?.includes('--format=npd'), `${rule.reason}: --format=npd`);
    t.notOk(rule.args?.includes('--json'), `${rule.reason}: not JSON, which NPD would cut mid-object`);
  }
  t.same(
    config.rules.map((r) => r.args?.includes('--all') ?? false).sort(),
    [false, true],
    'one rule for the required level, one for all',
  );
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
  t.equal(configMap.metadata.namespace, daemonSet(built).ds.metadata.namespace, "in the pod's namespace");
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
  // /usr/local/bin/criu-readiness in the image is the launcher of this CLI (test/launcher.test.ts).
  const argv = [...prefix, process.execPath, ...TS_LOADER, join(ROOT, 'src', 'cli.ts'), ...(rule.args ?? [])];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: goDurationMs(rule.timeout ?? config.pluginConfig.timeout),
    });
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

/** The CLI this worktree has: does `check` know `--format=npd` yet? (`check --help` runs no probe.) */
function knowsNpdFormat(): boolean {
  const run = spawnSync(process.execPath, [...TS_LOADER, join(ROOT, 'src', 'cli.ts'), 'check', '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return /--format[= ][^\n]*npd/.test(run.stdout);
}
const NO_NPD_FORMAT = !knowsNpdFormat() && "the CLI's `check --help` does not mention --format=npd";

t.test('check --help documents --format=npd', async (t) => {
  t.notOk(NO_NPD_FORMAT);
});

/** What NPD makes of a run: the message it would show, and whether stdout was already one line that fits. */
function asNpdSees(run: Run): { message: string; oneLine: boolean; fits: boolean; ascii: boolean } {
  const trimmed = run.stdout.trim();
  return {
    message: npdMessage(run.stdout),
    oneLine: !trimmed.includes('\n'),
    fits: Buffer.byteLength(trimmed) <= config.pluginConfig.max_output_length,
    // NPD cuts bytes, not characters: ASCII never loses half a character.
    ascii: /^[\x20-\x7e]*$/.test(trimmed),
  };
}

for (const rule of config.rules) {
  t.test(
    `${rule.reason} (${rule.args?.join(' ')}): exit 0, 1 or 2 and one line NPD keeps whole`,
    { skip: NO_NPD_FORMAT },
    async (t) => {
      const run = await runRule(rule);
      t.ok([0, 1, 2].includes(run.code ?? -1), `exit ${run.code}`);
      const line = asNpdSees(run);
      t.ok(line.oneLine, `one line: ${JSON.stringify(run.stdout)}`);
      t.ok(line.fits, `"${line.message}" fits in ${config.pluginConfig.max_output_length} bytes`);
      t.ok(line.ascii, 'plain ASCII');
      t.equal(line.message, run.stdout.trim(), 'NPD shows all of it');
      if (run.code === 1) t.match(line.message, /missing/, 'exit 1 names what is missing');
      if (run.code === 2) t.match(line.message, /unknown/, 'exit 2 names what could not be checked');
    },
  );
}

t.test(
  "each rule's exit status is the one its command gives without --format=npd (NPD's protocol is unchanged)",
  { skip: NO_NPD_FORMAT },
  async (t) => {
    for (const rule of config.rules) {
      const asText = { ...rule, args: (rule.args ?? []).filter((arg) => arg !== '--format=npd') };
      t.not(asText.args.length, rule.args?.length, `${rule.reason}: the rule asks for --format=npd`);
      t.equal((await runRule(rule)).code, (await runRule(asText)).code, `${rule.reason}: ${rule.args?.join(' ')}`);
    }
  },
);

const NOT_ROOT = process.getuid?.() !== 0 && 'needs root to drop to nobody';

t.test(
  'without privileges the required check says it cannot tell (exit 2), never that it looks good',
  { skip: NOT_ROOT || NO_NPD_FORMAT },
  async (t) => {
    const required = config.rules.find((r) => !r.args?.includes('--all'))!;
    const asRoot = await runRule(required);
    const asNobody = await runRule(required, UNPRIVILEGED);
    // ns_last_pid needs root: unprivileged, the required level is at best unknown.
    t.not(asNobody.code, 0);
    if (asRoot.code !== 1) {
      t.equal(asNobody.code, 2);
      t.match(npdMessage(asNobody.stdout), /unknown/);
    }
    const line = asNpdSees(asNobody);
    t.ok(line.message.length > 0 && line.oneLine && line.fits);
  },
);

// ------------------------------------------------------------------ npdLine

/** Names as long as the catalogue's longest, so that few fit in a line. */
const longNames = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}_feature_number_${i}`);

t.test('npdLine: nothing missing or unknown looks good', async (t) => {
  t.equal(npdLine({ missing: [], unknown: [] }), 'Looks good.');
});

t.test('npdLine: names the missing features', async (t) => {
  t.equal(npdLine({ missing: ['mem_dirty_track', 'autofs'], unknown: [] }), 'missing: mem_dirty_track, autofs');
});

t.test('npdLine: names the unknown features', async (t) => {
  t.equal(npdLine({ missing: [], unknown: ['ns_last_pid', 'ipc'] }), 'unknown: ns_last_pid, ipc');
});

t.test('npdLine: both lists, missing first', async (t) => {
  t.equal(npdLine({ missing: ['a', 'b'], unknown: ['c'] }), 'missing: a, b; unknown: c');
});

t.test(
  `npdLine: a line that would pass ${NPD_MAX_LENGTH} characters ends its list with +N more, and fits`,
  async (t) => {
    const missing = longNames('m', 10);
    const line = npdLine({ missing, unknown: [] });
    t.ok(line.length <= NPD_MAX_LENGTH, `${line.length} characters: ${line}`);
    const shown = /^missing: (.*), \+(\d+) more$/.exec(line);
    t.ok(shown, line);
    const names = shown![1].split(', ');
    t.same(names, missing.slice(0, names.length), 'the first names, in order');
    t.equal(names.length + Number(shown![2]), missing.length, 'shown and counted add up to all');
    t.ok(
      `${line.replace(/, \+\d+ more$/, '')}, ${missing[names.length]}, +${missing.length - names.length - 1} more`
        .length > NPD_MAX_LENGTH,
      'as many names as fit',
    );
  },
);

t.test(
  'npdLine: when both lists are too long, unknown names give way before missing ones, and both lists stay',
  async (t) => {
    const line = npdLine({ missing: longNames('m', 2), unknown: longNames('u', 5) });
    t.ok(line.length <= NPD_MAX_LENGTH, line);
    t.match(line, /^missing: m_feature_number_0, m_feature_number_1; unknown: (u_feature_number_0, )?\+\d+ more$/);
  },
);

t.test(
  'npdLine: hundreds of long names on both sides: the missing names that fit, the unknown ones as a count',
  async (t) => {
    const line = npdLine({ missing: longNames('m', 400), unknown: longNames('u', 300) });
    t.ok(line.length <= NPD_MAX_LENGTH, line);
    t.equal(line, 'missing: m_feature_number_0, m_feature_number_1, +398 more; unknown: +300 more');
  },
);

t.test('npdLine: every length from one name to many stays within the limit', async (t) => {
  const over: string[] = [];
  for (let m = 0; m <= 12; m++) {
    for (let u = 0; u <= 12; u++) {
      const line = npdLine({ missing: longNames('m', m), unknown: longNames('u', u) });
      if (line.length > NPD_MAX_LENGTH || line.includes('\n')) over.push(`${m}/${u}: ${line}`);
    }
  }
  t.same(over, []);
});

t.test('npdLine: only printable ASCII, whatever the names hold', async (t) => {
  t.equal(npdLine({ missing: ['caf\u00e9\nx'], unknown: [] }), 'missing: caf??x');
});

t.test('check --format with an unknown format is a usage error (exit 2)', async (t) => {
  const run = spawnSync(process.execPath, [...TS_LOADER, join(ROOT, 'src', 'cli.ts'), 'check', '--format=xml'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(run.status, 2);
  t.match(run.stderr, /--format needs one of text, json, npd/);
});
