// npm run bench: every figure as a ratio against a baseline measured in the
// same run on the same machine. Prints a table and writes BENCHMARKS.md and
// the README's benchmark section, between the markers of the Node major it
// ran on. `BENCH_NODE=/path/to/node npm run bench` runs it all on another
// Node (npm sets NODE itself); `CRIU=/path/to/criu` adds upstream
// `criu check --all` as a baseline; `-- --quick` is a short smoke that writes
// no file.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { CATALOGUE } from '../src/catalogue.js';
import { ProbeEngine } from '../src/engine/engine.js';
import { runCheck } from '../src/service/check.js';
import { makeMemoryCgroup, removeCgroups, type MemoryCgroup } from './cgroup.js';
import { replaceSection } from './sections.js';
import { childrenCpuMs } from './rusage.js';
import { IDLE_CHARGE_TARGET_MIB, LOAD_CHARGE_TARGET_MIB } from './limits.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
/** The command as installed: for `check`, it starts the runner beside the CLI. */
const installed = join(root, 'bin/criu-readiness');
const bareServer = join(root, 'bench/bare-server.mjs');
const attackersScript = join(root, 'bench/attackers.mjs');
const SERVICE_NODE_OPTIONS = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { config: { serviceNodeOptions: string } }
).config.serviceNodeOptions.split(' ');
const quick = process.argv.includes('--quick');
/**
 * Upstream criu to compare with. CRIU is also the variable our runtime checks
 * read for the criu to test (criu_runs runs that criu's own check): taken
 * out of the environment, so that our `check --all` and the service test
 * the same host as they would without the bench's criu.
 */
const criuGiven = process.env.CRIU || undefined;
delete process.env.CRIU;
/** The Node under test: the one running the bench (package.json starts it with $BENCH_NODE when set). */
const node = process.execPath;
const nodeMajor = process.versions.node.split('.')[0];
/** Paired rounds of each route against its bare twin; each side runs this long per round. */
const HTTP_ROUNDS = quick ? 4 : 12;
const HTTP_ROUND_SECONDS = 1.5;
const LOAD_SECONDS = quick ? 5 : 30;
const PROCESS_RUNS = quick ? 5 : 15;
const START_RUNS = quick ? 3 : 9;
/** Forced refreshes before the idle charge is read, and the quiet after them. */
const IDLE_REFRESHES = 3;
const SETTLE_MS = quick ? 2000 : 5000;
const WARMUP_SECONDS = 2;
/** The server under test gets core 0; the load generator (this process) core 1. */
const SERVER_CORE = '0';
const LOAD_CORE = '1';
const MiB = 1024 * 1024;

interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  pass: boolean | undefined;
}
const rows: Row[] = [];
const notes: string[] = [];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface ProcessSample {
  wallMs: number;
  /** User plus system time of the whole process tree. */
  cpuMs: number;
}

/**
 * One whole process, run to its end, timed; `expect` says what a run that
 * did its work returns (a run that failed must not be timed as one that did).
 */
function timeProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  expect: (r: SpawnSyncReturns<Buffer>) => boolean = (r) => r.status === 0,
): ProcessSample {
  const cpuBefore = childrenCpuMs();
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { stdio: 'ignore', env });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpuMs = childrenCpuMs() - cpuBefore;
  if (r.error) throw r.error;
  if (!expect(r)) throw new Error(`${command} ${args.join(' ')}: exit ${r.status}, signal ${r.signal}`);
  return { wallMs, cpuMs };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitFor(url: string, ok: (status: number) => boolean, timeoutMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (ok(res.status)) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start a program on the server's core, in the given cgroup when there is one (it and every child it starts). */
function startPinned(command: string[], cgroup?: MemoryCgroup): ChildProcess {
  const pinned = ['taskset', '-c', SERVER_CORE, ...command];
  const [file, ...args] = cgroup
    ? ['sh', '-c', 'echo $$ > "$0" && exec "$@"', join(cgroup.path, 'cgroup.procs'), ...pinned]
    : pinned;
  return spawn(file, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** sh and taskset exec the service in place, so its pid is the child's; wait until it is the node process. */
async function mainPid(child: ChildProcess): Promise<number> {
  const pid = child.pid ?? 0;
  for (let i = 0; i < 100 && !readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('cli.js'); i++) await sleep(20);
  return pid;
}

/** The cgroup's highest charge while `work` runs: the kernel's peak where it keeps one, and sampling. */
async function peakCharge<T>(cgroup: MemoryCgroup, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  cgroup.resetPeak();
  let peak = cgroup.current();
  const sampler = setInterval(() => (peak = Math.max(peak, cgroup.current())), 100);
  try {
    const result = await work();
    return { result, peak: Math.max(peak, cgroup.current(), cgroup.peak() ?? 0) };
  } finally {
    clearInterval(sampler);
  }
}

function describeCharge(cgroup: MemoryCgroup): { total: number; text: string } {
  const total = cgroup.current();
  const { anon, file, kernel } = cgroup.breakdown();
  const text = `${fmt(total / MiB, 1)} (anon ${fmt(anon / MiB, 1)}, page cache ${fmt(file / MiB, 1)}, kernel ${fmt(kernel / MiB, 1)})`;
  return { total, text };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function cannon(
  url: string,
  connections: number,
  seconds: number,
  requests?: { method?: string; path: string }[],
): Promise<Result> {
  return autocannon({ url, connections, duration: seconds, requests });
}

/** Our CLI's answers: 0, 1 or 2 as node-problem-detector reads them. */
const cliAnswered = (r: SpawnSyncReturns<Buffer>) => r.status !== null && r.status <= 2;

/** The criu to compare with, checked once: it must run its checks through, or it is not a baseline. */
function criuBaseline():
  { path: string; version: string; answered: (r: SpawnSyncReturns<Buffer>) => boolean } | string {
  const path = criuGiven;
  if (!path) return 'not measured: set CRIU=/path/to/criu';
  const version = spawnSync(path, ['--version'], { encoding: 'utf8' });
  const check = spawnSync(path, ['check', '--all'], { encoding: 'utf8' });
  const output = `${check.stdout ?? ''}${check.stderr ?? ''}`;
  // `criu check --all` ends with "Looks good." (exit 0) or "Looks good but
  // some kernel features are missing" (exit 1); anything else (not root, a
  // crash) did not check the kernel.
  if (check.error || check.signal !== null || !/^Looks good/m.test(output))
    return `not measured: \`${path} check --all\` failed (exit ${check.status}, signal ${check.signal}): ${
      output.trim().split('\n')[0] || check.error?.message || 'it printed nothing'
    }`;
  const status = check.status;
  return {
    path,
    version: /Version: (\S+)/.exec(version.stdout ?? '')?.[1] ?? 'unknown version',
    answered: (r) => r.status === status,
  };
}

/** A row comparing two samples' medians. */
function ratioRow(figure: string, value: number, baseline: number, baselineName: string, maxRatio?: number): void {
  const ratio = value / baseline;
  rows.push({
    figure,
    value: fmt(value, 1),
    baseline: `${fmt(baseline, 1)} (${baselineName})`,
    ratio: fmt(ratio, 2),
    target: maxRatio === undefined ? '(report)' : `<= ${maxRatio}`,
    pass: maxRatio === undefined ? undefined : ratio <= maxRatio,
  });
}

const notMeasured = (figure: string, why: string, target: string) =>
  rows.push({ figure, value: why, baseline: '-', ratio: '-', target, pass: undefined });

/**
 * `check --all` against `node -e 0` and (given CRIU) `criu check --all`,
 * each a whole process started as people start it (the command as installed,
 * which finds the Node under test first on PATH), interleaved so all see the
 * same machine. Returns the median wall time of one `check --all`.
 */
function compareCli(env: NodeJS.ProcessEnv, withCriu: boolean): { wallMs: number } {
  const criu = withCriu ? criuBaseline() : undefined;
  const ours: ProcessSample[] = [];
  const bare: ProcessSample[] = [];
  const upstream: ProcessSample[] = [];
  timeProcess(installed, ['check', '--all'], env, cliAnswered); // warm the page cache
  if (typeof criu === 'object') timeProcess(criu.path, ['check', '--all'], env, criu.answered);
  for (let i = 0; i < PROCESS_RUNS; i++) {
    bare.push(timeProcess(node, ['-e', '0'], env));
    ours.push(timeProcess(installed, ['check', '--all'], env, cliAnswered));
    if (typeof criu === 'object') upstream.push(timeProcess(criu.path, ['check', '--all'], env, criu.answered));
  }
  const wall = (samples: ProcessSample[]) => median(samples.map((s) => s.wallMs));
  const cpu = (samples: ProcessSample[]) => median(samples.map((s) => s.cpuMs));
  if (!withCriu) {
    ratioRow("the same with this machine's NODE_EXTRA_CA_CERTS (median ms)", wall(ours), wall(bare), '`node -e 0`');
    return { wallMs: wall(ours) };
  }
  ratioRow('`check --all`, whole process: wall (median ms)', wall(ours), wall(bare), '`node -e 0`', 4.5);
  ratioRow('`check --all`, whole process: CPU, user+sys of its tree (median ms)', cpu(ours), cpu(bare), '`node -e 0`');
  if (criu === undefined) return { wallMs: wall(ours) };
  if (typeof criu === 'string') {
    notMeasured('`check --all` against `criu check --all`: wall', criu, '<= 1.0');
    notMeasured('`check --all` against `criu check --all`: CPU', criu, '(report)');
  } else {
    const name = `\`criu check --all\`, CRIU ${criu.version}`;
    ratioRow('`check --all` against `criu check --all`: wall (median ms)', wall(ours), wall(upstream), name, 1.0);
    ratioRow('`check --all` against `criu check --all`: CPU (median ms)', cpu(ours), cpu(upstream), name);
  }
  return { wallMs: wall(ours) };
}

/** Run before the benchmark pins itself to a core: the CLI and its runner start side by side, as on a node. */
async function benchCli(): Promise<number> {
  // Node 20 reads NODE_EXTRA_CA_CERTS's bundle at every start-up; the runner
  // is spared it. Where it is set, `node -e 0` carries a cost that only one of
  // our two processes pays, which flatters the ratio: the target is judged
  // without it (as in the image), and the figure with it is reported.
  const { NODE_EXTRA_CA_CERTS: extraCertificates, ...clean } = process.env;
  const onPath = (env: NodeJS.ProcessEnv) => ({ ...env, PATH: `${dirname(node)}:${env.PATH ?? ''}` });
  const { wallMs } = compareCli(onPath(clean), true);
  if (extraCertificates !== undefined) compareCli(onPath(process.env), false);

  // Per-probe durations are in no body (bodies hold verdicts only): one run through the engine gives them.
  const engine = new ProbeEngine();
  const features = (await runCheck(engine, CATALOGUE)).verdicts;
  await engine.close();
  const total = features.reduce((sum, f) => sum + f.durationMs, 0);
  const slowest = [...features].sort((a, b) => b.durationMs - a.durationMs).slice(0, 10);
  notes.push(
    `Probe time in one \`check --all\`: ${fmt(total, 1)} ms over ${features.length} probes. Slowest ten: ` +
      slowest.map((f) => `${f.name} ${fmt(f.durationMs, 1)} ms`).join(', ') +
      '.',
  );
  return wallMs;
}

/** Spawn `serve` to its first 200 on /readyz, as the image starts it, several times: the median. */
async function benchStart(checkWallMs: number): Promise<void> {
  const { NODE_EXTRA_CA_CERTS: _extraCertificates, ...env } = process.env;
  const samples: number[] = [];
  for (let i = 0; i < START_RUNS; i++) {
    const port = await freePort();
    const started = performance.now();
    const server = spawn(
      node,
      [...SERVICE_NODE_OPTIONS, cli, 'serve', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'inherit'], env },
    );
    try {
      await waitFor(`http://127.0.0.1:${port}/readyz`, (s) => s === 200, 60_000, 10);
      samples.push(performance.now() - started);
    } finally {
      await stop(server);
    }
    await sleep(500); // the supervisor follows its HTTP process out
  }
  ratioRow('start to `/readyz` 200 (median ms)', median(samples), checkWallMs, 'one `check --all`', 2);
}

const IDLE_FIGURE = "idle: memory charged to the service's cgroup (MiB)";
const LOAD_FIGURE = "load: peak memory charged to the service's cgroup (MiB)";

/** The baseline for the idle charge: a bare fastify server serving `body`, idle in a cgroup of its own. */
async function bareIdleCharge(bodyFile: string, contentType: string, port: number): Promise<string> {
  const cgroup = makeMemoryCgroup(`criu-readiness-bench-${process.pid}-bare`);
  if (typeof cgroup === 'string') return `not measured: ${cgroup}`;
  const bare = startPinned([node, bareServer, String(port), bodyFile, contentType], cgroup);
  try {
    await waitFor(`http://127.0.0.1:${port}/`, (s) => s === 200);
    await sleep(SETTLE_MS);
    return `${describeCharge(cgroup).text}; a bare fastify server, idle`;
  } finally {
    await stop(bare);
    await cgroup.remove();
  }
}

async function benchHttp(): Promise<void> {
  const [port, barePort] = await Promise.all([freePort(), freePort()]);
  const base = `http://127.0.0.1:${port}`;
  const cgroup = makeMemoryCgroup(`criu-readiness-bench-${process.pid}`);
  // Started as the image starts it: with the service's Node options.
  const server = startPinned(
    [
      node,
      ...SERVICE_NODE_OPTIONS,
      cli,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--min-refresh-interval',
      '0',
      '--log-level',
      'warn',
    ],
    typeof cgroup === 'string' ? undefined : cgroup,
  );
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-bench-'));
  try {
    const serverPid = await mainPid(server);
    await waitFor(`${base}/readyz`, (s) => s === 200);

    // Full refresh: a probe run, as POST /refresh waits for it.
    const refresh: number[] = [];
    const nodeStart: number[] = [];
    for (let i = 0; i < Math.max(PROCESS_RUNS, IDLE_REFRESHES); i++) {
      nodeStart.push(timeProcess(node, ['-e', '0'], process.env).wallMs);
      const started = performance.now();
      const res = await fetch(`${base}/refresh`, { method: 'POST' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`POST /refresh answered ${res.status}`);
      refresh.push(performance.now() - started);
    }
    ratioRow('full refresh, `POST /refresh` (median ms)', median(refresh), median(nodeStart), '`node -e 0`');

    // The idle charge: after the first run and the refreshes, once it settles.
    let idle: { total: number; text: string } | undefined;
    if (typeof cgroup !== 'string') {
      const startPeak = cgroup.peak();
      await sleep(SETTLE_MS);
      idle = describeCharge(cgroup);
      if (startPeak !== undefined)
        notes.push(
          `Peak charge from start through the first run and ${refresh.length} refreshes: ${fmt(startPeak / MiB, 1)} MiB.`,
        );
    }

    for (const [route, contentType, target] of [
      ['/check?level=all', 'application/json; charset=utf-8', 0.9],
      ['/metrics', 'text/plain; version=0.0.4; charset=utf-8', 0.5],
    ] as const) {
      const res = await fetch(base + route);
      const body = Buffer.from(await res.arrayBuffer());
      const bodyFile = join(dir, 'body');
      writeFileSync(bodyFile, body);
      const type = res.headers.get('content-type') ?? contentType;
      if (route === '/check?level=all') {
        if (typeof cgroup === 'string' || !idle)
          notMeasured(IDLE_FIGURE, `not measured: ${cgroup}`, `<= ${IDLE_CHARGE_TARGET_MIB}`);
        else {
          rows.push({
            figure: IDLE_FIGURE,
            value: idle.text,
            baseline: await bareIdleCharge(bodyFile, type, barePort),
            ratio: '-',
            target: `<= ${IDLE_CHARGE_TARGET_MIB}`,
            pass: idle.total <= IDLE_CHARGE_TARGET_MIB * MiB,
          });
        }
      }
      const bare = startPinned([node, bareServer, String(barePort), bodyFile, type]);
      try {
        await waitFor(`http://127.0.0.1:${barePort}/`, (s) => s === 200);
        // A short warm-up of each first, so neither is measured while its code is still being compiled.
        await cannon(`http://127.0.0.1:${barePort}${route}`, 50, WARMUP_SECONDS);
        await cannon(base + route, 50, WARMUP_SECONDS);
        // Short rounds in pairs, in turn (bare first, then ours first), each pair a
        // ratio: this machine's speed drifts by a third within seconds, and a
        // drift falls on both sides of a pair alike. The median pair decides.
        const baseline: Result[] = [];
        const measured: Result[] = [];
        for (let round = 0; round < HTTP_ROUNDS; round++) {
          const bareRound = () => cannon(`http://127.0.0.1:${barePort}${route}`, 50, HTTP_ROUND_SECONDS);
          const ourRound = () => cannon(base + route, 50, HTTP_ROUND_SECONDS);
          if (round % 2 === 0) {
            baseline.push(await bareRound());
            measured.push(await ourRound());
          } else {
            measured.push(await ourRound());
            baseline.push(await bareRound());
          }
        }
        const rate = (results: Result[]) => median(results.map((r) => r.requests.total / HTTP_ROUND_SECONDS));
        const p99 = (results: Result[]) => Math.max(...results.map((r) => r.latency.p99));
        const ratio = median(measured.map((r, i) => r.requests.total / baseline[i].requests.total));
        rows.push({
          figure: `\`GET ${route}\` cached (req/s; p99 ms)`,
          value: `${fmt(rate(measured))}; p99 ${p99(measured)}`,
          baseline: `${fmt(rate(baseline))}; p99 ${p99(baseline)} (bare route)`,
          ratio: fmt(ratio, 2),
          target: `>= ${target}`,
          pass: ratio >= target && measured.every((r) => r.errors === 0 && r.non2xx === 0),
        });
        if (route === '/metrics') notes.push(`The /metrics exposition is ${fmt(body.length)} bytes.`);
      } finally {
        await stop(bare);
      }
    }

    await benchLoad(base, cgroup, idle?.total);
    await benchAttack(base, port, serverPid, cgroup);
    if (typeof cgroup !== 'string') {
      await sleep(SETTLE_MS);
      // Reported beside the idle figure: V8 keeps the heap it grew, so a loaded service does not return to it.
      const after = describeCharge(cgroup);
      rows.push({
        figure: "after the load and the attack, settled: memory charged to the service's cgroup (MiB)",
        value: after.text,
        baseline: idle ? `${fmt(idle.total / MiB, 1)} (idle, above)` : '-',
        ratio: idle ? fmt(after.total / idle.total, 2) : '-',
        target: '(report)',
        pass: undefined,
      });
    }
  } finally {
    await stop(server);
    if (typeof cgroup !== 'string') await cgroup.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mixed load with forced refreshes, two equal rounds, watching the cgroup's charge. */
async function benchLoad(base: string, cgroup: MemoryCgroup | string, idleCharge: number | undefined): Promise<void> {
  const peaks: number[] = [];
  let failures = 0;
  for (let round = 0; round < 2; round++) {
    const load = async () => {
      let refreshing = true;
      const refresher = (async () => {
        while (refreshing) {
          const res = await fetch(`${base}/refresh`, { method: 'POST' });
          await res.arrayBuffer();
          if (res.status !== 200) failures++;
          await sleep(1000);
        }
      })();
      const result = await cannon(base, 100, LOAD_SECONDS, [
        { path: '/check?level=all' },
        { path: '/features/tcp_repair' },
        { path: '/metrics' },
      ]);
      refreshing = false;
      await refresher;
      return result;
    };
    let result: Result;
    if (typeof cgroup === 'string') result = await load();
    else {
      const measured = await peakCharge(cgroup, load);
      result = measured.result;
      peaks.push(measured.peak);
    }
    failures += result.errors + result.timeouts + result.non2xx;
    notes.push(
      `Load round ${round + 1}: ${fmt(result.requests.total)} requests in ${LOAD_SECONDS} s over 100 connections ` +
        `(/check, /features/:name, /metrics, a forced refresh every second): ${result.errors} errors, ` +
        `${result.timeouts} timeouts, ${result.non2xx} non-2xx; p99 ${result.latency.p99} ms` +
        (peaks[round] === undefined ? '.' : `; peak charge ${fmt(peaks[round] / MiB, 1)} MiB.`),
    );
  }
  rows.push({
    figure: 'load: errors and unexpected statuses',
    value: String(failures),
    baseline: '0',
    ratio: '-',
    target: '0',
    pass: failures === 0,
  });
  if (typeof cgroup === 'string' || idleCharge === undefined) {
    notMeasured(LOAD_FIGURE, `not measured: ${cgroup}`, `<= ${LOAD_CHARGE_TARGET_MIB}`);
    return;
  }
  const peak = Math.max(...peaks);
  rows.push({
    figure: LOAD_FIGURE,
    value: fmt(peak / MiB, 1),
    baseline: `${fmt(idleCharge / MiB, 1)} (idle, above)`,
    ratio: fmt(peak / idleCharge, 2),
    target: `<= ${LOAD_CHARGE_TARGET_MIB}`,
    pass: peak <= LOAD_CHARGE_TARGET_MIB * MiB,
  });
  rows.push({
    figure: 'peak charge, second load round against first (MiB)',
    value: fmt(peaks[1] / MiB, 1),
    baseline: fmt(peaks[0] / MiB, 1),
    ratio: fmt(peaks[1] / peaks[0], 2),
    target: '<= 1.10',
    pass: peaks[1] / peaks[0] <= 1.1,
  });
}

/**
 * The two patterns that used to crash the service (bench/attackers.mjs, a
 * process of its own on the load core), alongside legitimate load. Reports
 * what the legitimate clients saw, and whether the service lived through it.
 */
async function benchAttack(base: string, port: number, pid: number, cgroup: MemoryCgroup | string): Promise<void> {
  const attackers = spawn('taskset', ['-c', LOAD_CORE, node, attackersScript, String(port), '20', '2000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    attackers.stdout?.once('data', () => resolve());
    attackers.once('exit', () => reject(new Error('the attackers exited before they were ready')));
  });
  const legitimate = () =>
    cannon(base, 20, LOAD_SECONDS, [{ path: '/check?level=all' }, { path: '/healthz' }, { path: '/metrics' }]);
  let result: Result;
  let peak: number | undefined;
  try {
    if (typeof cgroup === 'string') result = await legitimate();
    else ({ result, peak } = await peakCharge(cgroup, legitimate));
  } finally {
    await stop(attackers);
  }
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch {
    alive = false;
  }
  const failures = result.errors + result.timeouts + result.non2xx;
  notes.push(
    `Attack round: ${LOAD_SECONDS} s of 20 legitimate connections (/check, /healthz, /metrics) while 20 connections pipeline \`GET /check?level=all\` without reading ` +
      `(reopened as the service closes them) and 2,000 idle keep-alive connections sit open: ${fmt(result.requests.total)} legitimate requests, ${result.errors} errors, ` +
      `${result.timeouts} timeouts, ${result.non2xx} non-2xx; p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms` +
      (peak === undefined ? '.' : `; peak charge ${fmt(peak / MiB, 1)} MiB.`),
  );
  rows.push({
    figure: 'attack round: service alive; legitimate requests failed',
    value: `${alive ? 'alive' : 'DEAD'}; ${failures}`,
    baseline: '-',
    ratio: '-',
    target: 'alive',
    pass: alive,
  });
  if (peak !== undefined)
    rows.push({
      figure: "attack round: peak memory charged to the service's cgroup (MiB)",
      value: fmt(peak / MiB, 1),
      baseline: '-',
      ratio: '-',
      target: `<= ${LOAD_CHARGE_TARGET_MIB}`,
      pass: peak <= LOAD_CHARGE_TARGET_MIB * MiB,
    });
}

function table(): string {
  const header = '| figure | value | baseline (same run) | ratio | target | |\n|---|---|---|---|---|---|\n';
  return (
    header +
    rows
      .map(
        (r) =>
          `| ${r.figure} | ${r.value} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.pass === undefined ? '' : r.pass ? 'ok' : 'MISSED'} |`,
      )
      .join('\n') +
    '\n'
  );
}

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Linux ${release()}, Node ${process.version}`;
}

/** How this run was started, to be run again: the Node and criu it was given included. */
function command(): string {
  const given = [
    criuGiven ? `CRIU=${criuGiven}` : '',
    process.env.BENCH_NODE ? `BENCH_NODE=${process.env.BENCH_NODE}` : '',
  ];
  return [...given.filter(Boolean), 'npm run bench'].join(' ');
}

function writeReports(): void {
  const section =
    `Measured on ${new Date().toISOString().slice(0, 10)} with \`${command()}\` ` +
    `on ${machine()}; server pinned to one core, load from the other.\n\n${table()}\n` +
    `${notes.map((n) => `- ${n}`).join('\n')}\n`;
  for (const file of ['BENCHMARKS.md', 'README.md']) {
    const path = join(root, file);
    const replaced = replaceSection(readFileSync(path, 'utf8'), nodeMajor, section);
    if (replaced === undefined) process.stdout.write(`${file} has no markers for Node ${nodeMajor}: not written\n`);
    else writeFileSync(path, replaced);
  }
}

// Interrupted, the bench leaves no cgroup behind (nor what runs in one).
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void removeCgroups().finally(() => process.exit(130)));
const checkWallMs = await benchCli();
await benchStart(checkWallMs);
spawnSync('taskset', ['-p', '-c', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });
await benchHttp();
process.stdout.write(table() + '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n');
// A quick run is a smoke of the bench itself: its figures are too few to keep.
if (quick) process.stdout.write('--quick: BENCHMARKS.md and README.md left as they were\n');
else writeReports();
const missed = rows.filter((r) => r.pass === false);
if (missed.length > 0) process.stdout.write(`\nMissed targets: ${missed.map((r) => r.figure).join('; ')}\n`);
