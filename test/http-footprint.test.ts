// What the HTTP process loads: only what it uses, since what a module loads
// stays in the heap for good.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TS_LOADER } from './helpers/node.js';

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
