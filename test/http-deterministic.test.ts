// Deterministic bodies, with the real runner: two probe runs that reach the
// same verdicts give byte-identical /check and /features bodies and the same
// ETags, so readiness reporters and caches see no change where there is none.
import t from 'tap';
import { buildApp } from '../src/http/app.js';
import { ProbeEngine } from '../src/engine/engine.js';
import { VerdictCache } from '../src/service/cache.js';
import { LEVELS } from '../src/service/levels.js';

const notRoot = process.getuid?.() !== 0 && 'skipped: the probes give their full answers only as root';

t.test(
  'two real refreshes with the same verdicts give the same bytes and the same ETag',
  { skip: notRoot },
  async (t) => {
    const cache = new VerdictCache({ engine: new ProbeEngine(), intervalMs: 3_600_000, minRefreshIntervalMs: 0 });
    const app = buildApp({ source: cache });
    t.teardown(async () => {
      await app.close();
      await cache.stop();
    });
    // Every level and every feature, the runtime chain's too: one message with a pid, a counter or free bytes is enough.
    const urls = [
      ...LEVELS.flatMap((level) => [`/check?level=${level}`, `/check?level=${level}&format=text`]),
      '/features',
      '/features?format=text',
      ...cache.features.map((f) => `/features/${f.name}`),
    ];
    const answers = async () =>
      Promise.all(urls.map(async (url) => (await app.inject(url)).headers.etag + '\n' + (await app.inject(url)).body));

    const first = await cache.start();
    const before = await answers();
    const refreshed = await app.inject({ method: 'POST', url: '/refresh' });
    t.equal(refreshed.statusCode, 200);
    const second = cache.current;
    t.not(second, first, 'a new run');
    t.same(
      second?.verdicts.map((v) => `${v.name} ${v.status} ${v.reason}`),
      first.verdicts.map((v) => `${v.name} ${v.status} ${v.reason}`),
      'the two runs reached the same verdicts (else this test says nothing)',
    );
    const after = await answers();
    for (const [i, url] of urls.entries()) t.equal(after[i], before[i], `${url}: same ETag and body`);
  },
);
