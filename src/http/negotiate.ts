// JSON for programs, the CLI's lines for people: ?format wins, else the
// Accept header decides, else JSON.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { echo } from './problem.js';

export const FORMATS = ['json', 'text'] as const;
export type Format = (typeof FORMATS)[number];

export const formatParam = z
  .enum(FORMATS, { error: () => `format must be one of ${FORMATS.join(', ')}` })
  .optional()
  .describe('json (the default) or text, the lines the CLI prints; overrides the Accept header');

/** Parameter names quoted in a message: a few, each bounded, so a hostile query cannot blow up a body. */
function someNames(keys: readonly string[], max = 5): string {
  const shown = keys.slice(0, max).map((key) => echo(key, 40));
  return keys.length > max ? `${shown.join(', ')} and ${keys.length - max} more` : shown.join(', ');
}

/** A query string schema that refuses parameters it does not know, naming the ones it does. */
export function strictQuery<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown parameter ${someNames(issue.keys)}; allowed: ${allowed}` : undefined) });
}

/** Milliseconds in bodies: to the microsecond, not to the float's last digit. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';

/** q-value and specificity (2 exact, 1 type/*, 0 *\/*) with which an Accept header takes a media type. */
function acceptance(ranges: readonly { type: string; subtype: string; q: number }[], type: string, subtype: string): [number, number] {
  let best: [number, number] = [0, -1];
  for (const r of ranges) {
    const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' && r.subtype === '*' ? 0 : -1;
    if (specificity > best[1]) best = [r.q, specificity];
  }
  return best;
}

function prefersText(accept: string): boolean {
  const ranges = accept.split(',').map((entry) => {
    const [range, ...params] = entry.trim().toLowerCase().split(';');
    const [type = '', subtype = ''] = range.trim().split('/');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    return { type, subtype, q: Number.isFinite(q) ? q : 0 };
  });
  const [textQ, textSpecificity] = acceptance(ranges, 'text', 'plain');
  const [jsonQ, jsonSpecificity] = acceptance(ranges, 'application', 'json');
  if (textQ !== jsonQ) return textQ > jsonQ;
  return textQ > 0 && textSpecificity > jsonSpecificity;
}

// Clients send few distinct Accept headers; remember the answers, within bounds.
const remembered = new Map<string, boolean>();

export function wantsText(format: Format | undefined, accept: string | undefined): boolean {
  if (format) return format === 'text';
  if (!accept || accept === '*/*' || accept === 'application/json') return false;
  let text = remembered.get(accept);
  if (text === undefined) {
    text = prefersText(accept.slice(0, 1000));
    if (remembered.size >= 256) remembered.clear();
    remembered.set(accept, text);
  }
  return text;
}

/** A strong entity tag: a hash of the body. */
export function entityTag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match (weak comparison, as RFC 9110 asks for it): does it name this tag? */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}
