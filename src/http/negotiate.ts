// JSON for programs, the CLI's lines for people: ?format wins, else the
// Accept header decides, else JSON.
import { createHash } from 'node:crypto';
import type { Format } from './schemas.js';

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
