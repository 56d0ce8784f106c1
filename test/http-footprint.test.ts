// What the HTTP process loads: only what it uses, since what a module loads
// stays in the heap for good.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TS_LOADER } from './helpers/node.js';
import { waitFor } from './helpers/prometheus.js';

const serve = fileURLToPath(new URL('../src/http/serve.ts', import.meta.url));

t.test("the HTTP process's modules do not load undici, the fetch and WebSocket client it never uses", async (t) => {
  // Node 24 loads it for an ES module import of node:http (its WebSocket
  // getters); Node 20 never does, so there this holds either way.
  const script = `await import(${JSON.stringify(serve)});
process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
  const loaded = execFileSync(process.execPath, [...TS_LOADER, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  t.same(JSON.parse(loaded), []);
});

const builtCli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const builtinsAtExit = fileURLToPath(new URL('./fixtures/builtins-at-exit.cjs', import.meta.url));
/** TLS and HTTP/2: never served; readline: every channel is read by onLines (engine/channel.ts). */
const UNUSED_BUILTINS = ['https', 'http2', 'tls', 'readline'];

/** Resolves once a GET of `url` answers 200 (waitFor fails the test after `timeoutMs`). */
const answers200 = (url: string, timeoutMs: number) =>
  waitFor(`${url} to answer 200`, async () => ((await fetch(url)).status === 200 ? true : undefined), timeoutMs);

t.test(
  'the built service, ready and answering, has loaded neither TLS nor HTTP/2, which it never serves, nor readline',
  { skip: !existsSync(builtCli) && 'dist/cli.js is not built (npm test builds it first)' },
  async (t) => {
    // Without tap's hooks (they load modules of their own); the fixture prints each process's list as it exits.
    const service = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '-r', builtinsAtExit, builtCli, 'serve'], {
      env: { ...process.env, CRIU_READINESS_LISTEN: '127.0.0.1:0', CRIU_READINESS_LOG_LEVEL: 'info' },
    });
    let stdout = '';
    let stderr = '';
    service.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    service.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const closed = new Promise((resolve) => service.on('close', resolve));
    t.teardown(() => service.kill('SIGKILL'));
    const base = await waitFor(
      'the service to listen',
      async () => /listening at (http:\/\/\S+:\d+)/.exec(stdout)?.[1],
    );
    t.ok(base.startsWith('http://127.0.0.1:'), 'it listens');
    t.ok(await answers200(`${base}/readyz`, 30_000), 'ready');
    t.ok(await answers200(`${base}/check`, 5_000), 'answering');
    service.kill('SIGTERM');
    await closed;
    const lists = stderr
      .split('\n')
      .filter((line) => line.startsWith('['))
      .map((line) => JSON.parse(line) as string[]);
    t.ok(
      lists.some((list) => list.includes('http')),
      "the HTTP process's list is among them",
    );
    t.same(
      lists.flatMap((list) => list.filter((m) => UNUSED_BUILTINS.includes(m))),
      [],
    );
  },
);
