import { readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import t from 'tap';
import { readCacheKey, type CacheKey } from '../src/service/cache.js';
import { runResult, type Report } from '../src/service/check.js';
import { SteeredProbes, UNSUPPORTED, steeredCache, TEST_FEATURES } from './helpers/http-cache.js';

const probes = new SteeredProbes(t);

t.beforeEach(() => {
  for (const f of TEST_FEATURES) probes.set(f.name, undefined);
  probes.delay(0);
});

t.test('the cache key is the boot id, the kernel release and the effective capabilities', async (t) => {
  const key = readCacheKey();
  t.equal(key.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  t.equal(key.kernelRelease, release());
  t.equal(key.capEff, /^CapEff:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
});

t.test('not ready until the first run has finished, then serves its verdicts', async (t) => {
  const cache = steeredCache(t);
  probes.set('beta', UNSUPPORTED('beta'));
  t.equal(cache.ready, false);
  t.equal(cache.current, undefined);
  const first = cache.start();
  t.equal(cache.ready, false, 'still not ready while the first run is under way');
  const report = await first;
  t.equal(cache.ready, true);
  t.equal(cache.current, report);
  t.same(
    report.verdicts.map((v) => [v.name, v.status]),
    [
      ['alpha', 'supported'],
      ['beta', 'unsupported'],
      ['gamma', 'supported'],
      ['delta', 'supported'],
    ],
  );
  t.same(cache.runs, { ok: 1, failed: 0 });
});

t.test('concurrent refreshes share one probe run', async (t) => {
  const cache = steeredCache(t);
  await cache.start();
  const before = probes.calls();
  probes.delay(200);
  const reports = await Promise.all(Array.from({ length: 10 }, () => cache.refresh()));
  t.equal(probes.calls() - before, TEST_FEATURES.length, 'each probe ran once');
  t.ok(
    reports.every((r) => r === reports[0]),
    'every caller got the same report',
  );
  t.same(cache.runs, { ok: 2, failed: 0 });
});

t.test('the last verdicts are served while a refresh runs', async (t) => {
  const cache = steeredCache(t);
  const first = await cache.start();
  probes.delay(300);
  probes.set('alpha', UNSUPPORTED('alpha'));
  const refreshing = cache.refresh();
  t.equal(cache.refreshing, true);
  t.equal(cache.current, first, 'the old report stays current during the run');
  const second = await refreshing;
  t.equal(cache.current, second);
  t.equal(second.verdicts[0].status, 'unsupported');
});

t.test('a changed key drops the old verdicts at the next refresh', async (t) => {
  let key: CacheKey = { bootId: 'boot-1', kernelRelease: '6.1.0', capEff: '000001ffffffffff' };
  const cache = steeredCache(t, { readKey: () => key });
  await cache.start();
  t.same(cache.key, key);

  probes.delay(300);
  key = { ...key, capEff: '0000000000000000' };
  const refreshing = cache.refresh();
  t.equal(cache.current, undefined, 'the verdicts of other capabilities are gone at once');
  t.equal(cache.ready, false);
  await refreshing;
  t.equal(cache.ready, true);
  t.same(cache.key, key);

  // An unchanged key keeps the verdicts during a refresh.
  const current = cache.current;
  const again = cache.refresh();
  t.equal(cache.current, current);
  await again;
});

t.test("every run emits 'refreshed'; a crashed probe makes the result failed and its verdict unknown", async (t) => {
  const cache = steeredCache(t);
  const events: [Report, string][] = [];
  cache.on('refreshed', (report, result) => events.push([report, result]));
  await cache.start();
  probes.set('gamma', 'crash');
  const failed = await cache.refresh();
  t.same(
    events.map(([, result]) => result),
    ['ok', 'failed'],
  );
  t.equal(events[1][0], failed);
  t.equal(cache.current, failed, 'a failed run still replaces the verdicts');
  const gamma = failed.verdicts.find((v) => v.name === 'gamma');
  t.match(gamma, { status: 'unknown', reason: 'ProbeCrashed' });
  t.equal(
    failed.verdicts.find((v) => v.name === 'delta')?.status,
    'supported',
    'the probes after the crash ran in a new runner',
  );
  t.equal(runResult(failed), 'failed');
  t.same(cache.runs, { ok: 1, failed: 1 });
});

t.test('forced refreshes are allowed again only after the minimum interval', async (t) => {
  const cache = steeredCache(t, { minRefreshIntervalMs: 60_000 });
  await cache.start();
  const wait = cache.refreshAllowedInMs();
  t.ok(wait > 59_000 && wait <= 60_000, `a refresh right after a run waits about a minute (${wait} ms)`);
  const open = steeredCache(t, { minRefreshIntervalMs: 0 });
  await open.start();
  t.equal(open.refreshAllowedInMs(), 0);
});

t.test('refreshes in the background on the interval', async (t) => {
  const cache = steeredCache(t, { intervalMs: 200 });
  await cache.start();
  await new Promise<void>((resolve) => cache.once('refreshed', () => resolve()));
  t.equal(cache.runs.ok, 2);
});

t.test(
  'after a failed run the next background run comes sooner: a tenth of the interval, not less than the forced-refresh minimum',
  async (t) => {
    const cache = steeredCache(t, { intervalMs: 60_000, minRefreshIntervalMs: 300 });
    await cache.start();
    probes.set('gamma', 'crash');
    const failed = await cache.refresh();
    t.equal(runResult(failed), 'failed');
    probes.set('gamma', undefined);
    // Due after 6 s (a tenth of a minute); waited for up to a third of the interval, well before it would come unhastened.
    const next = await new Promise<Report | undefined>((resolve) => {
      const giveUp = setTimeout(() => resolve(undefined), 20_000);
      cache.once('refreshed', (report) => {
        clearTimeout(giveUp);
        resolve(report);
      });
    });
    t.ok(next, 'a run came before the interval');
    if (next) t.equal(runResult(next), 'ok');
    t.same(cache.runs, { ok: 2, failed: 1 });
  },
);

/** Runner processes that are children of this test process. */
function runnerChildren(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('runner-main');
      } catch {
        return false;
      }
    })
    .map(Number);
}

