// `criu-readiness serve` as a process: settings, logs, and a clean exit on SIGTERM under load.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { SERVICE_MALLOC_ARENAS } from '../src/http/serve.js';
import { TS_LOADER } from './helpers/node.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const builtCli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** `serve` from source; or as built (dist/, after npm run build), the bundled supervisor and runner with it. */
function start(args: string[], env: NodeJS.ProcessEnv = {}, built = false): ChildProcessWithoutNullStreams {
  const program = built ? [builtCli] : [...TS_LOADER, cli];
  return spawn(process.execPath, [...program, 'serve', ...args], { env: { ...process.env, ...env } });
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
  t.equal(
    flag.stderr,
    'Error: invalid --refresh-interval (CRIU_READINESS_REFRESH_INTERVAL): --refresh-interval="often" must be a number of seconds from 1 to 604800\n',
  );
  t.equal(flag.stdout, '');
  const env = await ended(start([], { CRIU_READINESS_LISTEN: '[::1]' }));
  t.equal(env.code, 2);
  t.match(
    env.stderr,
    /^Error: invalid --listen \(CRIU_READINESS_LISTEN\): CRIU_READINESS_LISTEN="\[::1\]" must be HOST:PORT/,
  );
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
async function serving(
  t: Test,
  args: string[],
  built = false,
  env: NodeJS.ProcessEnv = {},
): Promise<{
  child: ChildProcessWithoutNullStreams;
  port: number;
  logs: Record<string, unknown>[];
  result: Promise<Ended>;
}> {
  const child = start(['--listen', '127.0.0.1:0', ...args], env, built);
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
    logs.some(
      (l) =>
        l.msg === 'probe run finished' &&
        typeof l.supported === 'number' &&
        typeof l.unsupported === 'number' &&
        typeof l.unknown === 'number' &&
        typeof l.durationMs === 'number',
    ),
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
    outcomes.every(
      (o) =>
        (o.status !== undefined && o.status < 500) ||
        o.status === 503 ||
        o.error === 'ECONNREFUSED' ||
        o.error === 'ECONNRESET',
    ),
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

t.test(
  '--nfd-features-file gets the NFD feature file after each run, its directory made at start-up; --request-log-level info logs each request',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-nfd-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // Its directory does not exist yet: start-up makes it.
    const file = join(dir, 'features.d', 'criu-readiness');
    const { child, port, logs, result } = await serving(t, [
      '--nfd-features-file',
      file,
      '--request-log-level',
      'info',
    ]);
    // The file is written right after the run that made /readyz 200.
    while (!existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 50));
    const text = readFileSync(file, 'utf8');
    t.match(text, /^criu-readiness\.feature\.node\.kubernetes\.io\/ready\.required=(true|false)$/m);
    t.match(text, /^criu-readiness\.feature\.node\.kubernetes\.io\/kcmp=(supported|unsupported|unknown)$/m);
    await get(port, '/healthz');
    child.kill('SIGINT');
    t.equal((await result).code, 0, 'SIGINT ends it cleanly too');
    t.ok(
      logs.some(
        (l) =>
          l.msg === 'request completed' &&
          l.level === 30 &&
          (l.req as { url?: string } | undefined)?.url === '/healthz',
      ),
      'one info line for the request',
    );
  },
);

