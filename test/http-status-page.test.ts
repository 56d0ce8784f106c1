// The status page: HTML for browsers at / and on /check, /features and
// /features/:name, escaped, self-contained under a strict CSP; programs keep
// their JSON and text.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import t, { type Test } from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/http/app.js';
import { DECIDING, LEVELS } from '../src/service/levels.js';
import { CONTENT_SECURITY_POLICY, escapeHtml } from '../src/http/status-page.js';
import type { Feature } from '../src/catalogue.js';
import { MemorySource, TEST_FEATURES, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';

const BROWSER =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';

// A feature whose catalogue text and verdict carry markup: the page must show it as text.
const HOSTILE = '<img src=x onerror=alert(1)> & "quotes"';
const features: Feature[] = TEST_FEATURES.flatMap((f) =>
  f.name === 'beta'
    ? [
        {
          ...f,
          summary: `beta summary ${HOSTILE}`,
          criuUses: `CRIU restores beta ${HOSTILE}.`,
          differsFromCriu: 'CRIU reads a different file',
          kconfig: ['CONFIG_BETA'],
          minKernel: '5.9',
        },
        // A second feature of beta's category, with its own sentence.
        { ...f, name: 'epsilon', criuUses: 'CRIU dumps epsilon.' },
      ]
    : [f],
);
const source = new MemorySource({ features });
source.outcomes = { beta: { ...UNSUPPORTED('beta'), message: `beta is missing ${HOSTILE}` }, gamma: UNKNOWN('gamma') };
await source.refresh();
const app = buildApp({ source });
t.teardown(() => app.close());

const page = (url: string, accept = BROWSER) => app.inject({ url, headers: { accept } });

function assertPage(t: Test, res: LightMyRequestResponse, status: number): void {
  t.equal(res.statusCode, status);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.match(res.body, /^<!doctype html>\n<html lang="en">/);
  t.match(res.body, '<meta name="viewport" content="width=device-width, initial-scale=1">');
}

t.test("GET / is the status page: each level's verdict, then every feature that is not supported", async (t) => {
  const res = await page('/', '*/*');
  assertPage(t, res, 200);
  for (const level of LEVELS)
    t.match(res.body, `<th scope="row"><a href="/check?level=${level}">${level}</a></th>`, level);
  t.match(res.body, '<caption id="levels">Verdict of each level</caption>');
  t.match(res.body, '<caption id="problems">Features that are not supported</caption>');
  t.match(
    res.body,
    /<th scope="row"><a href="\/features\/beta">beta<\/a><\/th><td>extra<\/td><td><span class="state unsupported"><span aria-hidden="true">✘ <\/span>unsupported<\/span><\/td><td>NotInKernel<\/td>/,
  );
  t.match(
    res.body,
    /<a href="\/features\/gamma">gamma<\/a><\/th><td>experimental<\/td><td><span class="state unknown">.*unknown<\/span><\/td><td>PermissionDenied<\/td><td class="msg">gamma needs a capability<\/td><td class="msg">enable GAMMA<\/td>/,
  );
  t.notMatch(res.body, '<a href="/features/alpha">', 'supported features are not listed');
  t.match(res.body, `<time datetime="${source.current?.finishedAt.toISOString()}">`, 'when the verdicts were made');
  t.match(res.body, `kernel <span id="kernel">${escapeHtml(release())}</span>`);
  for (const href of ['/check?level=all&amp;format=json', '/metrics', '/docs', '/features'])
    t.match(res.body, `href="${href}"`, href);
});

t.test('every state is said in words beside its symbol, never by colour alone', async (t) => {
  const res = await page('/');
  for (const [symbol, word] of [
    ['✔', 'ok'],
    ['▲', 'degraded'],
    ['✘', 'unsupported'],
    ['?', 'unknown'],
  ]) {
    t.match(res.body, `<span aria-hidden="true">${symbol} </span>${word}</span>`, word);
  }
});

t.test('every value from the catalogue and the verdicts is HTML-escaped', async (t) => {
  for (const url of ['/', '/check?level=all', '/features', '/features/beta']) {
    const res = await page(url);
    t.notMatch(res.body, '<img src=x', url);
    t.match(res.body, '&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;', url);
  }
  t.equal(escapeHtml(`<a href='x'>&"`), '&lt;a href=&#39;x&#39;&gt;&amp;&quot;');
});

t.test(
  'the page loads nothing: no script, no URL to another origin, and its one style sheet is allowed by its hash',
  async (t) => {
    for (const url of ['/', '/check?level=extra', '/features', '/features/beta']) {
      const { body } = await page(url);
      const tags = body.match(/<[a-z][^>]*>/gi) ?? [];
      t.same(
        tags.filter((tag) => /^<script|\son[a-z]+=|\sstyle=/i.test(tag)),
        [],
        `${url}: no script, handler or style attribute`,
      );
      t.same(
        [...body.matchAll(/(?:href|src)="([^"]*)"/g)]
          .map((m) => m[1])
          .filter((u) => !u.startsWith('/') && u !== 'data:,'),
        [],
        `${url}: every link stays on this origin`,
      );
      const style = /<style>([\s\S]*?)<\/style>/.exec(body)?.[1] ?? '';
      t.match(
        CONTENT_SECURITY_POLICY,
        `style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`,
        `${url}: the CSP names the style's hash`,
      );
    }
    t.match(
      CONTENT_SECURITY_POLICY,
      /^default-src 'none'; .*base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/,
    );
  },
);

t.test('each level has its page at /check?level=LEVEL, with the same status as its JSON', async (t) => {
  for (const level of LEVELS) {
    const res = await page(`/check?level=${level}`);
    const json = await app.inject(`/check?level=${level}`);
    assertPage(t, res, json.statusCode);
    t.match(res.body, `<h1>Level ${level}</h1>`);
    t.match(res.body, `This level is decided by the ${DECIDING[level].join(', ')} features`);
    t.match(res.body, `<caption id="features">Every feature level ${level} reports</caption>`);
    for (const f of json.json().features as { name: string }[])
      t.match(res.body, `<a href="/features/${f.name}">`, `${level}: ${f.name}`);
  }
  t.equal((await page('/check?level=extra&strict=true')).statusCode, 503, 'strict applies to the page too');
});

t.test(
  "a feature's page says what the kernel must do, what CRIU does with it, where we differ, and how to fix it",
  async (t) => {
    const res = await page('/features/beta');
    assertPage(t, res, 503);
    t.match(res.body, '<h1>Feature beta</h1>');
    t.match(res.body, /<dt>What the kernel must do<\/dt><dd>beta summary &lt;img/);
    t.match(res.body, /<dt>Category<\/dt><dd>extra: criu check --extra checks it/);
    t.match(res.body, `<dt>What CRIU does with it</dt><dd>CRIU restores beta ${escapeHtml(HOSTILE)}.</dd>`);
    t.match(res.body, "<dt>Where this check differs from CRIU's</dt><dd>CRIU reads a different file</dd>");
    // The hint and the config value come from this machine's kernel config, as the verdict has them.
    const beta = source.current?.verdicts.find((v) => v.name === 'beta');
    t.match(res.body, `<dt>How to fix it</dt><dd>${escapeHtml(beta?.hint ?? 'no verdict')}</dd>`);
    t.match(res.body, '<dt>First kernel with it</dt><dd>5.9</dd>');
    t.match(res.body, '<caption id="kconfig">Kernel config options</caption>');
    t.match(
      res.body,
      `<th scope="row"><code>CONFIG_BETA</code></th><td>${escapeHtml(beta?.kconfig[0]?.value ?? 'no value')}</td>`,
    );
    const alpha = await page('/features/alpha');
    assertPage(t, alpha, 200);
    t.match(alpha.body, '<dt>How to fix it</dt><dd>Nothing to fix.</dd>');
  },
);

t.test('what CRIU does with a feature is said per feature, not per category', async (t) => {
  const epsilon = await page('/features/epsilon');
  assertPage(t, epsilon, 200);
  t.match(epsilon.body, '<dt>Category</dt><dd>extra: ');
  t.match(epsilon.body, '<dt>What CRIU does with it</dt><dd>CRIU dumps epsilon.</dd>');
  t.notMatch(epsilon.body, 'CRIU restores beta', "beta's sentence is not on epsilon's page");
  t.notMatch((await page('/features/beta')).body, 'CRIU dumps epsilon', "nor epsilon's on beta's");
});

t.test("a runtime feature's page says what the checkpoint chain does with it", async (t) => {
  const chain: Feature = { ...features[0], name: 'zeta', category: 'runtime', criuUses: 'runc runs zeta.' };
  const runtimeSource = new MemorySource({ features: [chain] });
  await runtimeSource.refresh();
  const runtimeApp = buildApp({ source: runtimeSource });
  t.teardown(() => runtimeApp.close());
  const res = await runtimeApp.inject({ url: '/features/zeta', headers: { accept: BROWSER } });
  assertPage(t, res, 200);
  t.match(res.body, '<dt>What the checkpoint chain does with it</dt><dd>runc runs zeta.</dd>');
});

t.test('/features as a page lists every feature with its state', async (t) => {
  const res = await page('/features');
  assertPage(t, res, 200);
  for (const f of features) t.match(res.body, `<th scope="row"><a href="/features/${f.name}">${f.name}</a></th>`);
});

t.test('programs keep JSON and text: */*, application/json, no Accept and text/plain are not the page', async (t) => {
  for (const url of ['/check', '/features', '/features/alpha']) {
    for (const accept of ['*/*', 'application/json', '']) {
      t.match((await page(url, accept)).headers['content-type'], /^application\/json/, `${url} ${accept}`);
    }
    t.match((await page(url, 'text/plain')).headers['content-type'], /^text\/plain/, `${url} text/plain`);
    t.match(
      (await page(`${url}?format=json`)).headers['content-type'],
      /^application\/json/,
      `${url}?format=json beats a browser's Accept`,
    );
    t.match((await page(`${url}?format=html`, '*/*')).headers['content-type'], /^text\/html/, `${url}?format=html`);
  }
});

t.test('before the first probe run every page says so, with 503 and Retry-After', async (t) => {
  const empty = buildApp({ source: new MemorySource() });
  t.teardown(() => empty.close());
  for (const url of ['/', '/check', '/features', '/features/alpha']) {
    const res = await empty.inject({ url, headers: { accept: BROWSER } });
    assertPage(t, res, 503);
    t.equal(res.headers['retry-after'], '1');
    t.match(res.body, '<h1>No verdicts yet</h1>', url);
  }
  t.match(
    (await empty.inject('/check')).headers['content-type'],
    /^application\/problem\+json/,
    'a program still gets a problem',
  );
});

t.test('README shows the status page: a screenshot committed under docs/, and the URL to open', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const shown = /!\[[^\]]*\]\((docs\/[^)]+\.png)\)/.exec(readme)?.[1];
  t.ok(shown, 'README has an image under docs/');
  const png = readFileSync(new URL(`../${shown}`, import.meta.url));
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${shown} is a PNG`);
  t.match(readme, /Open `http:\/\/node:9870\/` in a browser for the status page/i);
});