t.test('stop waits for the run under way and stops the runner', async (t) => {
  const cache = steeredCache(t);
  await cache.start();
  t.equal(runnerChildren().length, 1, 'a warm runner waits between runs');
  probes.delay(300);
  const refreshing = cache.refresh();
  await cache.stop();
  t.same(runnerChildren(), [], 'no runner is left');
  t.equal(cache.refreshing, false, 'the run finished before stop resolved');
  t.ok((await refreshing).verdicts.length > 0);
  await t.rejects(cache.refresh(), /stopped/);
});

t.test(
  'a run that stop() cuts short is not published: no refreshed event, the last whole run stays current',
  async (t) => {
    const cache = steeredCache(t);
    const first = await cache.start();
    const events: string[] = [];
    cache.on('refreshed', (_report, result) => events.push(result));
    probes.set('beta', 'hang');
    const refreshing = cache.refresh();
    // Until the hanging probe has been called: the run is under way in the runner.
    const callsBefore = probes.calls();
    while (probes.calls() < callsBefore + 2) await new Promise((resolve) => setTimeout(resolve, 20));
    const killed: number[] = [];
    await cache.stop({ graceMs: 100, onKilled: (pid) => killed.push(pid) });
    t.ok(killed.length > 0, 'the busy runner was killed');
    t.same(events, [], "no 'refreshed'");
    t.equal(cache.current, first, 'the verdicts of the last whole run stay');
    t.same(cache.runs, { ok: 1, failed: 0 }, 'and it is not counted');
    t.equal(
      (await refreshing).verdicts.find((v) => v.name === 'beta')?.status,
      'unknown',
      'its caller still hears how it ended',
    );
    t.same(runnerChildren(), [], 'no runner is left');
  },
);

t.test('a key part that cannot be read keeps its last value rather than dropping the verdicts', async (t) => {
  const previous: CacheKey = { bootId: 'boot-1', kernelRelease: release(), capEff: '000001ffffffffff' };
  const key = readCacheKey(previous, { status: '/nonexistent/status', bootId: '/nonexistent/boot_id' });
  t.same(key, previous);
});

t.test(
  "the cache key can follow another process's capabilities (the supervisor's, which start the runners)",
  async (t) => {
    const key = readCacheKey(undefined, {
      status: `/proc/${process.ppid}/status`,
      bootId: '/proc/sys/kernel/random/boot_id',
    });
    t.equal(key.capEff, /^CapEff:\s*(\S+)$/m.exec(readFileSync(`/proc/${process.ppid}/status`, 'utf8'))?.[1]);
  },
);
