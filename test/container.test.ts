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
import { DEPLOY, ROOT, SERVICE_PORT, build, daemonSet, filesUnder } from './helpers/deploy.js';
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

/** What no non-privileged container can check (deploy/README.md): read-only /proc/sys, no /dev/net/tun. */
const CONTAINER_LIMITS = ['ns_last_pid', 'ipc', 'tun_cr', 'tun', 'tun_ns'];

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

/**
 * The rule for every profile, and the unknown answers printed as comments.
 * With `onlyUnknown`, the features the host supports that may answer unknown
 * in this profile are exactly those.
 */
function compareWithHost(t: Test, options: readonly string[], onlyUnknown?: readonly string[]): void {
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
  if (onlyUnknown) {
    const madeUnknown = diffs.filter((d) => d.host === 'supported' && d.container?.status === 'unknown');
    t.same(
      madeUnknown.map((d) => d.name).sort(),
      [...onlyUnknown].sort(),
      `unknown (of what the host supports): ${onlyUnknown.join(', ') || 'nothing'}`,
    );
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
  compareWithHost(t, profile('full-fidelity'), []);
});

t.test(
  "least privilege under podman's default seccomp profile: unknown where the filter refuses, never unsupported",
  { skip },
  async (t) => {
    compareWithHost(t, withSeccomp(profile('least-privilege'), 'default'));
  },
);

t.test(
  'least privilege as deployed (seccomp unconfined): unknown only where a container lacks a writable /proc/sys or /dev/net/tun',
  { skip },
  async (t) => {
    compareWithHost(t, withSeccomp(profile('least-privilege'), 'unconfined'), CONTAINER_LIMITS);
  },
);

t.test(
  "podman's defaults, no added privilege: unknown where privilege is missing, never unsupported",
  { skip },
  async (t) => {
    compareWithHost(t, []);
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
  'the service in the container (least privilege, host network): ready, answers, healthy, and stops on SIGTERM with 0',
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
      ...withSeccomp(profile('least-privilege'), 'unconfined'),
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

    const stopping = performance.now();
    podman!.podman(['stop', '--time', '10', name]);
    const stopSeconds = (performance.now() - stopping) / 1000;
    t.ok(stopSeconds < 5, `podman stop (SIGTERM) ends it in ${stopSeconds.toFixed(1)} s`);
    t.equal(podman!.podman(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout.trim(), '0', 'exit code 0');
    const logs = podman!.podman(['logs', name]).stdout;
    t.match(logs, /"msg":"stopped"/, 'the service logged its orderly stop');
    podman!.podman(['rm', name]);
  },
);
