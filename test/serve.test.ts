// `criu-readiness serve` as a process: settings, logs, and a clean exit on SIGTERM under load.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { TS_LOADER } from './helpers/node.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [...TS_LOADER, cli, 'serve', ...args], { env: { ...process.env, ...env } });
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function ended(child: ChildProcessWithoutNullStreams): Promise<Ended> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

t.test('serve --help lists the options with their environment variables and defaults', async (t) => {
  const result = await ended(start(['--help']));
  t.equal(result.code, 0);
  t.match(result.stdout, /--listen HOST:PORT[\s\S]*env CRIU_READINESS_LISTEN; default 0\.0\.0\.0:9870/);
  t.match(result.stdout, /--refresh-interval SECONDS[\s\S]*env CRIU_READINESS_REFRESH_INTERVAL; default 300/);
});

t.test('a bad setting stops start-up with exit 2 and a message naming it, without a stack trace', async (t) => {
  const flag = await ended(start(['--refresh-interval', 'often']));
  t.equal(flag.code, 2);
  t.equal(flag.stderr, 'Error: invalid --refresh-interval (CRIU_READINESS_REFRESH_INTERVAL): --refresh-interval="often" must be a number of seconds from 1 to 604800\n');
  t.equal(flag.stdout, '');
  const env = await ended(start([], { CRIU_READINESS_LISTEN: '[::1]' }));
  t.equal(env.code, 2);
  t.match(env.stderr, /^Error: invalid --listen \(CRIU_READINESS_LISTEN\): CRIU_READINESS_LISTEN="\[::1\]" must be HOST:PORT/);
  t.notMatch(env.stderr, /\n\s+at /);
});

interface Outcome {
  sentAt: number;
  status?: number;
  error?: string;
}

/** One request on its own connection; settles with a status or a connection error, never hangs. */
function get(port: number, path: string, method = 'GET'): Promise<Outcome> {
  const sentAt = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, timeout: 20_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ sentAt, status: res.statusCode }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ sentAt, error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout: no answer')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ sentAt, error: err.code ?? err.message }));
    req.end();
  });
}

/** A serve process on a free loopback port: its port, its parsed log lines, and its end. */
async function serving(t: Test, args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; port: number; logs: Record<string, unknown>[]; result: Promise<Ended> }> {
  const child = start(['--listen', '127.0.0.1:0', ...args]);
  const result = ended(child);
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const logs: Record<string, unknown>[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      const listening = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(String(entry.msg))?.[1];
      if (listening) resolve(Number(listening));
    });
    child.on('close', () => reject(new Error('serve exited before listening')));
  });
  // Ready once the first probe run (the real catalogue) has finished.
  while ((await get(port, '/readyz')).status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
  return { child, port, logs, result };
}

t.test('SIGTERM under load: requests in flight are answered, the process exits 0 within seconds', async (t) => {
  const { child, port, logs, result } = await serving(t, ['--min-refresh-interval', '0', '--refresh-interval', '600']);
  t.ok(
    logs.some((l) => l.msg === 'probe run finished' && typeof l.supported === 'number' && typeof l.unsupported === 'number' && typeof l.unknown === 'number' && typeof l.durationMs === 'number'),
    'a pino JSON line per probe run, with counts and duration',
  );

  const outcomes: Outcome[] = [];
  let stop = false;
  const workers = Array.from({ length: 20 }, async (_, i) => {
    const paths = ['/check?level=all', '/features', '/features/kcmp', '/metrics', '/check?format=text'];
    while (!stop) {
      const outcome = await get(port, paths[i % paths.length]);
      outcomes.push(outcome);
      if (outcome.error) break; // the listener is gone
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const refresh = get(port, '/refresh', 'POST');
  await new Promise((resolve) => setTimeout(resolve, 20));
  const signalledAt = performance.now();
  child.kill('SIGTERM');
  const exit = await result;
  const exitedAfterMs = performance.now() - signalledAt;
  stop = true;
  await Promise.all(workers);

  t.equal(exit.code, 0, 'exit code 0');
  t.equal(exit.signal, null);
  t.ok(exitedAfterMs < 5000, `exited ${Math.round(exitedAfterMs)} ms after SIGTERM`);
  t.equal((await refresh).status, 200, 'the refresh in flight at SIGTERM was answered');
  const beforeSignal = outcomes.filter((o) => o.sentAt < signalledAt);
  t.ok(beforeSignal.length > 20, `load before the signal (${beforeSignal.length} requests)`);
  t.same(
    beforeSignal.filter((o) => o.status === undefined),
    [],
    'every request sent before SIGTERM got an answer',
  );
  t.ok(
    outcomes.every((o) => (o.status !== undefined && o.status < 500) || o.status === 503 || o.error === 'ECONNREFUSED' || o.error === 'ECONNRESET'),
    'after it, answers or a closed listener; nothing hangs',
  );
  t.same(
    outcomes.filter((o) => o.status !== undefined && o.status >= 500 && o.status !== 503),
    [],
    'no 5xx other than a level failing (503)',
  );
  const stderrLines = exit.stderr.trim();
  t.equal(stderrLines, '', 'nothing on stderr');
  t.match(exit.stdout, /"msg":"shutting down"[\s\S]*"msg":"stopped"/);
  t.notOk(
    logs.some((l) => l.msg === 'request completed'),
    'requests are not logged at the default levels',
  );
});

t.test('--nfd-features-file gets the NFD feature file after each run; --request-log-level info logs each request', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-nfd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'criu-readiness');
  const { child, port, logs, result } = await serving(t, ['--nfd-features-file', file, '--request-log-level', 'info']);
  // The file is written right after the run that made /readyz 200.
  while (!existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 50));
  const text = readFileSync(file, 'utf8');
  t.match(text, /^criu-readiness\.feature\.node\.kubernetes\.io\/ready\.required=(true|false)$/m);
  t.match(text, /^criu-readiness\.feature\.node\.kubernetes\.io\/kcmp=(supported|unsupported|unknown)$/m);
  await get(port, '/healthz');
  child.kill('SIGINT');
  t.equal((await result).code, 0, 'SIGINT ends it cleanly too');
  t.ok(
    logs.some((l) => l.msg === 'request completed' && l.level === 30 && (l.req as { url?: string } | undefined)?.url === '/healthz'),
    'one info line for the request',
  );
});

t.test('an address in use ends serve with exit 1 and says why', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { port } = taken.address() as AddressInfo;
  const exit = await ended(start(['--listen', `127.0.0.1:${port}`]));
  t.equal(exit.code, 1);
  t.match(exit.stderr, new RegExp(`^Error: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});
