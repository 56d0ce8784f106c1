// The status page in a real browser: headless Chromium, driven over the
// DevTools protocol on a pipe (no npm package), loads the overview, a level
// and a feature from the service on loopback, with its CSP in force. The
// rendered DOM is checked, a screenshot of each page is kept under
// .tap/status-page/, and the browser must report no console message, no
// script error, no CSP violation and no request to another origin.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { CATALOGUE } from '../src/catalogue.js';
import { buildApp } from '../src/http/app.js';
import { MemorySource, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';

const CHROMIUM = process.env.CHROMIUM ?? 'chromium';
const noChromium =
  spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).status !== 0 &&
  `skipped: no ${CHROMIUM} on PATH (scripts/install-test-deps.sh installs Debian's chromium)`;
const SHOTS = fileURLToPath(new URL('../.tap/status-page/', import.meta.url));
const BUILT_CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

type Params = Record<string, unknown>;

interface Message {
  id?: number;
  method?: string;
  params?: Params;
  sessionId?: string;
  result?: Params;
  error?: { message: string };
}

/** What the browser saw while it loaded one page. */
interface Visit {
  /** Every URL the page asked for (the document, and anything it would load). */
  requests: string[];
  /** Console messages, uncaught exceptions, and the browser's own errors and warnings (CSP violations among them). */
  complaints: string[];
  /** The value of each expression evaluated in the loaded page. */
  values: unknown[];
}

/** Headless Chromium with the DevTools protocol on fds 3 and 4 (--remote-debugging-pipe): NUL-terminated JSON. */
class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Params) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(m: Message) => void>();
  private readonly input: Writable;

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    this.input = child.stdio[3] as Writable;
    const output = child.stdio[4] as Readable;
    let buffered = '';
    output.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (buffered + chunk).split('\0');
      buffered = parts.pop() ?? '';
      for (const part of parts) this.receive(JSON.parse(part) as Message);
    });
    child.on('close', () => {
      for (const { reject } of this.pending.values()) reject(new Error('chromium exited'));
    });
  }

  static launch(): Browser {
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
        '--hide-scrollbars',
        `--user-data-dir=${profile}`,
        '--remote-debugging-pipe',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
    );
    return new Browser(child, profile);
  }

  private receive(message: Message): void {
    if (message.id !== undefined) {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiting?.reject(new Error(message.error.message));
      else waiting?.resolve(message.result ?? {});
      return;
    }
    for (const listener of this.listeners) listener(message);
  }

  send(method: string, params: Params = {}, sessionId?: string): Promise<Params> {
    const id = this.nextId++;
    this.input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /**
   * Load `url` in a new tab of the given size, wait for its load event, evaluate `expressions` in it,
   * and save a screenshot of the whole page to `shot`.
   */
  async visit(
    url: string,
    size: { width: number; height: number; mobile: boolean },
    expressions: string[],
    shot: string,
  ) {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string;
    };
    const visit: Visit = { requests: [], complaints: [], values: [] };
    let loaded = (): void => undefined;
    const load = new Promise<void>((resolve) => (loaded = resolve));
    const listener = (m: Message) => {
      if (m.sessionId !== sessionId || !m.params) return;
      const p = m.params;
      if (m.method === 'Network.requestWillBeSent') visit.requests.push((p.request as { url: string }).url);
      if (m.method === 'Runtime.consoleAPICalled') visit.complaints.push(`console.${String(p.type)}`);
      if (m.method === 'Runtime.exceptionThrown') visit.complaints.push(JSON.stringify(p.exceptionDetails));
      const entry = p.entry as { level?: string; text?: string; source?: string; url?: string } | undefined;
      // The page's own status is no complaint: an unsupported feature's page is a 503 by design.
      const ownStatus = entry?.source === 'network' && entry.url === url;
      if (m.method === 'Log.entryAdded' && (entry?.level === 'error' || entry?.level === 'warning') && !ownStatus)
        visit.complaints.push(`${entry.level}: ${entry.text}`);
      if (m.method === 'Page.loadEventFired') loaded();
    };
    this.listeners.add(listener);
    try {
      for (const domain of ['Page', 'Network', 'Runtime', 'Log']) await this.send(`${domain}.enable`, {}, sessionId);
      await this.send('Emulation.setDeviceMetricsOverride', { ...size, deviceScaleFactor: 1 }, sessionId);
      await this.send('Page.navigate', { url }, sessionId);
      await load;
      for (const expression of expressions) {
        const { result } = (await this.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)) as {
          result: { value?: unknown };
        };
        visit.values.push(result.value);
      }
      const { data } = (await this.send(
        'Page.captureScreenshot',
        { format: 'png', captureBeyondViewport: true },
        sessionId,
      )) as {
        data: string;
      };
      writeFileSync(shot, Buffer.from(data, 'base64'));
    } finally {
      this.listeners.delete(listener);
      await this.send('Target.closeTarget', { targetId });
    }
    return visit;
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.child.once('close', resolve));
    await this.send('Browser.close').catch(() => undefined);
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await closed;
    clearTimeout(killer);
    rmSync(this.profile, { recursive: true, force: true });
  }
}

