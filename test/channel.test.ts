// The runner's channel: a message told for later goes with the next one told now, in order;
// and how every channel is read, line by line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { CHANNEL_ENV, CHANNEL_FD, onLines } from '../src/engine/channel.js';
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

/** The lines onLines hears from a stream written in these chunks, then ended. */
async function linesOf(chunks: readonly Buffer[]): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  onLines(stream, (line) => lines.push(line));
  const ended = new Promise((resolve) => stream.on('end', resolve));
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await ended;
  return lines;
}

t.test('a channel is read as whole lines, however its chunks cut them', async (t) => {
  const text = Buffer.from('{"a":1}\n{"b":"é→"}\n\n{"c":3}\n');
  t.same(await linesOf([text]), ['{"a":1}', '{"b":"é→"}', '', '{"c":3}'], 'several in one chunk');
  // Every cut, through the multi-byte characters too.
  for (let cut = 1; cut < text.length; cut++)
    t.same(await linesOf([text.subarray(0, cut), text.subarray(cut)]), ['{"a":1}', '{"b":"é→"}', '', '{"c":3}']);
});

t.test('the unfinished last line of a channel that ends is heard too', async (t) => {
  t.same(await linesOf([Buffer.from('{"done":true}\nRangeError: a dying runner')]), [
    '{"done":true}',
    'RangeError: a dying runner',
  ]);
  t.same(await linesOf([]), [], 'an empty channel, none');
});
