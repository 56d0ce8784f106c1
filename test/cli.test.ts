import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import { FEATURE_NAMES } from '../src/catalogue.js';
import { cachedKernelConfig } from '../src/service/kconfig.js';
import { UNPRIVILEGED } from './helpers/probe.js';
import { TS_LOADER } from './helpers/node.js';
import { checkSchema, featureSchema } from '../src/http/schemas.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { unprivileged?: boolean } = {}): Run {
  const command = [...(opts.unprivileged ? UNPRIVILEGED : []), process.execPath, ...TS_LOADER, cli, ...args];
  const env = opts.unprivileged ? { ...process.env, NODE_OPTIONS: '' } : process.env;
  const r = spawnSync(command[0], command.slice(1), { encoding: 'utf8', timeout: 120_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PROBLEM_LINE = /^(Error|Warn |Info ) \([a-z0-9_-]+\): .+$/;

t.test('check as root: every required feature is there, "Looks good.", exit 0', async (t) => {
  const r = run(['check']);
  t.equal(r.stdout, 'Looks good.\n');
  t.equal(r.status, 0, r.stderr);
});

t.test('check: problems go to stderr as CRIU prints them, the verdict to stdout', async (t) => {
  const r = run(['check', '--all']);
  for (const line of r.stderr.trim().split('\n').filter(Boolean)) t.match(line, PROBLEM_LINE);
  t.match(
    r.stdout,
    /^(Looks good\.|Looks good but some kernel features are missing\nwhich, depending on your process tree, may cause\ndump or restore failure\.|Looks good, but some kernel features could not be checked\.|Does not look good\.|Cannot tell: .*)\ncriu[ :].*\n$/,
    '--all ends with the criu status line',
  );
});

t.test("check --extra: the exit code follows the verdicts, by the sentence's ranking", async (t) => {
  const json = JSON.parse(run(['check', '--extra', '--json']).stdout) as {
    missing: string[];
    unknown: string[];
    level: string;
    status: string;
  };
  t.equal(json.level, 'extra');
  const expected =
    json.status === 'failed'
      ? 1
      : json.status === 'unknown'
        ? 2
        : json.missing.length > 0
          ? 1
          : json.unknown.length > 0
            ? 2
            : 0;
  const text = run(['check', '--extra']);
  t.equal(text.status, expected);
  for (const name of [...json.missing, ...json.unknown]) t.match(text.stderr, `(${name}): `);
});

t.test('--feature list prints every feature name and exits 0', async (t) => {
  const r = run(['check', '--feature', 'list']);
  t.equal(r.status, 0);
  t.same(r.stdout.trim().split(' '), FEATURE_NAMES);
});

t.test('--feature NAME prints "NAME is supported" and exits 0', async (t) => {
  const r = run(['check', '--feature', 'kcmp']);
  t.equal(r.stdout, 'kcmp is supported\n');
  t.equal(r.stderr, '');
  t.equal(r.status, 0);
});

// Soft-dirty tracking exists only with CONFIG_MEM_SOFT_DIRTY: this kernel's config says whether to expect it.
const softDirty = cachedKernelConfig()?.get('CONFIG_MEM_SOFT_DIRTY');
t.test(
  '--feature NAME of a feature the kernel lacks prints the warning and exits 1',
  { skip: softDirty !== 'not set' && `CONFIG_MEM_SOFT_DIRTY is ${softDirty ?? 'unknown'} here` },
  async (t) => {
    const r = run(['check', '--feature', 'mem_dirty_track']);
    t.equal(r.stdout, '');
    t.match(r.stderr, /^Warn  \(mem_dirty_track\): /);
    t.equal(r.status, 1);
  },
);

t.test('an unknown feature name is an error naming the valid ones and the closest', async (t) => {
  const r = run(['check', '--feature', 'tcp_repar']);
  t.equal(r.status, 2);
  t.match(r.stderr, 'unknown feature "tcp_repar" (did you mean tcp_repair?)');
  for (const name of FEATURE_NAMES) t.match(r.stderr, name);
  t.equal(r.stdout, '');
});

t.test('--ms is refused as deprecated, pointing at the levels', async (t) => {
  const r = run(['check', '--ms']);
  t.equal(r.status, 2);
  t.match(r.stderr, /--ms is deprecated.*--extra.*--all/);
});

t.test('an unknown option is refused with a pointer to --help', async (t) => {
  const r = run(['check', '--bogus']);
  t.equal(r.status, 2);
  t.match(r.stderr, 'unknown option "--bogus"');
});

t.test('--help has a Check options section that explains the levels and lists every feature', async (t) => {
  const r = run(['--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /Check options:[\s\S]*--extra[\s\S]*--experimental[\s\S]*--checkpoint[\s\S]*--all/);
  for (const name of FEATURE_NAMES) t.match(r.stdout, new RegExp(`\\s${name}(\\s|$)`));
});

t.test('--json prints the level verdict with every reported feature', async (t) => {
  const r = run(['check', '--json']);
  const json = JSON.parse(r.stdout) as {
    level: string;
    status: string;
    features: { name: string; status: string; reason: string }[];
  };
  t.equal(json.level, 'required');
  t.equal(json.status, 'ok');
  t.ok(json.features.some((f) => f.name === 'map_files' && f.status === 'supported' && f.reason === 'Supported'));
});

t.test('as an unprivileged user the privilege-dependent checks are unknown and check exits 2, not 1', async (t) => {
  const r = run(['check'], { unprivileged: true });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, /Warn  \(tcp_repair\): could not check \(PermissionDenied\)/);
  t.match(r.stderr, /Warn  \(ipc\): could not check \(PermissionDenied\)/);
  t.notMatch(r.stderr, /^Error /m, 'nothing is reported missing');
});

const notBuilt = !existsSync(built) && 'dist/cli.js is not built (npm test builds it first)';

t.test('the built command runs by its #! line', { skip: notBuilt }, async (t) => {
  const r = spawnSync(built, ['check', '--feature', 'list'], { encoding: 'utf8' });
  t.equal(r.status, 0);
  t.equal(r.stdout, FEATURE_NAMES.join(' ') + '\n');
});

t.test(
  'the built command probes every feature through its bundled catalogue, and prints what GET /check?level=all answers',
  { skip: notBuilt },
  async (t) => {
    const r = spawnSync(built, ['check', '--all', '--json'], { encoding: 'utf8' });
    t.ok([0, 1, 2].includes(r.status ?? -1), `exit ${r.status}: ${r.stderr.slice(0, 300)}`);
    // One JSON format: the CLI's --json validates against the service's schema (no durations, no field of its own).
    const parsed = checkSchema.safeParse(JSON.parse(r.stdout));
    t.ok(parsed.success, parsed.error?.message.slice(0, 500) ?? 'valid against the Check schema');
    t.equal(parsed.data?.level, 'all');
    const { features } = JSON.parse(r.stdout) as { features: { name: string; reason: string }[] };
    t.same(
      features.map((f) => f.name),
      FEATURE_NAMES,
    );
    t.same(
      features
        .filter((f) => ['ProbeError', 'ProbeCrashed', 'RunnerUnavailable', 'Timeout'].includes(f.reason))
        .map((f) => `${f.name}: ${f.reason}`),
      [],
      'every probe ran to an answer',
    );
  },
);

t.test(
  "check --feature NAME --json prints what GET /features/NAME answers: valid against the service's schema",
  { skip: notBuilt },
  async (t) => {
    const r = spawnSync(built, ['check', '--feature', 'map_files', '--json'], { encoding: 'utf8' });
    const parsed = featureSchema.safeParse(JSON.parse(r.stdout));
    t.ok(parsed.success, parsed.error?.message.slice(0, 500) ?? 'valid against the Feature schema');
    t.match(parsed.data, { name: 'map_files', status: 'supported', summary: String });
  },
);

t.test(
  "the built catalogue and runner are one module each: they import only Node's own modules and koffi",
  { skip: notBuilt },
  async (t) => {
    for (const file of ['catalogue.js', 'engine/runner-main.cjs']) {
      const bundle = readFileSync(fileURLToPath(new URL(`../dist/${file}`, import.meta.url)), 'utf8');
      const imported = [...bundle.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)].map(
        (m) => m[1],
      );
      t.ok(imported.length > 0, `${file}: its imports were found`);
      t.same(
        imported.filter((name) => !name.startsWith('node:') && name !== 'koffi'),
        [],
        file,
      );
    }
  },
);

t.test(
  'a reader that goes away (`| head`) changes neither the exit code nor adds a crash',
  { skip: notBuilt },
  async (t) => {
    // The reader closes its end before the command writes a line: every write meets EPIPE.
    for (const [args, code] of [
      ['check --feature list', '0'],
      ['check --feature kcmp', '0'],
      ['--help', '0'],
    ] as const) {
      const r = spawnSync('bash', ['-c', `"${built}" ${args} | (exec <&-); echo "\${PIPESTATUS[0]}"`], {
        encoding: 'utf8',
      });
      t.equal(r.stdout.trim(), code, `${args}: exit code`);
      t.notMatch(r.stderr, /EPIPE|Error/, `${args}: no crash`);
    }
  },
);

t.test(
  'the built runner holds one ProbeStop: a probe ended by stop() is its verdict, not a ProbeError',
  { skip: notBuilt },
  async (t) => {
    const runner = readFileSync(fileURLToPath(new URL('../dist/engine/runner-main.cjs', import.meta.url)), 'utf8');
    t.equal(runner.match(/\.name = "ProbeStop"/g)?.length, 1);
  },
);