const DESKTOP = { width: 1100, height: 900, mobile: false };
const PHONE = { width: 390, height: 844, mobile: true };

// Evaluated in each page: what a person and a screen reader get from it.
const H1 = `document.querySelector('h1')?.textContent`;
/** The state of each verdict, as the text a person reads (innerText: what is shown, not only what is in the markup). */
const STATES = `[...document.querySelectorAll('.state')].map((e) => e.innerText.trim())`;
/** Tables with a caption, every header cell with a scope, a main landmark and a language. */
const ACCESSIBLE = `[...document.querySelectorAll('table')].every((t) => t.caption?.textContent.trim())
  && [...document.querySelectorAll('th')].every((th) => th.scope === 'row' || th.scope === 'col')
  && document.querySelectorAll('main').length === 1 && document.documentElement.lang === 'en'`;
/** The inline style sheet was allowed by the CSP and applied: the body is bounded. */
const STYLED = `getComputedStyle(document.body).maxWidth !== 'none'`;
/** The page itself does not scroll sideways; wide tables scroll inside their own region. */
const FITS = `document.documentElement.scrollWidth <= window.innerWidth`;
const LINKS = `[...document.querySelectorAll('header a')].map((a) => a.getAttribute('href'))`;

/** The origin of a URL, or its scheme for data: and about: URLs. */
function originOf(url: string): string {
  const u = new URL(url);
  return u.origin === 'null' ? u.protocol : u.origin;
}

/** Every page in the browser: rendered as expected, no complaint, nothing asked of another origin. */
async function visitPages(
  t: Test,
  browser: Browser,
  origin: string,
  pages: { name: string; path: string; h1: RegExp }[],
  shotPrefix: string,
): Promise<void> {
  for (const page of pages) {
    for (const [size, suffix] of [
      [DESKTOP, ''],
      [PHONE, '-phone'],
    ] as const) {
      const shot = join(SHOTS, `${shotPrefix}${page.name}${suffix}.png`);
      const what = `${page.name}${suffix}`;
      const visit = await browser.visit(origin + page.path, size, [H1, STATES, ACCESSIBLE, STYLED, FITS, LINKS], shot);
      const [h1, states, accessible, styled, fits, links] = visit.values;
      t.match(h1, page.h1, `${what}: its heading`);
      t.ok(
        (states as string[]).length > 0 &&
          (states as string[]).every((s) => /^. (supported|unsupported|unknown|ok|failed|degraded)$/.test(s)),
        `${what}: every state is a symbol and a word, not a colour alone`,
      );
      t.equal(accessible, true, `${what}: captions, header scopes, one main landmark, a language`);
      t.equal(styled, true, `${what}: the style sheet applied under the CSP`);
      t.equal(fits, true, `${what}: no sideways scrolling of the page`);
      t.match(
        links,
        ['/', /^\/(check|features)/, '/features', '/metrics', '/docs'],
        `${what}: links to JSON, metrics, docs`,
      );
      t.same(visit.complaints, [], `${what}: no console message, script error or CSP violation`);
      t.same(
        visit.requests.filter((url) => originOf(url) !== origin && originOf(url) !== 'data:'),
        [],
        `${what}: no request to another origin`,
      );
      t.same(
        visit.requests.filter((url) => originOf(url) === origin),
        [origin + page.path],
        `${what}: the page only, no style sheet, script or image`,
      );
      t.ok(statSync(shot).size > 1000, `${what}: screenshot at ${shot}`);
    }
  }
}

