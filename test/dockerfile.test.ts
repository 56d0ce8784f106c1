// The Dockerfile, read: linted with dockerfile-utils, its instructions checked
// against the project, and its runtime stage and smoke step run without a
// container. test/container.test.ts builds and runs it for real.
import t, { type Test } from 'tap';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { SERVICE_PORT, filesUnder } from './helpers/deploy.js';

const ROOT = new URL('../', import.meta.url);
const dockerfileText = readFileSync(new URL('Dockerfile', ROOT), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: { node: string };
  config: { serviceNodeOptions: string };
};

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, grouped by stage. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole) logical.push(whole);
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const words = rest.split(/\s+/).filter((w) => !w.startsWith('--'));
      const from = words[0].replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
      stages.push({ from, name: words[2], instructions: [] });
    } else if (stages.length === 0 && upper === 'ARG') {
      const [name, value = ''] = rest.split('=');
      args.set(name, value);
    } else {
      stages.at(-1)!.instructions.push({ keyword: upper, args: rest });
    }
  }
  return { args, stages };
}

const { args: globalArgs, stages } = parseDockerfile(dockerfileText);
const runtime = stages.at(-1)!;
const all = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const one = (stage: Stage, keyword: string) => {
  const found = all(stage, keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword}, found ${found.length}`);
  return found[0];
};

t.test('dockerfile-utils finds no problem in the Dockerfile', async (t) => {
  t.same(
    validate(dockerfileText).map((d) => `line ${d.range.start.line + 1}: ${d.message}`),
    [],
  );
});

t.test('dockerfile-utils does find problems (the lint is live)', async (t) => {
  t.ok(validate('FROM node:24-slim\nCMD ["a"]\nCMD ["b"]\nFROBNICATE x\n').length >= 2);
});

t.test('every stage is the same pinned Node LTS slim image, new enough for package.json', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage');
  const image = globalArgs.get('NODE_IMAGE')!;
  for (const stage of stages) t.equal(stage.from, image);
  const match = /^node:(\d+)\.(\d+)\.(\d+)-\w+-slim$/.exec(image);
  t.ok(match, `${image} is pinned to a full version and a slim Debian release`);
  const major = Number(match![1]);
  t.equal(major % 2, 0, 'an even major: an LTS line');
  t.ok(major >= Number(/\d+/.exec(pkg.engines.node)![0]), 'satisfies engines.node');
  t.match(dockerfileText, /^FROM --platform=linux\/amd64 /m, 'amd64: the probes use x86-64 system call numbers');
});

t.test('the runtime stage gets only production dependencies and the compiled code', async (t) => {
  const copiesFrom = all(runtime, 'COPY').filter((a) => a.startsWith('--from='));
  const nodeModules = copiesFrom.find((a) => / \/app\/node_modules /.test(a))!;
  const depsStage = stages.find((s) => s.name === /--from=(\S+)/.exec(nodeModules)![1])!;
  t.ok(
    all(depsStage, 'RUN').some((r) => /npm ci --omit=dev/.test(r)),
    'node_modules come from `npm ci --omit=dev`',
  );
  const dist = copiesFrom.find((a) => / \/app\/dist /.test(a))!;
  const buildStage = stages.find((s) => s.name === /--from=(\S+)/.exec(dist)![1])!;
  t.ok(
    all(buildStage, 'RUN').some((r) => /npm ci(?! --omit)/.test(r)),
    'the build stage has the dev dependencies',
  );
  t.ok(all(buildStage, 'RUN').includes('npm run build'));
  t.notOk(
    all(runtime, 'RUN').some((r) => /npm (ci|install)/.test(r)),
    'nothing is installed from npm in the runtime stage',
  );
  const contextCopies = all(runtime, 'COPY')
    .filter((a) => !a.startsWith('--from='))
    .map((a) => a.split(/\s+/)[0]);
  t.same(contextCopies.sort(), ['bin', 'openapi', 'package.json']);
});

t.test(
  "tini is PID 1 and runs, with the service's Node options from package.json, the CLI that package.json names as its bin",
  async (t) => {
    t.ok(
      all(runtime, 'RUN').some((r) => /apt-get install .*\btini\b/.test(r)),
      'tini comes from Debian',
    );
    const entrypoint = JSON.parse(one(runtime, 'ENTRYPOINT')) as string[];
    t.same(entrypoint, ['tini', '--', 'node', ...pkg.config.serviceNodeOptions.split(' '), '/app/dist/cli.js']);
    t.equal(one(runtime, 'WORKDIR'), '/app');
    t.same(JSON.parse(one(runtime, 'CMD')), ['serve']);
    t.ok(
      all(runtime, 'RUN').some((r) =>
        r.includes(`ln -s /app/${pkg.bin['criu-readiness']} /usr/local/bin/criu-readiness`),
      ),
      'criu-readiness on PATH: the command as package.json installs it (the launcher)',
    );
    t.ok(
      all(runtime, 'COPY').some((r) => /^bin \S*bin$/.test(r)),
      'the launcher is copied in',
    );
  },
);

t.test(
  'the runtime stage ships the netfilter userspace the checks load or run (libnftables1, iptables), from Debian',
  async (t) => {
    const installs = all(runtime, 'RUN').filter((r) => /apt-get install /.test(r));
    t.ok(
      installs.some((r) => /\blibnftables1\b/.test(r)),
      'libnftables1: nftables and network_lock_nftables load it',
    );
    t.ok(
      installs.some((r) => /\biptables\b/.test(r)),
      'iptables: has_ipt_legacy runs iptables-legacy-save',
    );
  },
);

/** The runtime stage's smoke step: the RUN that checks one feature by name. */
const smokeStep = all(runtime, 'RUN').find((r) => /criu-readiness check --feature /.test(r));

t.test("the build's smoke step runs one real probe through the CLI on PATH and requires its answer", async (t) => {
  t.ok(smokeStep, 'a RUN runs `criu-readiness check --feature NAME`');
  const feature = /check --feature (\w+)/.exec(smokeStep ?? '')?.[1];
  // The answer is compared, not just the exit code: a probe that ran and said "supported".
  t.match(smokeStep, `"${feature} is supported"`);
  const runs = all(runtime, 'RUN');
  t.ok(
    runs.indexOf(smokeStep!) > runs.findIndex((r) => r.includes('/usr/local/bin/criu-readiness')),
    'after criu-readiness is on PATH',
  );
});

t.test(
  "the image's build runs every probe once after the smoke step, so the runner's code cache holds them all",
  async (t) => {
    const runs = all(runtime, 'RUN');
    const step = runs.find((r) => /criu-readiness check --all\b/.test(r));
    t.ok(step, 'a RUN runs check --all');
    t.ok(runs.indexOf(step!) > runs.indexOf(smokeStep!), 'after the smoke step, which proves the runner works');
  },
);

t.test(
  "the image's compile cache is made at build, beside dist/, for the service's modules and with its Node options",
  async (t) => {
    const runs = all(runtime, 'RUN');
    const step = runs.find((r) => r.includes('NODE_COMPILE_CACHE='));
    t.ok(step, 'a RUN fills the compile cache');
    t.match(step, 'NODE_COMPILE_CACHE=/app/.compile-cache ', 'where the CLI looks for it (src/compile-cache.ts)');
    t.match(step, `node ${pkg.config.serviceNodeOptions} `, "with the service's Node options");
    t.match(step, '/app/dist/http', "the service's modules");
    t.ok(runs.indexOf(step!) > runs.indexOf(smokeStep!), 'after the smoke step, whose CLI and runner it keeps');
  },
);

t.test("npm's CA reaches the npm steps only as a build secret: mounted for the step, in no layer", async (t) => {
  const npmSteps = stages.flatMap((stage) => all(stage, 'RUN').filter((r) => /\bnpm ci\b/.test(r)));
  t.ok(npmSteps.length >= 2, 'the deps and build stages install with npm ci');
  for (const step of npmSteps) {
    t.match(step, /^--mount=type=secret,id=npmca /, 'the CA is a secret mount of this step');
    t.match(step, 'NODE_EXTRA_CA_CERTS=/run/secrets/npmca', 'npm is pointed at it for this step only (export)');
  }
  const persisted = stages.flatMap((stage) =>
    stage.instructions.filter((i) => ['ENV', 'ARG', 'COPY', 'ADD'].includes(i.keyword)).map((i) => i.args),
  );
  t.same(
    persisted.filter((a) => /npmca|NODE_EXTRA_CA_CERTS|cafile|\.pem\b/i.test(a)),
    [],
    'no ENV, ARG, COPY or ADD names a CA',
  );
});

t.test('the service port is exposed', async (t) => {
  t.equal(one(runtime, 'EXPOSE'), String(SERVICE_PORT));
});

t.test('OCI labels name the image, its version and licence', async (t) => {
  const labels = one(runtime, 'LABEL');
  const version = /^ARG VERSION=(\S+)$/m.exec(dockerfileText)![1];
  t.equal(version, pkg.version, "the default VERSION is package.json's");
  t.match(labels, 'org.opencontainers.image.title="criu-readiness"');
  t.match(labels, 'org.opencontainers.image.version="${VERSION}"');
  t.match(labels, `org.opencontainers.image.licenses="${pkg.license}"`);
  t.match(labels, 'org.opencontainers.image.description=');
});

const healthcheckExec = JSON.parse(/CMD (\[.*\])$/.exec(one(runtime, 'HEALTHCHECK'))![1]) as string[];

t.test('the HEALTHCHECK asks /healthz with node itself (slim images have no curl)', async (t) => {
  t.same(healthcheckExec.slice(0, 2), ['node', '-e']);
  t.match(healthcheckExec[2], `http://127.0.0.1:${SERVICE_PORT}/healthz`);
});

