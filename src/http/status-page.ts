// The status page: server-rendered HTML for people, from the same verdicts
// as the JSON. No script, no external asset: the style sheet is inline and
// allowed by its hash in a strict Content-Security-Policy, so the page works
// offline and loads nothing from anywhere else. Every value is escaped.
import { createHash } from 'node:crypto';
import { release } from 'node:os';
import type { Feature } from '../catalogue.js';
import type { Report } from '../service/check.js';
import { DECIDING, LEVELS, evaluate, type Level, type LevelStatus, type LevelVerdict } from '../service/levels.js';
import type { Category, Status, Verdict } from '../model.js';
import { version } from '../version.js';

const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--muted:#666}
@media (prefers-color-scheme:dark){:root{--ok:#4ac26b;--bad:#ff7b72;--warn:#d29922;--muted:#aaa}}
body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:0 1rem 2rem}
header,footer{border-bottom:1px solid;padding:.5rem 0}
footer{border-top:1px solid;border-bottom:0;margin-top:2rem;color:var(--muted)}
h1{font-size:1.5rem;margin:.5rem 0}
nav ul{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
caption{text-align:left;font-weight:bold;font-size:1.15rem;padding:.25rem 0}
th,td{border:1px solid #8888;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.msg{overflow-wrap:anywhere;min-width:12rem}code{overflow-wrap:anywhere}
.ok,.supported{color:var(--ok)}.failed,.unsupported{color:var(--bad)}.unknown,.degraded{color:var(--warn)}
.state{font-weight:bold;white-space:nowrap}dt{font-weight:bold}dd{margin:0 0 .75rem 1rem}
`;

/** The Content-Security-Policy of every page: nothing but the inline style sheet and data: images. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every page goes with. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A tagged template that escapes every value it is given, except Html made by another. */
class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = string | number | Html | undefined | readonly Part[];

function part(value: Part): string {
  if (value === undefined) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  return escapeHtml(String(value));
}

function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? part(values[i]) : ''), ''));
}

/** Symbols beside the words, so the state never rests on colour alone; the word is what screen readers read. */
const STATE_SYMBOL: Record<Status | LevelStatus, string> = {
  supported: '✔',
  ok: '✔',
  unsupported: '✘',
  failed: '✘',
  unknown: '?',
  degraded: '▲',
};

function state(value: Status | LevelStatus): Html {
  return html`<span class="state ${value}"><span aria-hidden="true">${STATE_SYMBOL[value]} </span>${value}</span>`;
}

const CATEGORY_ROLE: Record<Category, string> = {
  required: 'criu check needs it: without it CRIU cannot dump or restore processes, and every level fails.',
  extra: 'criu check --extra checks it: some process trees need it to be dumped or restored.',
  experimental: 'criu check --experimental checks it: features of CRIU still in development use it.',
  advisory: 'CRIU reports it, but it never decides a level: it tells what a dump may run into.',
  runtime:
    'the runtime chain beyond the kernel (criu, the OCI and CRI runtimes, ' +
    'the kubelet, disk): the checkpoint level needs it.',
};

/** Who uses a feature: CRIU, or for a runtime row the chain a checkpoint goes through (runc, crun, CRI, kubelet). */
function usesTerm(category: Category): string {
  return category === 'runtime' ? 'What the checkpoint chain does with it' : 'What CRIU does with it';
}

/** A verdict's category and state as table cells. */
function stateCells(v: Verdict): Html {
  return html`<td>${v.category}</td><td>${state(v.status)}</td>`;
}

/** A verdict's reason, message, hint and kernel config as table cells. */
function detailCells(v: Verdict): Html {
  const words = html`<td class="msg">${v.message}</td><td class="msg">${v.hint}</td>`;
  return html`<td>${v.reason}</td>${words}<td>${kconfigList(v)}</td>`;
}

const SAME_AS_CRIU = 'It does not: it asks the kernel as criu check does.';

function fixText(v: Verdict, feature: Feature): string {
  return v.hint || (v.status === 'supported' ? 'Nothing to fix.' : feature.hint || 'No known fix.');
}

function featureLink(name: string): Html {
  return html`<a href="/features/${encodeURIComponent(name)}">${name}</a>`;
}

/** Feature names as links, comma-separated, or 'none'. */
function featureList(names: readonly string[]): Html {
  return names.length === 0 ? html`none` : html`${names.map((n, i) => html`${i > 0 ? ', ' : ''}${featureLink(n)}`)}`;
}

const allSupported = html`<p id="problems">Every feature is supported.</p>`;

function kconfigList(v: Verdict): Html {
  if (v.kconfig.length === 0) return html`none`;
  return html`${v.kconfig.map((k, i) => html`${i > 0 ? ', ' : ''}<code>${k.option}=${k.value}</code>`)}`;
}

/** A table of verdicts, in a region that scrolls sideways on a narrow screen. */
function verdictTable(id: string, caption: string, verdicts: readonly Verdict[]): Html {
  return html`<div class="scroll" role="region" aria-labelledby="${id}" tabindex="0"><table>
<caption id="${id}">${caption}</caption>
<thead><tr><th scope="col">Feature</th>
<th scope="col">Category</th>
<th scope="col">State</th>
<th scope="col">Reason</th>
<th scope="col">Message</th>
<th scope="col">Hint</th>
<th scope="col">Kernel config</th></tr></thead>
<tbody>${verdicts.map(
    (v) =>
      html`<tr><th scope="row">${featureLink(v.name)}</th>${stateCells(v)}${detailCells(v)}</tr>
`,
  )}</tbody>
</table></div>`;
}

function levelsTable(verdicts: readonly LevelVerdict[]): Html {
  return html`<div class="scroll" role="region" aria-labelledby="levels" tabindex="0"><table>
<caption id="levels">Verdict of each level</caption>
<thead><tr><th scope="col">Level</th>
<th scope="col">Verdict</th>
<th scope="col">Missing</th>
<th scope="col">Could not check</th></tr></thead>
<tbody>${verdicts.map(
    (lv) =>
      html`<tr><th scope="row"><a href="/check?level=${lv.level}">${lv.level}</a></th>
        <td>${state(lv.status)}: ${lv.sentence.replaceAll('\n', ' ')}</td>
        <td>${featureList(lv.missing)}</td>
        <td>${featureList(lv.unknown)}</td>
      </tr>
`,
  )}</tbody>
</table></div>`;
}

interface PageParts {
  title: string;
  /** Where the same answer is as JSON. */
  json: string;
  main: Html;
  /** When the verdicts were made; none before the first run. */
  report?: Report;
}

function page({ title, json, main, report }: PageParts): string {
  const made = report
    ? html`Verdicts made
      <time datetime="${report.finishedAt.toISOString()}">${report.finishedAt.toUTCString()}</time>. `
    : '';
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · criu-readiness</title>
<link rel="icon" href="data:,">
<style>${new Html(STYLE)}</style>
</head>
<body>
<header>
<p><a href="/">criu-readiness</a> · kernel <span id="kernel">${release()}</span></p>
<nav aria-label="Other views"><ul>
<li><a href="${json}">This page as JSON</a></li>
<li><a href="/features">Every feature</a></li>
<li><a href="/metrics">Metrics</a></li>
<li><a href="/docs">API documentation</a></li>
</ul></nav>
</header>
<main>
<h1>${title}</h1>
${main}
</main>
<footer><p>${made}Kernel ${release()}. criu-readiness ${version}.</p></footer>
</body>
</html>
`}`;
}

/** GET /: every level's verdict, then every feature that is not supported. */
export function statusPage(report: Report): string {
  const levels = LEVELS.map((level) => evaluate(report.verdicts, level));
  const problems = report.verdicts.filter((v) => v.status !== 'supported');
  return page({
    title: 'Can this kernel checkpoint and restore with CRIU?',
    json: '/check?level=all&format=json',
    report,
    main: html`${levelsTable(levels)}
${problems.length === 0 ? allSupported : verdictTable('problems', 'Features that are not supported', problems)}`,
  });
}

/** GET /check?level=LEVEL: the level's verdict and every feature it reports. */
export function levelPage(report: Report, level: Level): string {
  const lv = evaluate(report.verdicts, level);
  return page({
    title: `Level ${level}`,
    json: `/check?level=${level}&format=json`,
    report,
    main: html`<p>This level is decided by the ${DECIDING[level].join(', ')} features; the advisory
      ones are shown but never decide.</p>
<p id="verdict">${state(lv.status)}: ${lv.sentence.replaceAll('\n', ' ')}</p>
${verdictTable('features', `Every feature level ${level} reports`, lv.features)}`,
  });
}

/** GET /features: every feature's verdict. */
export function featuresPage(report: Report): string {
  return page({
    title: 'Every feature',
    json: '/features?format=json',
    report,
    main: verdictTable('features', 'Every feature of the catalogue, in its order', report.verdicts),
  });
}

/** GET /features/NAME: what the feature is, its verdict, and how to fix it. */
export function featurePage(report: Report, feature: Feature, v: Verdict): string {
  return page({
    title: `Feature ${feature.name}`,
    json: `/features/${encodeURIComponent(feature.name)}?format=json`,
    report,
    main: html`<p id="verdict">${state(v.status)} (${v.reason}): ${v.message}</p>
<dl>
<dt>What the kernel must do</dt><dd>${feature.summary}</dd>
<dt>Category</dt><dd>${feature.category}: ${CATEGORY_ROLE[feature.category]}</dd>
<dt>${usesTerm(feature.category)}</dt><dd>${feature.criuUses}</dd>
${feature.minKernel ? html`<dt>First kernel with it</dt><dd>${feature.minKernel}</dd>` : ''}
${feature.needs ? html`<dt>Privileges the check needs</dt><dd>${feature.needs}</dd>` : ''}
<dt>Where this check differs from CRIU's</dt><dd>${feature.differsFromCriu ?? SAME_AS_CRIU}</dd>
<dt>How to fix it</dt><dd>${fixText(v, feature)}</dd>
</dl>
${
  feature.kconfig.length === 0
    ? ''
    : html`<div class="scroll" role="region" aria-labelledby="kconfig" tabindex="0"><table>
<caption id="kconfig">Kernel config options</caption>
<thead><tr><th scope="col">Option</th><th scope="col">This kernel's value</th></tr></thead>
<tbody>${v.kconfig.map((k) => html`<tr><th scope="row"><code>${k.option}</code></th><td>${k.value}</td></tr>`)}</tbody>
</table></div>`
}`,
  });
}

/** Before the first probe run has finished. */
export function notReadyPage(): string {
  return page({
    title: 'No verdicts yet',
    json: '/readyz',
    main: html`<p>The first probe run has not finished yet. Reload this page in a moment.</p>`,
  });
}
