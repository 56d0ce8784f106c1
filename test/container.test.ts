// The image, built from the Dockerfile as it is and run with podman and runc
// under each deployment profile: in a container the kernel must answer as it
// does on the host (a container may make a check unknown, never make a
// supported feature unsupported), and the service must start, answer, pass
// its HEALTHCHECK and stop cleanly on SIGTERM.
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DEPLOY, ROOT, SERVICE_PORT, build, daemonSet, filesUnder, getField } from './helpers/deploy.js';
import { readUnanswerable } from '../scripts/prometheusrule.js';
import { SECCOMP_HINT } from '../src/service/check.js';
import {
  IMAGE,
  Podman,
  buildImage,
  describe,
  differences,
  ensureBaseImage,
  parseVerdicts,
  podmanSecurityOptions,
  unavailable,
  withSeccomp,
  type FeatureVerdict,
} from './helpers/container.js';

// A cold run debootstraps Debian and builds every stage: minutes. Cached, well under one.
t.setTimeout(30 * 60_000);

/** What the least-privilege profile cannot answer, and why (the one list, deploy/prometheus/unanswerable.yaml). */
const UNANSWERABLE = readUnanswerable()['least-privilege'];
/** Of those, what no non-privileged container can check, filter or not: read-only /proc/sys, no /dev/net/tun. */
const CONTAINER_LIMITS = Object.keys(UNANSWERABLE).filter((name) => UNANSWERABLE[name] !== 'seccomp');
/** Reasons that plainly are no filter's doing (src/service/check.ts names the filter for every other one). */
const NOT_A_FILTER = ['NotApplicable', 'DeviceUnavailable', 'ReadOnlyFilesystem'];

const skip = await unavailable();
const podman = skip ? undefined : await Podman.start();
const prefix = `criu-readiness-test-${process.pid}`;
if (podman) {
  t.teardown(() => {
    const ours = podman
      .podman(['ps', '--all', '--quiet', '--filter', `name=^${prefix}`], { allowFailure: true })
      .stdout.split('\n')
      .filter(Boolean);
    if (ours.length > 0) podman.podman(['rm', '--force', '--time', '0', ...ours], { allowFailure: true });
    podman.close();
  });
}

/** The deploy/ profiles' container and pod volumes, from the built overlay. */
function profile(overlay: string) {
  const { pod, containers } = daemonSet(build(join(DEPLOY, 'overlays', overlay)));
  return podmanSecurityOptions(containers.get('criu-readiness')!, pod.volumes);
}

/** The capabilities a profile's container holds: what its securityContext adds back after dropping all. */
function granted(overlay: string): string[] {
  const { containers } = daemonSet(build(join(DEPLOY, 'overlays', overlay)));
  const add = getField(containers.get('criu-readiness')!, 'securityContext.capabilities.add');
  return Array.isArray(add) ? add.map((cap) => `CAP_${String(cap)}`) : [];
}