t.test("the HEALTHCHECK's image format is documented: podman builds keep it only with --format docker", async (t) => {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  for (const [where, text] of [
    ['Dockerfile', dockerfileText],
    ['README.md', readme],
  ] as const) {
    t.match(text, /podman build --format docker/, `${where}: the podman build command keeps it`);
    t.match(text, /OCI\s+(image\s+)?format\s+has\s+no\s+HEALTHCHECK/, `${where}: why`);
  }
});

/** The HEALTHCHECK's node arguments, pointed at `port`. */
const healthcheck = (port: number) => [
  healthcheckExec[1],
  healthcheckExec[2].replace(`:${SERVICE_PORT}/`, `:${port}/`),
];

t.test('the HEALTHCHECK passes on a 200 from /healthz and fails otherwise', async (t) => {
  let status = 200;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  // Asynchronously: this process's server has to answer the child.
  const exitCode = (argv: string[]) =>
    new Promise<number | null>((resolve) =>
      spawn(process.execPath, argv, { stdio: 'ignore', timeout: 10_000 }).on('exit', resolve),
    );
  t.equal(await exitCode(healthcheck(port)), 0);
  status = 503;
  t.equal(await exitCode(healthcheck(port)), 1);
  t.same(paths, ['/healthz', '/healthz']);
  await new Promise((resolve) => server.close(resolve));
  t.equal(await exitCode(healthcheck(port)), 1, 'nothing listening');
});

