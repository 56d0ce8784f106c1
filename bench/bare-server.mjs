// The baseline: a bare fastify route answering the same bytes with the same
// content type as the route under test. Usage: node bare-server.mjs PORT BODYFILE CONTENT-TYPE
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [port, bodyFile, contentType] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const app = Fastify({ logger: false });
app.get('/*', (_request, reply) => reply.type(contentType).send(body));
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