t.test(
  'the browser check itself sees a console message, a script error, a CSP violation and a foreign request',
  {
    skip: noChromium,
  },
  async (t) => {
    // A page that does all that is wrong: the checks above would say nothing if they could not see it.
    const server = createServer((socket) => {
      socket.once('data', () => {
        const body =
          '<!doctype html><html lang="en"><body><h1>bad</h1><script>console.error("seen")</script>' +
          '<img src="http://127.0.0.2:9/x.png"><style>p{}</style><script>throw new Error("uncaught")</script></body></html>';
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nconnection: close\r\n' +
            "content-security-policy: style-src 'none'; img-src *\r\n" +
            `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const browser = Browser.launch();
    t.teardown(() => browser.close());
    mkdirSync(SHOTS, { recursive: true });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const visit = await browser.visit(`${origin}/`, DESKTOP, [H1], join(SHOTS, 'bad-page.png'));
    t.equal(visit.values[0], 'bad');
    t.ok(visit.complaints.includes('console.error'), 'the console message');
    t.ok(
      visit.complaints.some((c) => c.includes('uncaught')),
      'the uncaught error',
    );
    t.ok(
      visit.complaints.some((c) => /style/i.test(c) && /Content Security Policy/i.test(c)),
      'the CSP violation',
    );
    t.ok(visit.requests.includes('http://127.0.0.2:9/x.png'), 'the request to another origin');
  },
);

t.test(
  'Chromium renders the overview, a level and a feature as the service serves them, on a desktop and a phone',
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
    const browser = Browser.launch();
    t.teardown(() => browser.close());
    mkdirSync(SHOTS, { recursive: true });
    const pages = [
      { name: 'overview', path: '/', h1: /^Can this kernel checkpoint and restore with CRIU\?$/ },
      { name: 'level-all', path: '/check?level=all', h1: /^Level all$/ },
      { name: `feature-${extra}`, path: `/features/${extra}`, h1: new RegExp(`^Feature ${extra}$`) },
    ];
    await visitPages(t, browser, `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, pages, '');
    t.same(
      requested.filter((url) => !pages.some((p) => p.path === url)),
      [],
      'the server was asked for the pages and nothing else (no favicon, style sheet or script)',
    );
  },
);

t.test(
  'the running service (dist/cli.js serve, the real probes) serves the same pages to Chromium',
  {
    skip:
      noChromium ||
      (!existsSync(BUILT_CLI) && `skipped: no ${BUILT_CLI} (npm run build makes it; npm test builds first)`) ||
      (process.getuid?.() !== 0 && 'skipped: serve probes fully only as root'),
  },
  async (t) => {
    const child = spawn(process.execPath, [BUILT_CLI, 'serve', '--listen', '127.0.0.1:0', '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('close', resolve));
    t.teardown(async () => {
      child.kill('SIGTERM');
      await exited;
    });
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout as Readable }).on('line', (line) => {
        const listening = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1];
        if (listening) resolve(Number(listening));
      });
      child.on('close', () => reject(new Error('serve exited before listening')));
    });
    const origin = `http://127.0.0.1:${port}`;
    for (let ready = false; !ready;) {
      ready = (await fetch(`${origin}/readyz`)).status === 200;
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const features = (await (await fetch(`${origin}/features`)).json()) as { features: { name: string }[] };
    const feature = features.features[0].name;
    const browser = Browser.launch();
    t.teardown(() => browser.close());
    mkdirSync(SHOTS, { recursive: true });
    await visitPages(
      t,
      browser,
      origin,
      [
        { name: 'overview', path: '/', h1: /^Can this kernel checkpoint and restore with CRIU\?$/ },
        { name: 'level-required', path: '/check?level=required', h1: /^Level required$/ },
        { name: `feature-${feature}`, path: `/features/${feature}`, h1: new RegExp(`^Feature ${feature}$`) },
      ],
      'serve-',
    );
  },
);