/** The host's own answer, from the built CLI (built now if dist/ is older than src/). */
function hostVerdicts(): Map<string, FeatureVerdict> {
  const cli = join(ROOT, 'dist', 'cli.js');
  const newestSource = Math.max(...filesUnder(join(ROOT, 'src'), ['.ts']).map((f) => statSync(f).mtimeMs));
  if (!existsSync(cli) || statSync(cli).mtimeMs < newestSource)
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
  const run = spawnSync(process.execPath, [cli, 'check', '--all', '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (![0, 1, 2].includes(run.status ?? -1)) throw new Error(`host check exited ${run.status}: ${run.stderr}`);
  return parseVerdicts(run.stdout, 'host check');
}

function containerVerdicts(options: readonly string[]): Map<string, FeatureVerdict> {
  const run = podman!.podman(
    [
      'run',
      '--rm',
      '--no-healthcheck',
      '--network',
      'host',
      '--name',
      `${prefix}-check`,
      ...options,
      IMAGE,
      'check',
      '--all',
      '--json',
    ],
    {
      allowFailure: true,
      timeoutMs: 180_000,
    },
  );
  if (![0, 1, 2].includes(run.status ?? -1))
    throw new Error(`check in the container exited ${run.status}: ${run.stderr.slice(-2000)}`);
  return parseVerdicts(run.stdout, `check in the container (${options.join(' ')})`);
}

function inspectImage(): { Size: number; Healthcheck?: { Test: string[] } } {
  return (
    JSON.parse(podman!.podman(['image', 'inspect', IMAGE]).stdout) as {
      Size: number;
      Healthcheck?: { Test: string[] };
    }[]
  )[0];
}

let host: Map<string, FeatureVerdict> | undefined;

interface Expected {
  /** Every kernel check answers exactly as on the host. */
  sameAsHost?: boolean;
  /** The features the host supports that answer unknown here: exactly those (the host's unsupported ones aside). */
  onlyUnknown?: readonly string[];
  /** A seccomp filter guards the container. */
  filtered: boolean;
  /** The capabilities the container holds, when the test knows them all. */
  held?: readonly string[];
}

/**
 * The rule for every profile, and the unknown answers printed as comments:
 * no feature the host supports is unsupported, and every unknown carries its
 * true cause (under a filter the filter is named, with none no filter is;
 * no capability the container holds is named).
 */
function compareWithHost(t: Test, options: readonly string[], expected: Expected): void {
  host ??= hostVerdicts();
  const inContainer = containerVerdicts(options);
  t.comment(`podman run ${options.join(' ') || '(no options)'}`);
  const diffs = differences(host, inContainer);
  const lost = diffs.filter((d) => d.host === 'supported' && d.container?.status !== 'unknown');
  t.same(lost.map(describe), [], 'no feature the host supports is unsupported (or missing) in the container');
  const unknown = [...inContainer.values()].filter((v) => v.status === 'unknown');
  t.comment(`${unknown.length} unknown in the container:`);
  for (const v of unknown)
    t.comment(
      `  ${v.name} (host ${host.get(v.name)?.status}): ${v.reason}: ${v.message.replace(/\s+/g, ' ')}${v.hint ? ` [hint: ${v.hint}]` : ''}`,
    );
  for (const d of diffs.filter((d) => d.host !== 'supported' && d.container?.status !== 'unknown'))
    t.comment(`also differs: ${describe(d)}`);
  if (expected.sameAsHost) t.same(diffs.map(describe), [], 'every kernel check answers as on the host');
  if (expected.onlyUnknown) {
    const madeUnknown = diffs.filter((d) => d.host === 'supported' && d.container?.status === 'unknown');
    const onHost = expected.onlyUnknown.filter((name) => host?.get(name)?.status === 'supported');
    t.same(
      madeUnknown.map((d) => d.name).sort(),
      [...onHost].sort(),
      `unknown (of what the host supports): ${onHost.join(', ') || 'nothing'}`,
    );
  }
  for (const v of unknown) {
    const said = `${v.name}: ${v.reason}: ${v.message} [hint: ${v.hint}]`;
    if (expected.filtered && !NOT_A_FILTER.includes(v.reason))
      t.ok(v.hint.endsWith(SECCOMP_HINT), `names the filter: ${said}`);
    if (!expected.filtered) t.notMatch(v.hint, /seccomp/, `blames no filter: ${said}`);
    const named = (expected.held ?? []).filter((cap) => new RegExp(`\\b${cap}\\b`).test(`${v.message} ${v.hint}`));
    t.same(named, [], `names no capability the container holds: ${said}`);
  }
}

t.test(
  'the Dockerfile builds unchanged over the locally made base image, keeping its HEALTHCHECK (--format docker)',
  { skip },
  async (t) => {
    const started = performance.now();
    for (const line of ensureBaseImage(podman!).split('\n')) t.comment(line);
    const based = performance.now();
    buildImage(podman!);
    const built = performance.now();
    const seconds = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
    t.comment(`base image ready in ${seconds(started, based)} s; podman build in ${seconds(based, built)} s`);
    const { Size, Healthcheck } = inspectImage();
    t.comment(`image size: ${(Size / 1e6).toFixed(0)} MB (${Size} bytes)`);
    t.match(
      Healthcheck?.Test,
      ['CMD', 'node', '-e', `http://127.0.0.1:${SERVICE_PORT}/healthz`],
      'the HEALTHCHECK survives the build',
    );
    const version = podman!
      .podman([
        'run',
        '--rm',
        '--no-healthcheck',
        '--network',
        'none',
        '--name',
        `${prefix}-version`,
        IMAGE,
        '--version',
      ])
      .stdout.trim();
    t.equal(
      version,
      (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
      "the image's CLI runs: --version is package.json's",
    );
  },
);

/** The Dockerfile's smoke step: the RUN that checks one feature by name. */
function smokeStep(): string {
  const found = /^RUN (.*criu-readiness check --feature .*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  if (!found) throw new Error('the Dockerfile has no smoke step');
  return found[1];
}

t.test(
  "the build's smoke step passes in the image, and fails there without koffi's native package",
  { skip },
  async (t) => {
    const run = (script: string, name: string) =>
      podman!.podman(
        [
          'run',
          '--rm',
          '--no-healthcheck',
          '--network',
          'none',
          '--name',
          `${prefix}-${name}`,
          '--entrypoint',
          'sh',
          IMAGE,
          '-c',
          script,
        ],
        { allowFailure: true },
      );
    t.equal(run(smokeStep(), 'smoke').status, 0, smokeStep());
    const broken = run(`rm -rf /app/node_modules/@koromix && ${smokeStep()}`, 'smoke-nokoffi');
    t.not(broken.status, 0, 'without @koromix/koffi-linux-x64 the step fails');
  },
);

t.test(
  "node-problem-detector's command in the image (no added privilege: many unknowns): one ASCII line of at most 80 bytes",
  { skip },
  async (t) => {
    const run = podman!.podman(
      [
        'run',
        '--rm',
        '--no-healthcheck',
        '--network',
        'host',
        '--name',
        `${prefix}-npd`,
        IMAGE,
        'check',
        '--all',
        '--format=npd',
      ],
      {
        allowFailure: true,
        timeoutMs: 180_000,
      },
    );
    t.comment(`exit ${run.status}: ${run.stdout.trim()}`);
    t.ok([1, 2].includes(run.status ?? -1), 'exit 1 or 2: an unprivileged container cannot check everything');
    t.match(run.stdout, /^[\x20-\x7e]{1,80}\n$/, 'one printable ASCII line, at most 80 bytes');
    t.match(run.stdout, /unknown: /, 'names what could not be checked');
  },
);

t.test('privileged (full fidelity): every feature answers as on the host', { skip }, async (t) => {
  compareWithHost(t, profile('full-fidelity'), { sameAsHost: true, onlyUnknown: [], filtered: false });
});

t.test(
  "least privilege as deployed (the runtime's default seccomp profile): unknown exactly where unanswerable.yaml says, the filter named",
  { skip },
  async (t) => {
    const options = profile('least-privilege');
    t.same(withSeccomp(options, 'default'), options, 'the component asks for the runtime default (RuntimeDefault)');
    compareWithHost(t, options, {
      onlyUnknown: Object.keys(UNANSWERABLE),
      filtered: true,
      held: granted('least-privilege'),
    });
  },
);

t.test(
  'least privilege with seccomp unconfined: unknown only where a container lacks a writable /proc/sys or /dev/net/tun',
  { skip },
  async (t) => {
    compareWithHost(t, withSeccomp(profile('least-privilege'), 'unconfined'), {
      onlyUnknown: CONTAINER_LIMITS,
      filtered: false,
      held: granted('least-privilege'),
    });
  },
);

t.test(
  "podman's defaults, no added privilege: unknown where privilege is missing, never unsupported",
  { skip },
  async (t) => {
    compareWithHost(t, [], { filtered: true });
  },
);

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The container's memory charge, from its memory cgroup (v1 usage_in_bytes or v2 memory.current). */
function memoryCharge(pid: number): number | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    const file =
      controllers === 'memory'
        ? `/sys/fs/cgroup/memory${path}/memory.usage_in_bytes`
        : controllers === '' && path
          ? `/sys/fs/cgroup${path}/memory.current`
          : undefined;
    if (file && existsSync(file)) return Number(readFileSync(file, 'utf8'));
  }
  return undefined;
}

t.test(
  'the service in the container (least privilege as deployed, host network): ready, answers, healthy, and stops on SIGTERM with 0',
  { skip },
  async (t) => {
    const port = await freeLoopbackPort();
    const name = `${prefix}-serve`;
    // The image's own HEALTHCHECK command, pointed at the port this run listens on.
    const healthcheck = (inspectImage().Healthcheck?.Test ?? []).slice(1);
    const healthCmd = healthcheck.map((arg) => arg.replace(`:${SERVICE_PORT}/`, `:${port}/`));
    t.not(healthCmd.join(' '), healthcheck.join(' '), 'the HEALTHCHECK names the service port');
    podman!.podman([
      'run',
      '--detach',
      '--name',
      name,
      '--network',
      'host',
      ...profile('least-privilege'),
      // No timer (it would need systemd): `podman healthcheck run` runs it below.
      '--health-cmd',
      JSON.stringify(healthCmd),
      '--health-interval',
      'disable',
      IMAGE,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
    ]);
    const base = `http://127.0.0.1:${port}`;
    let ready = 0;
    for (let i = 0; i < 120 && ready !== 200; i++) {
      ready = await fetch(`${base}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    t.equal(
      ready,
      200,
      ready === 200
        ? '/readyz answers 200'
        : `/readyz never answered 200; logs: ${podman!.podman(['logs', name], { allowFailure: true }).stdout.slice(-1500)}`,
    );
    const check = await fetch(`${base}/check`);
    t.ok([200, 503].includes(check.status), `/check answers a verdict (${check.status})`);
    t.match(await check.json(), { features: Array }, '/check is the verdict');
    const metrics = await fetch(`${base}/metrics`);
    t.equal(metrics.status, 200, '/metrics answers 200');
    t.match(await metrics.text(), /^criu_readiness_feature_status\{/m, '/metrics has the feature states');

    const health = podman!.podman(['healthcheck', 'run', name], { allowFailure: true });
    const said = `${health.stdout.trim()} ${health.stderr.trim()}`.trim();
    t.equal(health.status, 0, `podman healthcheck run exits 0${said ? `: ${said}` : ''}`);
    t.equal(
      podman!.podman(['inspect', '--format', '{{.State.Health.Status}}', name]).stdout.trim(),
      'healthy',
      'podman records it healthy',
    );

    // At idle, the probe run done.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const pid = Number(podman!.podman(['inspect', '--format', '{{.State.Pid}}', name]).stdout.trim());
    const charge = memoryCharge(pid);
    t.comment(
      `memory charge at idle (cgroup): ${charge === undefined ? 'not readable' : `${(charge / 2 ** 20).toFixed(1)} MiB`}`,
    );
    t.comment(
      `podman stats: ${podman!.podman(['stats', '--no-stream', '--format', '{{.MemUsage}}', name]).stdout.trim()}`,
    );

    // SIGTERM, then SIGKILL after 10 s (exit 137): exit 0 is the service's own stop within that grace.
    const stopping = performance.now();
    podman!.podman(['stop', '--time', '10', name]);
    t.comment(`podman stop (SIGTERM) took ${((performance.now() - stopping) / 1000).toFixed(1)} s`);
    t.equal(
      podman!.podman(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout.trim(),
      '0',
      'exit code 0: stopped by SIGTERM, not killed',
    );
    const logs = podman!.podman(['logs', name]).stdout;
    t.match(logs, /"msg":"stopped"/, 'the service logged its orderly stop');
    podman!.podman(['rm', name]);
  },
);
