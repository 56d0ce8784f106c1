// The status page in a real browser: headless Chromium loads the overview, a
// level and a feature from the service on loopback, with its CSP in force.
// The rendered DOM is checked, a screenshot of each page is kept under
// .tap/status-page/, and the browser's log must show no script error, no
// CSP violation and no request to another origin.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CATALOGUE } from '../src/catalogue.js';
import { buildApp } from '../src/http/app.js';
import { MemorySource, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';

const CHROMIUM = process.env.CHROMIUM ?? 'chromium';
const noChromium =
  spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).status !== 0 &&
  `skipped: no ${CHROMIUM} on PATH (scripts/install-test-deps.sh installs Debian's chromium)`;
const SHOTS = fileURLToPath(new URL('../.tap/status-page/', import.meta.url));

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Chromium headless, without the network services it would otherwise reach for; asynchronous, as the server answers from this process. */
function chromium(args: string[]): Promise<Run> {
  const profile = mkdtempSync(join(tmpdir(), 'criu-readiness-chromium-'));
  const child = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-extensions',
      '--enable-logging=stderr',
      '--v=0',
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => {
    child.on('close', (status) => {
      clearTimeout(killer);
      rmSync(profile, { recursive: true, force: true });
      resolve({ stdout, stderr, status });
    });
  });
}

/** What in the browser's log says the page went wrong: a script error, a CSP violation, a failed load. */
function complaints(log: string): string[] {
  return log.split('\n').filter((line) => /Uncaught|Refused to|Content Security Policy|net::ERR_|CONSOLE/.test(line));
}

t.test(
  'Chromium renders the overview, a level and a feature as the service serves them',
  { skip: noChromium },
  async (t) => {
    const named = (category: string) => CATALOGUE.find((f) => f.category === category)?.name ?? 'none';
    const [extra, experimental] = [named('extra'), named('experimental')];
    const source = new MemorySource({ features: CATALOGUE });
    source.outcomes = { [extra]: UNSUPPORTED(extra), [experimental]: UNKNOWN(experimental) };
    await source.refresh();
    const app = buildApp({ source });
    const requested: string[] = [];
    app.addHook('onRequest', async (request) => {
      requested.push(request.url);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    t.teardown(() => app.close());
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    mkdirSync(SHOTS, { recursive: true });

    const pages: { name: string; path: string; expect: RegExp[] }[] = [
      {
        name: 'overview',
        path: '/',
        expect: [
          /<h1>Can this kernel checkpoint and restore with CRIU\?<\/h1>/,
          /<caption id="levels">Verdict of each level<\/caption>/,
          new RegExp(`<a href="/features/${extra}">${extra}</a>`),
          /unsupported/,
        ],
      },
      {
        name: 'level-all',
        path: '/check?level=all',
        expect: [
          /<h1>Level all<\/h1>/,
          /<caption id="features">Every feature level all reports<\/caption>/,
          /degraded/,
        ],
      },
      {
        name: `feature-${extra}`,
        path: `/features/${extra}`,
        expect: [
          new RegExp(`<h1>Feature ${extra}</h1>`),
          /<dt>What the kernel must do<\/dt>/,
          /<dt>How to fix it<\/dt>/,
        ],
      },
    ];
    for (const page of pages) {
      const url = origin + page.path;
      const dom = await chromium(['--dump-dom', url]);
      t.equal(dom.status, 0, `${page.name}: chromium ran`);
      for (const pattern of page.expect) t.match(dom.stdout, pattern, `${page.name}: ${pattern}`);
      t.same(complaints(dom.stderr), [], `${page.name}: no script error, CSP violation or failed load`);
      const shot = join(SHOTS, `${page.name}.png`);
      const picture = await chromium([`--screenshot=${shot}`, '--window-size=1100,900', '--hide-scrollbars', url]);
      t.equal(picture.status, 0, `${page.name}: screenshot taken`);
      t.ok(statSync(shot).size > 1000, `${page.name}: ${shot} holds a picture`);
      t.same(complaints(picture.stderr), [], `${page.name}: nothing went wrong while drawing it`);
    }
    const phone = await chromium([
      `--screenshot=${join(SHOTS, 'overview-phone.png')}`,
      '--window-size=390,844',
      '--hide-scrollbars',
      `${origin}/`,
    ]);
    t.equal(phone.status, 0, "the overview drawn at a phone's width");
    t.same(
      requested.filter((url) => !pages.some((p) => p.path === url)),
      [],
      'the browser asked for the pages and nothing else (no favicon, style sheet or script)',
    );
  },
);