t.test('an address in use ends serve with exit 1 and says why', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { port } = taken.address() as AddressInfo;
  const exit = await ended(start(['--listen', `127.0.0.1:${port}`]));
  t.equal(exit.code, 1);
  t.match(exit.stderr, new RegExp(`^Error: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  const logs = exit.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.same(
    logs.map((l) => l.msg),
    ['starting', exit.stderr.replace(/^Error: /, '').trimEnd()],
    'the log says it started, then why it stopped',
  );
});

t.test('the service logs `starting` once, first, with its settings and heap limit, before it serves', async (t) => {
  const { child, logs, result } = await serving(t, []);
  child.kill('SIGTERM');
  await result;
  const messages = logs.map((l) => l.msg);
  t.equal(messages[0], 'starting');
  t.equal(messages.filter((m) => m === 'starting').length, 1);
  t.ok(messages.indexOf('serving HTTP without privilege; probes run in the supervisor') > 0);
  t.match(logs[0], { settings: { listen: { host: '127.0.0.1', port: 0 } }, heapLimitMiB: Number });
});

/** Processes whose environment holds `mark` (root reads every environ). */
function marked(mark: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(mark);
      } catch {
        return false; // gone, or not ours to read
      }
    })
    .map(Number);
}

t.test('an address in use stops the supervisor started before the bind: no process of it is left', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { port } = taken.address() as AddressInfo;
  const mark = `CRIU_READINESS_TEST_MARK=${process.pid}-${port}`;
  const [name, value] = mark.split('=');
  const exit = await ended(start(['--listen', `127.0.0.1:${port}`], { [name]: value }));
  t.equal(exit.code, 1);
  // SIGKILLed children are reaped by whoever inherits them: give that a moment.
  let left = marked(mark);
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = marked(mark);
  }
  t.same(left, [], 'no supervisor or runner of that serve');
});

t.test(
  'a feature-file directory the HTTP process cannot write stops start-up with exit 2 and the reason',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-nfd-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a-file'), '');
    const exit = await ended(
      start(['--listen', '127.0.0.1:0', '--nfd-features-file', join(dir, 'a-file', 'criu-readiness')]),
    );
    t.equal(exit.code, 2);
    t.match(
      exit.stderr,
      /^Error: invalid --nfd-features-file \(CRIU_READINESS_NFD_FEATURES_FILE\): cannot write the NFD feature file in .*a-file: /,
    );
    t.notMatch(exit.stdout, /probe run finished/);
  },
);

const NOT_ROOT = process.getuid?.() !== 0 && "needs root: the service gives up root's capabilities";

t.test(
  "a directory root may write only with CAP_DAC_OVERRIDE is refused: the check runs with the HTTP process's rights",
  { skip: NOT_ROOT },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-nfd-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const others = join(dir, 'someone-elses');
    mkdirSync(others, { mode: 0o755 });
    chownSync(others, 65534, 65534);
    const exit = await ended(start(['--listen', '127.0.0.1:0', '--nfd-features-file', join(others, 'criu-readiness')]));
    t.equal(exit.code, 2);
    t.match(exit.stderr, /cannot write the NFD feature file in .*someone-elses: .*EACCES/);
  },
);

/** Status fields of every thread of a process. */
function threadStatus(pid: number): Record<string, string>[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) =>
    Object.fromEntries(
      readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1')
        .split('\n')
        .map((line) => line.split(/:\s*/, 2))
        .filter((pair) => pair.length === 2),
    ),
  );
}

/** The supervisor child of the serve process. */
function supervisorOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const found = children.find((child) => readFileSync(`/proc/${child}/cmdline`, 'latin1').includes('supervisor-main'));
  if (found === undefined) throw new Error(`no supervisor among the children of ${pid}: ${children.join(' ')}`);
  return found;
}

t.test(
  'as built: the HTTP process holds no capability in any thread, no_new_privs and a seccomp filter; the supervisor keeps the capabilities and verdicts come',
  { skip: NOT_ROOT || (!existsSync(builtCli) && 'needs npm run build') },
  async (t) => {
    const { child, port, result } = await serving(t, [], true);
    const pid = child.pid as number;
    const threads = threadStatus(pid);
    t.ok(threads.length > 1, `Node runs several threads (${threads.length})`);
    for (const status of threads) {
      t.match(
        status,
        {
          CapEff: '0000000000000000',
          CapPrm: '0000000000000000',
          CapBnd: '0000000000000000',
          CapAmb: '0000000000000000',
          NoNewPrivs: '1',
          Seccomp: '2',
        },
        `thread ${status.Pid}`,
      );
    }
    const supervisor = threadStatus(supervisorOf(pid))[0];
    const ours = threadStatus(process.pid)[0];
    t.equal(supervisor.CapEff, ours.CapEff, 'the supervisor has the capabilities serve was started with');
    t.equal(supervisor.NoNewPrivs, '0');
    const tcpRepair = await new Promise<string>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/features/tcp_repair', agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      }).end();
    });
    t.match(JSON.parse(tcpRepair), { status: 'supported' }, 'a probe that needs CAP_NET_ADMIN still says supported');
    child.kill('SIGTERM');
    t.equal((await result).code, 0);
  },
);

t.test(
  'as built (the HTTP side bundled): /openapi.json names the package version, /docs and /metrics answer',
  { skip: NOT_ROOT || (!existsSync(builtCli) && 'needs npm run build') },
  async (t) => {
    const { child, port, result } = await serving(t, [], true);
    const base = `http://127.0.0.1:${port}`;
    const document = (await (await fetch(`${base}/openapi.json`)).json()) as { info: { version: string } };
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    t.equal(document.info.version, pkg.version);
    const docs = await fetch(`${base}/docs/`);
    t.equal(docs.status, 200);
    t.match(await docs.text(), /Swagger UI/);
    const metrics = await fetch(`${base}/metrics`);
    t.equal(metrics.status, 200);
    t.match(await metrics.text(), /^criu_readiness_feature_status\{feature="map_files"/m);
    child.kill('SIGTERM');
    t.equal((await result).code, 0);
  },
);

/** Serve as built until ready, with its code cache in `dir`; /docs/ asked (its packages load after the cache). */
async function servedOnce(t: Test, dir: string): Promise<number | undefined> {
  const { child, port, result } = await serving(t, [], true, { NODE_COMPILE_CACHE: dir });
  const docs = (await get(port, '/docs/')).status;
  child.kill('SIGTERM');
  await result;
  return docs;
}

t.test(
  "as built: the HTTP side's V8 code is kept once it serves, the next start takes it, and a damaged one is replaced",
  { skip: NOT_ROOT || (!existsSync(builtCli) && 'needs npm run build') },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-code-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, `http-${process.version}-${process.arch}.v8`);
    t.equal(await servedOnce(t, dir), 200);
    const first = statSync(file);
    t.ok(first.size > 100_000, 'the code of the HTTP side, named for this Node');
    t.equal(await servedOnce(t, dir), 200, '/docs/ answers when the code came from the cache');
    t.equal(statSync(file).mtimeMs, first.mtimeMs, 'taken, so not written again');
    const kept = readFileSync(file);
    writeFileSync(file, Buffer.concat([kept.subarray(0, kept.indexOf('\n') + 1), Buffer.from('damaged')]));
    t.equal(await servedOnce(t, dir), 200, 'a damaged cache changes nothing but the speed');
    t.ok(statSync(file).size > 100_000, 'and is replaced');
  },
);

