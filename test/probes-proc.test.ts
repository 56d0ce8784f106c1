import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as proc from '../src/probes/proc.js';
import { callProbe } from './helpers/direct.js';

/** Is an exclusive flock held on /proc/locks (by the process `pid`)? */
function holdsExclusiveLock(pid: number): boolean {
  return readFileSync('/proc/locks', 'latin1')
    .split('\n')
    .some((line) => / FLOCK +ADVISORY +WRITE /.test(line) && line.includes(` ${pid} `));
}

t.test('fdinfo_lock: a lock shows in fdinfo', async (t) => {
  t.match(callProbe(proc.fdinfoLock), { status: 'supported' });
});

t.test('fdinfo_lock never waits for a lock another process holds: unknown, saying why', async (t) => {
  const holder = spawn('flock', ['--exclusive', '/proc/locks', 'sleep', '30'], { stdio: 'ignore' });
  t.teardown(() => {
    holder.kill('SIGKILL');
  });
  for (let tries = 0; !holdsExclusiveLock(holder.pid ?? -1) && tries < 200; tries++)
    await new Promise((r) => setTimeout(r, 10));
  t.ok(holdsExclusiveLock(holder.pid ?? -1), 'the other process holds /proc/locks');
  t.match(callProbe(proc.fdinfoLock), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: /holds \/proc\/locks exclusively/,
  });
});