t.test('the build context holds exactly what the Dockerfile copies', async (t) => {
  const included = readFileSync(new URL('.dockerignore', ROOT), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
  t.ok(readFileSync(new URL('.dockerignore', ROOT), 'utf8').split('\n').includes('*'), 'everything else is excluded');
  const copied = new Set<string>();
  for (const stage of stages) {
    for (const copy of all(stage, 'COPY').filter((a) => !a.startsWith('--from='))) {
      for (const source of copy.split(/\s+/).slice(0, -1)) copied.add(source.replace(/\/$/, ''));
    }
  }
  t.same([...copied].sort(), [...included].sort());
  for (const path of included) t.ok(existsSync(new URL(path, ROOT)), `${path} exists`);
});

/**
 * The runtime stage without Docker: package.json, openapi/, the compiled
 * dist/ and the production dependencies only (as `npm ci --omit=dev` leaves
 * them), in a directory with no node_modules above it. A source file that
 * imports a dev dependency, or a file the image lacks, fails here.
 */
function runtimeStage(t: Test): string {
  const root = fileURLToPath(ROOT);
  const app = mkdtempSync(join(tmpdir(), 'criu-readiness-image-'));
  t.teardown(() => rmSync(app, { recursive: true, force: true }));
  cpSync(join(root, 'package.json'), join(app, 'package.json'));
  cpSync(join(root, 'openapi'), join(app, 'openapi'), { recursive: true });
  // `npm test` has just built dist/; a file run alone builds it as the image's build stage does (tsc, then the
  // bundles: tsc alone leaves out the runner's bundle).
  const built = join(root, 'dist', 'cli.js');
  const newestSource = Math.max(...filesUnder(join(root, 'src'), ['.ts']).map((f) => statSync(f).mtimeMs));
  if (!existsSync(built) || statSync(built).mtimeMs < newestSource)
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true });
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .slice(1);
  for (const dir of listed) {
    const target = join(app, relative(root, dir));
    mkdirSync(target, { recursive: true });
    // Each package without its nested node_modules: those are listed (and copied) on their own.
    cpSync(dir, target, {
      recursive: true,
      filter: (source) => !relative(dir, source).split('/').includes('node_modules'),
    });
  }
  return app;
}

/**
 * `serve` of the runtime stage's CLI on a free loopback port, with the
 * ENTRYPOINT's Node options, as the image runs it: without tap's hooks, which
 * tap puts back into a child's NODE_OPTIONS. Under coverage they write the
 * process's coverage at exit, as one JSON string, which the ENTRYPOINT's heap
 * bound cannot hold. Settles once it listens.
 */
