// Faults through the whole service, with real processes: a probe that hangs,
// a runner killed mid-run, a runner that cannot start, overlapping refreshes,
// and SIGTERM under keep-alive load. The HTTP answers, the cache's run counts
// and the metrics must all tell the same story, and the service keeps answering.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { VerdictCache } from '../src/service/cache.js';
import { ProbeEngine, type EngineOptions } from '../src/engine/engine.js';
import { buildApp } from '../src/http/app.js';
import { DRAIN_MS } from '../src/http/serve-http.js';
import { SteeredProbes, TEST_FEATURES } from './helpers/http-cache.js';
import { TS_LOADER } from './helpers/node.js';

const probes = new SteeredProbes(t);
const probeModule = fileURLToPath(new URL('./fixtures/http-probes.ts', import.meta.url));
const PROBE_TIMEOUT_MS = 1000;

interface Feature {
  name: string;
  status: string;
  reason: string;
  message: string;
}

interface CheckBody {
  status: string;
  unknown: string[];
  features: Feature[];
}

/** The cache, the app and its engine on a free loopback port, as `serve` wires them; stopped at teardown. */
async function service(t: Test, engine: EngineOptions = {}) {
  const cache = new VerdictCache({
    engine: new ProbeEngine({ probeModule, keepWarm: true, probeTimeoutMs: PROBE_TIMEOUT_MS, ...engine }),
    features: TEST_FEATURES,
    intervalMs: 3_600_000,
    minRefreshIntervalMs: 0,
  });
  const app = buildApp({ source: cache });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    await cache.stop();
  });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const get = (path: string) => fetch(base + path);
  const refresh = async () => {
    const res = await fetch(`${base}/refresh`, { method: 'POST' });
    return {
      status: res.status,
      body: (await res.json()) as { result: string; finishedAt: string; counts: Record<string, number> },
    };
  };
  /** criu_readiness_check_runs_total by result, from GET /metrics. */
  const runsTotal = async () => {
    const text = await (await get('/metrics')).text();
    const value = (result: string) =>
      Number(
        new RegExp(`^criu_readiness_check_runs_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN,
      );
    return { ok: value('ok'), failed: value('failed'), text };
  };
  return { cache, get, refresh, runsTotal };
}

function steer(outcomes: Record<string, 'crash' | 'hang'> = {}): void {
  for (const f of TEST_FEATURES) probes.set(f.name, outcomes[f.name]);
}

t.test(
  'a probe that hangs: its feature is unknown/Timeout after the probe timeout, and the service answers from the cache meanwhile',
  async (t) => {
    steer();
    const s = await service(t);
    await s.cache.start();
    const cached = await s.get('/check');
    t.equal(cached.status, 200);
    const cachedTag = cached.headers.get('etag');

    steer({ alpha: 'hang' });
    const startedAt = performance.now();
    let finished = false;
    const refreshing = s.refresh().finally(() => {
      finished = true;
    });
    while (!s.cache.refreshing) await new Promise((resolve) => setTimeout(resolve, 5));
    const during: { path: string; status: number; etag: string | null; ms: number }[] = [];
    for (let i = 0; !finished; i++) {
      const path = ['/check', '/healthz', '/metrics', '/features/alpha'][i % 4];
      const sentAt = performance.now();
      const res = await s.get(path);
      await res.arrayBuffer();
      if (!finished)
        during.push({ path, status: res.status, etag: res.headers.get('etag'), ms: performance.now() - sentAt });
    }
    const refreshed = await refreshing;
    const tookMs = performance.now() - startedAt;

    t.ok(during.length >= 8, `answered ${during.length} requests while the probe hung`);
    t.same(
      during.filter((a) => a.status !== 200),
      [],
      'every one 200, from the verdicts before the hang',
    );
    t.ok(
      during.filter((a) => a.path === '/check').every((a) => a.etag === cachedTag),
      'GET /check gave the cached body',
    );
    t.ok(
      Math.max(...during.map((a) => a.ms)) < 1000,
      `none waited for the probe (slowest ${Math.round(Math.max(...during.map((a) => a.ms)))} ms)`,
    );
    t.ok(tookMs >= PROBE_TIMEOUT_MS, `the run ended after the probe timeout (${Math.round(tookMs)} ms)`);

    t.equal(refreshed.status, 200);
    t.match(
      refreshed.body,
      { result: 'failed', counts: { supported: 3, unsupported: 0, unknown: 1 } },
      'the features after the hung one were still probed',
    );
    const alpha = await s.get('/features/alpha');
    t.equal(alpha.status, 503);
    t.match((await alpha.json()) as Feature, {
      status: 'unknown',
      reason: 'Timeout',
      message: `probe did not finish within ${PROBE_TIMEOUT_MS} ms`,
    });
    // Durations are not in bodies (they would change them at every run): the cached verdict has it.
    const durationMs = s.cache.current?.verdicts.find((v) => v.name === 'alpha')?.durationMs ?? NaN;
    // Timed from the runner's start message, which arrives a moment after the probe started.
    t.ok(
      durationMs >= PROBE_TIMEOUT_MS - 50 && durationMs < PROBE_TIMEOUT_MS + 1000,
      `stopped at the probe timeout (${Math.round(durationMs)} ms)`,
    );
    const check = await s.get('/check');
    t.equal(check.status, 503, 'a required feature that timed out fails the required level');
    t.match((await check.json()) as CheckBody, { status: 'unknown', unknown: ['alpha'] });
    t.equal((await s.runsTotal()).failed, 1, 'the metrics count the failed run');
  },
);

t.test(
  'a runner killed mid-run: unknown/ProbeCrashed, 503 naming it, the failed run counted, and the next refresh recovers',
  async (t) => {
    steer();
    const s = await service(t);
    await s.cache.start();
    t.equal((await s.get('/check')).status, 200);
    t.match(await s.runsTotal(), { ok: 1, failed: 0 });

    steer({ alpha: 'crash' });
    const crashed = await s.refresh();
    t.match(
      crashed,
      { status: 200, body: { result: 'failed', counts: { supported: 3, unknown: 1 } } },
      'the rest of the run went on in a new runner',
    );
    const alpha = await s.get('/features/alpha');
    t.equal(alpha.status, 503);
    t.match(await alpha.json(), {
      name: 'alpha',
      status: 'unknown',
      reason: 'ProbeCrashed',
      message: /^runner exited \(SIGKILL\)/,
    });
    const check = await s.get('/check');
    t.equal(check.status, 503, '/check?level=required fails');
    const body = (await check.json()) as CheckBody;
    t.match(body, { status: 'unknown', unknown: ['alpha'] });
    t.match(
      body.features.find((f) => f.name === 'alpha'),
      { status: 'unknown', reason: 'ProbeCrashed' },
      'and names the reason',
    );
    t.match(
      await (await s.get('/check?format=text')).text(),
      /^Warn {2}\(alpha\): could not check \(ProbeCrashed\): runner exited \(SIGKILL\)[^\n]*\nCannot tell: /,
      'so does its text',
    );
    t.same(s.cache.runs, { ok: 1, failed: 1 }, 'the cache counts the failed run');
    const afterCrash = await s.runsTotal();
    t.match(afterCrash, { ok: 1, failed: 1 }, 'criu_readiness_check_runs_total{result="failed"} counts it');
    t.match(
      afterCrash.text,
      /^criu_readiness_feature_status\{feature="alpha",category="required",status="unknown"\} 1$/m,
    );
    t.match(afterCrash.text, /^criu_readiness_ready\{level="required"\} 0$/m);

    steer();
    const recovered = await s.refresh();
    t.match(recovered, { status: 200, body: { result: 'ok', counts: { supported: 4, unknown: 0 } } });
    t.equal((await s.get('/check')).status, 200, 'the next refresh recovers');
    t.match(await s.get('/features/alpha').then((r) => r.json()), { status: 'supported', reason: 'Supported' });
    t.same(s.cache.runs, { ok: 2, failed: 1 });
    const afterRecovery = await s.runsTotal();
    t.match(afterRecovery, { ok: 2, failed: 1 });
    t.match(afterRecovery.text, /^criu_readiness_ready\{level="required"\} 1$/m);
  },
);

t.test(
  'a runner that cannot start: every feature unknown/RunnerUnavailable, 503, the failed runs counted, the service still answers',
  async (t) => {
    steer();
    const callsBefore = probes.calls();
    const s = await service(t, { runnerPath: '/nonexistent/criu-readiness-runner.js' });
    await s.cache.start();
    const check = await s.get('/check?level=all');
    t.equal(check.status, 503);
    const body = (await check.json()) as CheckBody;
    t.equal(body.status, 'unknown');
    t.same(body.unknown, ['alpha', 'beta', 'gamma']);
    t.ok(
      body.features.every(
        (f) => f.status === 'unknown' && f.reason === 'RunnerUnavailable' && /runner exited \(code 1\)/.test(f.message),
      ),
      'every feature, advisory ones too, says the runner is unavailable',
    );
    for (const f of TEST_FEATURES) t.equal((await s.get(`/features/${f.name}`)).status, 503, `/features/${f.name}`);
    t.match(await s.runsTotal(), { ok: 0, failed: 1 });
    t.match(
      await s.refresh(),
      { status: 200, body: { result: 'failed', counts: { unknown: 4 } } },
      'a forced refresh fails the same way',
    );
    t.same(s.cache.runs, { ok: 0, failed: 2 });
    t.match(await s.runsTotal(), { ok: 0, failed: 2 });
    t.equal((await s.get('/healthz')).status, 200, 'the process is alive');
    t.equal(probes.calls(), callsBefore, 'no probe ever ran');
  },
);

t.test('a forced refresh during a background refresh joins it: one probe run, counted once', async (t) => {
  steer();
  const s = await service(t);
  await s.cache.start();
  const callsBefore = probes.calls();
  probes.delay(200);
  t.teardown(() => probes.delay(0));
  // What the interval timer does.
  const background = s.cache.refresh();
  const forced = await Promise.all([s.refresh(), s.refresh()]);
  const report = await background;
  t.same(
    forced.map((f) => f.body.finishedAt),
    [report.finishedAt.toISOString(), report.finishedAt.toISOString()],
    'both callers got the background run',
  );
  t.equal(probes.calls() - callsBefore, TEST_FEATURES.length, 'each probe ran once');
  t.same(s.cache.runs, { ok: 2, failed: 0 }, 'the start-up run and the shared one');
  t.match(await s.runsTotal(), { ok: 2, failed: 0 }, 'the metrics count it once');
});

// --- SIGTERM on the real serve process, clients on keep-alive connections ---

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

interface Outcome {
  sentAt: number;
  reusedSocket: boolean;
  status?: number;
  connection?: string;
  error?: string;
}

t.test(
  'SIGTERM under keep-alive load: exit 0, every request on an open connection answered, clients told to close during the drain',
  async (t) => {
    const child = spawn(
      process.execPath,
      [...TS_LOADER, cli, 'serve', '--listen', '127.0.0.1:0', '--min-refresh-interval', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const listening = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(
          String((JSON.parse(line) as { msg?: unknown }).msg),
        )?.[1];
        if (listening) resolve(Number(listening));
      });
      child.on('close', () => reject(new Error(`serve exited before listening: ${stderr}`)));
    });

    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    t.teardown(() => agent.destroy());
    const send = (path: string, method = 'GET'): Promise<Outcome> =>
      new Promise((resolve) => {
        const sentAt = performance.now();
        const req = request({ host: '127.0.0.1', port, path, method, agent, timeout: 20_000 }, (res) => {
          res.resume();
          res.on('end', () =>
            resolve({
              sentAt,
              reusedSocket: req.reusedSocket,
              status: res.statusCode,
              connection: res.headers.connection,
            }),
          );
          res.on('error', (err: NodeJS.ErrnoException) =>
            resolve({ sentAt, reusedSocket: req.reusedSocket, error: err.code ?? err.message }),
          );
        });
        req.on('timeout', () => req.destroy(new Error('no answer')));
        req.on('error', (err: NodeJS.ErrnoException) =>
          resolve({ sentAt, reusedSocket: req.reusedSocket, error: err.code ?? err.message }),
        );
        req.end();
      });
    while ((await send('/readyz')).status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));

    const outcomes: Outcome[] = [];
    let stop = false;
    const workers = Array.from({ length: 16 }, async (_, i) => {
      const paths = ['/check?level=all', '/features/kcmp', '/metrics', '/check?format=text'];
      while (!stop) {
        const outcome = await send(paths[i % paths.length]);
        outcomes.push(outcome);
        if (outcome.error === 'ECONNREFUSED') break; // the listener is gone
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const signalledAt = performance.now();
    child.kill('SIGTERM');
    const exit = await exited;
    stop = true;
    await Promise.all(workers);

    t.same(exit, { code: 0, signal: null }, 'exit code 0');
    t.equal(stderr, '', 'nothing on stderr');
    const before = outcomes.filter((o) => o.sentAt < signalledAt);
    t.ok(before.length > 50, `load before the signal (${before.length} requests)`);
    t.ok(
      before.some((o) => o.reusedSocket),
      'the clients reused their connections',
    );
    t.same(
      outcomes.filter((o) => o.reusedSocket && o.status === undefined),
      [],
      'no request sent on an open connection went unanswered',
    );
    t.same(
      outcomes.filter(
        (o) =>
          o.status === undefined &&
          !(o.sentAt >= signalledAt && (o.error === 'ECONNREFUSED' || o.error === 'ECONNRESET')),
      ),
      [],
      'the only failures are new connections after the signal, refused or reset before the server read them',
    );
    t.same(
      outcomes.filter((o) => o.status !== undefined && o.status >= 500 && o.status !== 503),
      [],
      'no 5xx other than a level failing',
    );
    const drained = outcomes.filter((o) => o.sentAt >= signalledAt + 50 && o.sentAt < signalledAt + DRAIN_MS - 100);
    t.ok(
      drained.length > 0 && drained.every((o) => o.status !== undefined),
      `answered during the drain (${drained.length} requests)`,
    );
    t.ok(
      drained.every((o) => o.connection === 'close'),
      'with Connection: close, so the clients move off',
    );
  },
);
