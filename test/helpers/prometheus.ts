// A real Prometheus server (Debian's /usr/bin/prometheus) on loopback, for
// integration tests, promtool, and canned reports to feed the metrics. The caller must stop() the server: it
// terminates the process (SIGTERM, then SIGKILL) and removes its directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CATALOGUE } from '../../src/catalogue.js';
import type { Report } from '../../src/service/check.js';
import { STATUSES, type Verdict } from '../../src/model.js';
import type { ExpositionFormat, Metrics } from '../../src/metrics.js';

const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

/** Run promtool; its exit status and output. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Poll until `probe` gives a value (not undefined), or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface ScrapeTarget {
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  scrapeUrl: string;
}

export interface RuleGroup {
  name: string;
  rules: { name: string; health: 'ok' | 'err' | 'unknown'; lastError?: string; lastEvaluation: string }[];
}

export interface PrometheusServer {
  url: string;
  /** Everything the server wrote, for failure messages. */
  log(): string;
  /** An instant query through the HTTP API. */
  query(expr: string): Promise<Sample[]>;
  targets(): Promise<ScrapeTarget[]>;
  /** The rule groups the server loaded, with each rule's health. */
  rules(): Promise<RuleGroup[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port of each scrape target (one job). */
  targets: string[];
  scrapeIntervalS?: number;
  /** Absolute paths of rule files to load. */
  ruleFiles?: string[];
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? response.status}`);
  return body.data;
}

async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const graceful = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!graceful) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Start a Prometheus server on a free loopback port and wait until it is ready. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-prometheus-'));
  const interval = `${options.scrapeIntervalS ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [{ job_name: 'criu-readiness', static_configs: [{ targets: options.targets }] }],
  };
  // JSON is YAML: no YAML writer needed for the config.
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));

  let child: ChildProcess | undefined;
  let output = '';
  const stop = async () => {
    try {
      if (child) await terminate(child, 5_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const started = child;
    for (const stream of [started.stdout, started.stderr])
      stream?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const spawnFailed = new Promise<never>((_, reject) => {
      started.once('error', reject);
      started.once('exit', (code, signal) =>
        reject(new Error(`prometheus exited (${code ?? signal}) before it was ready:\n${output}`)),
      );
    });
    spawnFailed.catch(() => undefined);
    await Promise.race([
      spawnFailed,
      waitFor('Prometheus to be ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined)),
    ]);

    return {
      url,
      log: () => output,
      query: async (expr) =>
        (await api<{ result: Sample[] }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
      targets: async () => (await api<{ activeTargets: ScrapeTarget[] }>(`${url}/api/v1/targets`)).activeTargets,
      rules: async () => (await api<{ groups: RuleGroup[] }>(`${url}/api/v1/rules`)).groups,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A report of every catalogue feature, with the statuses taking turns so each occurs in each category. */
export function cannedReport(options: { omit?: string[]; finishedAt?: Date } = {}): Report {
  const verdicts = CATALOGUE.filter((f) => !options.omit?.includes(f.name)).map((f, i): Verdict => {
    const status = STATUSES[i % STATUSES.length];
    const reason = status === 'supported' ? 'Supported' : status === 'unsupported' ? 'NotInKernel' : 'PermissionDenied';
    return {
      name: f.name,
      category: f.category,
      status,
      reason,
      message: `${f.name} is ${status}`,
      hint: status === 'supported' ? '' : f.hint,
      kconfig: [],
      durationMs: 0.25 + i / 10,
    };
  });
  return { verdicts, finishedAt: options.finishedAt ?? new Date('2025-01-02T03:04:05.678Z'), durationMs: 87.5 };
}

/** The exposition as text. */
export async function exposition(metrics: Metrics, format: ExpositionFormat = 'prometheus'): Promise<string> {
  return (await metrics.render(format)).body.toString('utf8');
}