async function serveAsTheImage(
  t: Test,
  cli: string,
): Promise<{ serve: ChildProcess; address: string; log(): string; stderr(): string }> {
  const entrypoint = JSON.parse(one(runtime, 'ENTRYPOINT')) as string[];
  const nodeOptions = entrypoint.slice(entrypoint.indexOf('node') + 1, -1);
  const command = JSON.parse(one(runtime, 'CMD')) as string[];
  const serve = spawn(
    'env',
    ['-u', 'NODE_OPTIONS', process.execPath, ...nodeOptions, cli, ...command, '--listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => serve.kill('SIGKILL'));
  let stderr = '';
  serve.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let log = '';
  const address = await new Promise<string>((resolve, reject) => {
    serve.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      const found = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (found) resolve(found[1]);
    });
    serve.on('exit', (code) => reject(new Error(`serve exited ${code}: ${log}`)));
  });
  return { serve, address, log: () => log, stderr: () => stderr };
}

t.test('the runtime stage alone runs the CLI and the service', { timeout: 120_000 }, async (t) => {
  const app = runtimeStage(t);
  const entrypoint = JSON.parse(one(runtime, 'ENTRYPOINT')) as string[];
  const cli = join(app, entrypoint.at(-1)!.replace(/^\/app\//, ''));
  t.equal(execFileSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).trim(), pkg.version);
  const check = spawnSync(process.execPath, [cli, 'check'], { encoding: 'utf8', timeout: 60_000 });
  t.ok([0, 1, 2].includes(check.status ?? -1), `check exits ${check.status}: ${check.stderr.slice(0, 300)}`);

  const { serve, address, log, stderr } = await serveAsTheImage(t, cli);
  const starting = log()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { msg?: string; heapLimitMiB?: number })
    .find((entry) => entry.msg === 'starting');
  t.ok(
    starting?.heapLimitMiB !== undefined && starting.heapLimitMiB < 100,
    `the ENTRYPOINT's options bound V8's heap (limit ${starting?.heapLimitMiB} MiB)`,
  );
  t.equal((await fetch(`${address}/healthz`)).status, 200);
  t.equal((await fetch(`${address}/openapi.json`)).status, 200);
  const stopped = new Promise<string>((resolve) => serve.on('exit', (code, signal) => resolve(`${code ?? signal}`)));
  serve.kill('SIGTERM');
  const ended = await stopped;
  t.equal(
    ended,
    '0',
    `stops cleanly on SIGTERM${ended === '0' ? '' : `: ${log().slice(-600)} ${stderr().slice(-600)}`}`,
  );
});

t.test(
  "the compile-cache step, over the runtime stage, leaves the HTTP side's V8 code, and the service takes it",
  { timeout: 180_000 },
  async (t) => {
    const app = runtimeStage(t);
    const step = all(runtime, 'RUN').find((r) => r.includes('NODE_COMPILE_CACHE='))!;
    // As the build runs it, without tap's hooks (see serveAsTheImage), in the runtime stage's directory.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: [dirname(process.execPath), process.env.PATH].join(':') };
    delete env.NODE_OPTIONS;
    const run = spawnSync('sh', ['-c', step.replaceAll('/app/', `${app}/`)], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    t.equal(run.status, 0, run.stderr);
    const code = join(app, '.compile-cache', `http-${process.version}-${process.arch}.v8`);
    t.ok(existsSync(code), "the HTTP side's code, named for this Node");
    const made = statSync(code).mtimeMs;

    const { serve, address } = await serveAsTheImage(t, join(app, 'dist', 'cli.js'));
    while ((await fetch(`${address}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = new Promise((resolve) => serve.on('exit', resolve));
    serve.kill('SIGTERM');
    await stopped;
    t.equal(statSync(code).mtimeMs, made, 'the service took it: it did not write its own');
  },
);

/** The smoke step as `sh -c` runs it, with `criu-readiness` on PATH as the runtime stage's CLI. */
function runSmokeStep(t: Test, app: string): { status: number | null; stderr: string } {
  const bin = join(app, 'bin');
  mkdirSync(bin);
  const cli = join(app, 'dist', 'cli.js');
  chmodSync(cli, 0o755);
  symlinkSync(cli, join(bin, 'criu-readiness'));
  // The CLI's shebang runs `node`: this test's own.
  const path = [bin, dirname(process.execPath), process.env.PATH].join(':');
  const run = spawnSync('sh', ['-c', smokeStep!], {
    cwd: app,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PATH: path },
  });
  t.comment(run.stderr.trim().split('\n').slice(-2).join(' '));
  return { status: run.status, stderr: run.stderr };
}

t.test('the smoke step passes over the runtime stage', { timeout: 120_000 }, async (t) => {
  t.equal(runSmokeStep(t, runtimeStage(t)).status, 0);
});

t.test("the smoke step fails the build when koffi's native library is missing", { timeout: 120_000 }, async (t) => {
  const app = runtimeStage(t);
  const native = join(app, 'node_modules', '@koromix');
  t.ok(existsSync(native), "koffi's native package is in the runtime stage");
  rmSync(native, { recursive: true, force: true });
  t.not(runSmokeStep(t, app).status, 0);
});
