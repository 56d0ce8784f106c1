// The HTTP process keeps one tick object, so that process.nextTick keeps its fast path (src/http/tick-shape.ts).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { keepTickShape } from '../src/http/tick-shape.js';
import { TS_LOADER } from './helpers/node.js';

const fixture = fileURLToPath(new URL('./fixtures/tick-shape.ts', import.meta.url));

t.test('the object kept is a tick of process.nextTick, the same one at every call', async (t) => {
  const kept = keepTickShape() as { callback?: unknown } | undefined;
  t.type(kept?.callback, 'function', 'it holds the callback nextTick was given');
  t.equal(keepTickShape(), kept);
});

t.test('ticks made after full collections between ticks still have the shape of the tick kept', async (t) => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', ...TS_LOADER, fixture], {
    encoding: 'utf8',
  });
  t.same(JSON.parse(out), { alive: true, sameShape: true });
});