t.test(
  'the supervisor dying ends serve with exit 1 and a log line that says so, so that it is restarted',
  { skip: NOT_ROOT },
  async (t) => {
    const { child, logs, result } = await serving(t, []);
    const supervisor = supervisorOf(child.pid as number);
    process.kill(supervisor, 'SIGKILL');
    const exit = await result;
    t.equal(exit.code, 1);
    t.ok(
      logs.some((l) => l.level === 50 && /probe supervisor \(pid \d+\) exited/.test(String(l.msg))),
      'an error line names the supervisor',
    );
  },
);

/** A variable of a process's environment, from /proc (as its program was started with it). */
function environmentOf(pid: number, name: string): string | undefined {
  const entries = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  return entries.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
}

t.test(
  "serve's HTTP process and its supervisor run with one malloc arena each, or the number the environment gives",
  { skip: NOT_ROOT },
  async (t) => {
    for (const [given, expected] of [
      [undefined, SERVICE_MALLOC_ARENAS],
      ['4', '4'],
    ] as const) {
      // spawn leaves out a variable whose value is undefined.
      const { child, result } = await serving(t, [], false, { MALLOC_ARENA_MAX: given });
      const pid = child.pid as number;
      t.equal(environmentOf(pid, 'MALLOC_ARENA_MAX'), expected, `the HTTP process, given ${given}`);
      t.equal(environmentOf(supervisorOf(pid), 'MALLOC_ARENA_MAX'), expected, `the supervisor, given ${given}`);
      child.kill('SIGTERM');
      t.equal((await result).code, 0);
    }
  },
);
