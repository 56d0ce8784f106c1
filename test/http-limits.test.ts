// What a client can make the listening server do, over real sockets: the
// connection cap that makes way for new clients by closing the oldest idle
// connection, the bound on pipelined requests, the whole-request timeout,
// the Host allow-list, cross-site POSTs, and unknown transfer codings.
import { IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { LIMITS, buildApp, connectionGuard, type AppOptions } from '../src/http/app.js';
import { MemorySource, reportOf, TEST_FEATURES } from './helpers/memory-source.js';

async function listening(t: Test, options: Omit<AppOptions, 'source'> = {}) {
  const source = new MemorySource();
  source.publish(reportOf(TEST_FEATURES));
  const app = buildApp({ source, ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => {
    app.server.closeAllConnections();
    return app.close();
  });
  const { port } = app.server.address() as AddressInfo;
  return { app, port, source };
}

interface Conversation {
  socket: Socket;
  /** Everything the server sent so far. */
  text: () => string;
  /** Settles when the server has closed the connection. */
  closed: Promise<void>;
}

function open(port: number): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, text: () => text, closed }));
    socket.once('error', reject);
  });
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

const answers = (text: string) => text.match(/HTTP\/1\.1 \d{3}(?= )/g) ?? [];

function request(path: string, headers = 'Host: 127.0.0.1', method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\n${headers}\r\n\r\n`;
}

/** One request on its own connection; the status line's code and the body. */
async function ask(port: number, text: string): Promise<{ status: number; body: string; answers: number }> {
  const c = await open(port);
  c.socket.end(text);
  await c.closed;
  const all = c.text();
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1]),
    body: all.slice(all.indexOf('\r\n\r\n') + 4),
    answers: answers(all).length,
  };
}

t.test('at the connection cap the oldest idle connection is closed to let a new one in', async (t) => {
  const { port } = await listening(t, { bounds: { maxConnections: 5 } });
  const idle: Conversation[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await open(port);
    c.socket.write(request('/healthz'));
    await until(() => answers(c.text()).length === 1);
    idle.push(c);
  }
  const health = await ask(port, request('/healthz', 'Host: 127.0.0.1\r\nConnection: close'));
  t.equal(health.status, 200, 'the new client is answered');
  await idle[0].closed;
  t.pass('the oldest idle connection was closed for it');
  t.notOk(idle[4].socket.destroyed, 'the newest idle one stays open');
});

t.test('at the cap with no idle connection a new one gets a 503 problem and is closed', async (t) => {
  const { port, app } = await listening(t, { bounds: { maxConnections: 2 } });
  const busy: Conversation[] = [];
  for (let i = 0; i < 2; i++) {
    const c = await open(port);
    // A body that never finishes arriving keeps the request in progress.
    c.socket.write(
      'POST /refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{',
    );
    busy.push(c);
  }
  await until(() => connectionGuard(app.server)?.snapshot().inFlight === 2);
  const refused = await ask(port, request('/healthz'));
  t.equal(refused.status, 503);
  t.match(JSON.parse(refused.body), { status: 503, detail: /as many connections as it accepts/ });
  t.notOk(
    busy.some((c) => c.socket.destroyed),
    'no connection with a request in progress was closed',
  );
  t.equal(connectionGuard(app.server)?.snapshot().refused, 1);
});

t.test('a connection with more pipelined requests waiting than the bound is closed, not queued', async (t) => {
  const { port, app } = await listening(t);
  let requests = 0;
  app.server.prependListener('request', () => requests++);
  const c = await open(port);
  // All in one write: Node reads them all at once.
  c.socket.write(request('/check?level=all').repeat(LIMITS.maxPipelined * 20));
  await c.closed;
  t.ok(answers(c.text()).length < LIMITS.maxPipelined * 20, `${answers(c.text()).length} answers`);
  t.equal(connectionGuard(app.server)?.snapshot().overPipelined, 1);
  t.equal(connectionGuard(app.server)?.snapshot().inFlight, 0, 'nothing of it is still held');
  t.equal(
    requests,
    LIMITS.maxPipelined + 1,
    'the requests read after the bound are dropped as they are parsed, never made into requests',
  );
});

t.test('the parse of a connection closed for pipelining too many stops at the next request head', async (t) => {
  const { port, app } = await listening(t);
  // Every request head Node parses gets its header lines added to a message (an undocumented, long-standing method).
  const message = IncomingMessage.prototype as IncomingMessage & {
    _addHeaderLines: (this: IncomingMessage, headers: string[], n: number) => void;
  };
  const addHeaderLines = message._addHeaderLines;
  let parsed = 0;
  message._addHeaderLines = function (headers, n) {
    parsed++;
    addHeaderLines.call(this, headers, n);
  };
  t.teardown(() => {
    message._addHeaderLines = addHeaderLines;
  });
  const c = await open(port);
  c.socket.write(request('/check?level=all').repeat(LIMITS.maxPipelined * 20));
  await c.closed;
  t.equal(connectionGuard(app.server)?.snapshot().overPipelined, 1);
  t.equal(
    parsed,
    LIMITS.maxPipelined + 2,
    'the bound, the request past it and the next head; not the rest of the read',
  );
});

t.test(
  'a request whose connection is closed before its answer is counted unanswered; one answered is not',
  async (t) => {
    const { port, app } = await listening(t);
    await ask(port, request('/healthz', 'Host: 127.0.0.1\r\nConnection: close'));
    const c = await open(port);
    // Its head is read, its body never finishes arriving: a request in progress.
    c.socket.write(
      'POST /refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{',
    );
    await until(() => connectionGuard(app.server)?.snapshot().inFlight === 1);
    t.equal(connectionGuard(app.server)?.snapshot().unanswered, 0);
    app.server.closeAllConnections();
    t.ok(await until(() => connectionGuard(app.server)?.snapshot().connections === 0), 'its connection closed');
    t.equal(connectionGuard(app.server)?.snapshot().unanswered, 1);
  },
);

t.test('a few pipelined requests are all answered in order', async (t) => {
  const { port } = await listening(t);
  const c = await open(port);
  c.socket.write(request('/healthz').repeat(4) + request('/readyz', 'Host: 127.0.0.1\r\nConnection: close'));
  await c.closed;
  t.same(answers(c.text()), Array(5).fill('HTTP/1.1 200'));
});

t.test('a body trickled a byte every 5 s gets 408 at the 10 s request limit, not later', async (t) => {
  const { port } = await listening(t);
  const c = await open(port);
  const sentAt = performance.now();
  c.socket.write(
    'POST /refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n',
  );
  const trickle = setInterval(() => c.socket.writable && c.socket.write(' '), 5000);
  t.teardown(() => clearInterval(trickle));
  await Promise.race([c.closed, new Promise((resolve) => setTimeout(resolve, 20_000))]);
  const afterMs = performance.now() - sentAt;
  t.match(c.text(), /^HTTP\/1\.1 408 /);
  t.ok(afterMs < 12_000, `answered after ${Math.round(afterMs)} ms`);
  t.ok(afterMs >= LIMITS.requestTimeoutMs - 100, 'not before the limit');
});

t.test('a Host that is not allowed (DNS rebinding) gets a 421 problem on every route', async (t) => {
  const { port } = await listening(t);
  for (const path of ['/healthz', '/check', '/refresh']) {
    const answer = await ask(port, request(path, 'Host: attacker.example:9870', path === '/refresh' ? 'POST' : 'GET'));
    t.equal(answer.status, 421, path);
    t.match(JSON.parse(answer.body), { status: 421, detail: /does not answer for host "attacker\.example:9870"/ });
  }
});

t.test(
  'IP literals, localhost and single-label names are allowed by default; --allowed-hosts adds names and suffixes',
  async (t) => {
    const { port } = await listening(t, { allowedHosts: ['readiness.example.com', '.nodes.example'] });
    for (const host of [
      '10.1.2.3:9870',
      '[fd00::1]:9870',
      'localhost:9870',
      'worker-3:9870',
      'criu-readiness.criu-readiness.svc:9870',
      'readiness.example.com',
      'n1.nodes.example:9870',
    ]) {
      t.equal((await ask(port, request('/healthz', `Host: ${host}`))).status, 200, host);
    }
    t.equal((await ask(port, request('/healthz', 'Host: example.com'))).status, 421);
  },
);

t.test('allowed hosts * answers any Host', async (t) => {
  const { port } = await listening(t, { allowedHosts: ['*'] });
  t.equal((await ask(port, request('/healthz', 'Host: attacker.example'))).status, 200);
});

t.test('a POST from a web page of another site is refused with 403; same origin and tools are not', async (t) => {
  const { port } = await listening(t);
  const post = (headers: string) =>
    ask(port, request('/refresh', `Host: 127.0.0.1:${port}\r\n${headers}`.trim(), 'POST'));
  t.equal((await post('Origin: http://attacker.example')).status, 403);
  t.equal((await post('Sec-Fetch-Site: cross-site')).status, 403);
  t.equal((await post('Origin: null')).status, 403, 'an opaque origin');
  t.equal((await post(`Origin: http://127.0.0.1:${port}\r\nSec-Fetch-Site: same-origin`)).status, 200);
  t.equal((await post('')).status, 200, 'curl sends neither');
});

t.test('an unknown Transfer-Encoding gets exactly one answer, 501, and the connection closes', async (t) => {
  const { port } = await listening(t);
  for (const method of ['GET /healthz', 'POST /refresh']) {
    const answer = await ask(port, `${method} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: foo\r\n\r\nabc`);
    t.equal(answer.answers, 1, `${method}: one answer`);
    t.equal(answer.status, 501);
    t.match(JSON.parse(answer.body), { status: 501, detail: /only transfer coding/ });
  }
});
