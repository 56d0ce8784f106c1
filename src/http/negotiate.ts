// Content negotiation, with one parser of Accept and Accept-Encoding: JSON
// for programs, the CLI's lines or the status page for people (?format wins,
// else Accept, else JSON); the metrics' exposition format; gzip or not; and
// the preconditions of conditional requests.
import { createHash } from 'node:crypto';
import type { ExpositionFormat } from '../metrics.js';
import type { Format } from './schemas.js';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';
export const HTML_TYPE = 'text/html; charset=utf-8';

/** One entry of an Accept or Accept-Encoding header, lower-cased. */
export interface Preference {
  /** The media range (type/subtype) or the content coding. */
  value: string;
  /** Its parameters; the first of a name counts. */
  params: ReadonlyMap<string, string>;
  /** Its q-value: 1 when absent, NaN when unreadable. */
  q: number;
}

/** The one parser of Accept and Accept-Encoding headers: their comma-separated entries with parameters. */
export function parsePreferences(header: string): Preference[] {
  return header.split(',').map((entry) => {
    const [value = '', ...parts] = entry.split(';').map((part) => part.trim().toLowerCase());
    const params = new Map<string, string>();
    for (const part of parts) {
      const eq = part.indexOf('=');
      if (eq > 0 && !params.has(part.slice(0, eq))) params.set(part.slice(0, eq), part.slice(eq + 1));
    }
    return { value, params, q: Number(params.get('q') ?? '1') };
  });
}

/** q-value and specificity (2 exact, 1 type/*, 0 *\/*) with which an Accept header takes a media type. */
function acceptance(
  ranges: readonly { type: string; subtype: string; q: number }[],
  type: string,
  subtype: string,
): [number, number] {
  let best: [number, number] = [0, -1];
  for (const r of ranges) {
    const specificity =
      r.type === type && r.subtype === subtype
        ? 2
        : r.type === type && r.subtype === '*'
          ? 1
          : r.type === '*' && r.subtype === '*'
            ? 0
            : -1;
    if (specificity > best[1]) best = [r.q, specificity];
  }
  return best;
}

/** The media types of the formats, in the order that breaks ties: JSON first, as the default for programs. */
const FORMAT_TYPES: readonly [Format, string, string][] = [
  ['json', 'application', 'json'],
  ['text', 'text', 'plain'],
  ['html', 'text', 'html'],
];

function preferredFormat(accept: string): Format {
  const ranges = parsePreferences(accept).map(({ value, q }) => {
    const [type = '', subtype = ''] = value.split('/');
    return { type, subtype, q: Number.isFinite(q) ? q : 0 };
  });
  let best: { format: Format; q: number; specificity: number } = { format: 'json', q: 0, specificity: -1 };
  for (const [format, type, subtype] of FORMAT_TYPES) {
    const [q, specificity] = acceptance(ranges, type, subtype);
    // A higher q wins; on equal q the more specific range (a browser names text/html, and reaches JSON only through
    // */*).
    if (q > best.q || (q === best.q && q > 0 && specificity > best.specificity)) best = { format, q, specificity };
  }
  return best.format;
}

// Clients send few distinct Accept headers; remember the answers, within bounds.
const remembered = new Map<string, Format>();

/** The representation to send: ?format, else the one Accept prefers, else JSON. */
export function chooseFormat(format: Format | undefined, accept: string | undefined): Format {
  if (format) return format;
  if (!accept || accept === '*/*' || accept === 'application/json') return 'json';
  let chosen = remembered.get(accept);
  if (chosen === undefined) {
    chosen = preferredFormat(accept.slice(0, 1000));
    if (remembered.size >= 256) remembered.clear();
    remembered.set(accept, chosen);
  }
  return chosen;
}

/** A strong entity tag: a hash of the body. */
export function entityTag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match (weak comparison, as RFC 9110 asks for it): does it name this tag? */
function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/**
 * Whether a GET may be answered 304 (RFC 9110 13.2.2): If-None-Match when
 * the request has it, else If-Modified-Since against the last modification
 * (HTTP dates have whole seconds).
 */
export function notModified(
  headers: { 'if-none-match'?: string; 'if-modified-since'?: string },
  etag: string,
  lastModified: Date,
): boolean {
  if (headers['if-none-match'] !== undefined) return matchesIfNoneMatch(headers['if-none-match'], etag);
  const since = headers['if-modified-since'];
  if (since === undefined) return false;
  const sinceMs = Date.parse(since);
  return Number.isFinite(sinceMs) && Math.floor(lastModified.getTime() / 1000) * 1000 <= sinceMs;
}

/**
 * Pick the exposition format from an Accept header, by q-value: OpenMetrics
 * (1.0.0, 0.0.1 or no version) when the client prefers it, else Prometheus text,
 * which is also the answer to anything unrecognised (a scraper always gets metrics).
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (!accept) return 'prometheus';
  let best: { format: ExpositionFormat; q: number } | undefined;
  for (const { value: type, params, q } of parsePreferences(accept)) {
    const versionParam = params.get('version');
    let format: ExpositionFormat | undefined;
    if (
      type === 'application/openmetrics-text' &&
      (versionParam === undefined || versionParam === '1.0.0' || versionParam === '0.0.1')
    ) {
      format = 'openmetrics';
    } else if (type === 'text/plain' && (versionParam === undefined || versionParam === '0.0.4')) format = 'prometheus';
    else if (type === '*/*' || type === 'text/*') format = 'prometheus';
    // A strictly higher q wins; on a tie the first listed wins, as Prometheus lists its preference first.
    if (format && Number.isFinite(q) && q > 0 && (!best || q > best.q)) best = { format, q };
  }
  return best?.format ?? 'prometheus';
}

/** Whether an Accept-Encoding header takes gzip (named or through *, with a q above 0). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  let star = false;
  for (const { value: coding, q } of parsePreferences(acceptEncoding)) {
    if (coding === 'gzip' || coding === 'x-gzip') return q > 0;
    if (coding === '*') star = q > 0;
  }
  return star;
}
