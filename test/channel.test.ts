// The runner's channel: a message told for later goes with the next one told now, in order.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CHANNEL_ENV, CHANNEL_FD } from '../src/engine/channel.js';
import { TS_LOADER } from './helpers/node.js';

const fixture = fileURLToPath(new URL('./fixtures/channel-writes.ts', import.meta.url));

/** The lines the fixture's channel carried, in the order they arrived. */
function channelLines(): string[] {
  const child = spawnSync(process.execPath, [...TS_LOADER, fixture], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, [CHANNEL_ENV]: String(CHANNEL_FD) },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`fixture failed: ${child.stderr}`);
  return String(child.output[CHANNEL_FD]).split('\n').filter(Boolean);
}

t.test('messages told for later are written with the next message told now, after what came between', async (t) => {
  const lines = channelLines();
  t.equal(lines[0], 'written straight', 'nothing told for later was written before the next message told now');
  t.same(
    lines.slice(1).map((line) => JSON.parse(line) as { type: string }),
    [
      {
        type: 'result',
        name: 'first',
        outcome: { status: 'supported', reason: 'Supported', message: 'ok' },
        durationMs: 1,
      },
      { type: 'reaped', pid: 4242 },
      { type: 'start', name: 'second' },
    ],
    'the held messages come first, in the order told, then the one told now',
  );
});
