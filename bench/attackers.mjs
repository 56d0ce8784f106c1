// The two patterns that used to crash the service, as a process of their own
// (so the client whose latency is measured is not starved by them):
//   node bench/attackers.mjs PORT PIPELINES IDLE
// PIPELINES connections pipeline `GET /check?level=all` and never read the
// answers (each reopened as the service closes it); IDLE keep-alive
// connections send one request each and then sit open. Prints "ready" once
// the idle ones are open; runs until killed.
import { connect } from 'node:net';

const [port, pipelines, idle] = process.argv.slice(2).map(Number);
const burst = 'GET /check?level=all HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(200);

function pipeline() {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('close', () => setTimeout(pipeline, 100));
  socket.pause();
  // Writes until the kernel takes no more, and again whenever it does: the pipeline is always full.
  const pump = () => {
    while (!socket.destroyed && socket.write(burst));
  };
  socket.on('connect', pump);
  socket.on('drain', pump);
}

const opened = [];
for (let i = 0; i < idle; i++) {
  const socket = connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  socket.on('error', () => {});
  // Open once answered, or closed by the service to admit another.
  opened.push(new Promise((resolve) => socket.once('data', resolve).once('close', resolve)));
  socket.on('data', () => {});
  if (i % 200 === 199) await new Promise((resolve) => setTimeout(resolve, 10));
}
await Promise.all(opened);
for (let i = 0; i < pipelines; i++) pipeline();
process.stdout.write('ready\n');
