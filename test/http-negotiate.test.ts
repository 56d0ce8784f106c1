// Content negotiation: the one parser of Accept and Accept-Encoding, and
// what each answer is chosen from it.
import t from 'tap';
import { acceptsGzip, chooseFormat, negotiateFormat, parsePreferences } from '../src/http/negotiate.js';
import type { Format } from '../src/http/schemas.js';

t.test(
  'a header is read as its entries, lower-cased, with parameters and q (1 by default, the first of a name counting)',
  async (t) => {
    const entries = parsePreferences('Text/Plain; Version=0.0.4 ;q=0.5, gzip, br;q=x;q=0.2');
    t.same(
      entries.map(({ value, params, q }) => ({ value, params: Object.fromEntries(params), q })),
      [
        { value: 'text/plain', params: { version: '0.0.4', q: '0.5' }, q: 0.5 },
        { value: 'gzip', params: {}, q: 1 },
        { value: 'br', params: { q: 'x' }, q: NaN },
      ],
    );
  },
);

t.test('the representation is chosen by ?format first, then by the q-values of Accept, JSON otherwise', async (t) => {
  const cases: [Format | undefined, string | undefined, Format][] = [
    ['text', 'application/json', 'text'],
    ['json', 'text/plain', 'json'],
    ['html', '*/*', 'html'],
    [undefined, 'text/plain', 'text'],
    [undefined, 'application/json;q=0.5, text/plain', 'text'],
    [undefined, 'text/plain;q=0.5, application/json', 'json'],
    [undefined, 'text/*, application/json;q=0.9', 'text'],
    [undefined, 'text/plain;q=nonsense', 'json'],
    [undefined, undefined, 'json'],
    [undefined, '*/*', 'json'],
    [undefined, 'application/json', 'json'],
    [undefined, 'application/xml', 'json'],
    // What Chromium and Firefox send for a page.
    [
      undefined,
      'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
      'html',
    ],
    [undefined, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'html'],
    [undefined, 'text/html;q=0.5, application/json', 'json'],
    [undefined, 'text/html, application/json', 'json'],
    [undefined, 'text/*', 'text'],
  ];
  for (const [format, accept, chosen] of cases) t.equal(chooseFormat(format, accept), chosen, `${format} ${accept}`);
});

t.test('the format is negotiated from Accept by q-value', async (t) => {
  const cases: [string | undefined, string][] = [
    // What Prometheus 2.x sends.
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    ['application/openmetrics-text; version=0.0.1', 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['text/plain;version=0.0.4;q=0.5,application/openmetrics-text;q=0.9', 'openmetrics'],
    ['application/openmetrics-text;q=0.1,text/plain', 'prometheus'],
    ['application/openmetrics-text;version=2.0.0', 'prometheus'],
    ['application/openmetrics-text;q=0', 'prometheus'],
    ['text/plain', 'prometheus'],
    ['*/*', 'prometheus'],
    ['application/json', 'prometheus'],
    ['', 'prometheus'],
    [undefined, 'prometheus'],
  ];
  for (const [accept, format] of cases) t.equal(negotiateFormat(accept), format, String(accept));
});

t.test('gzip is used when Accept-Encoding takes it', async (t) => {
  const cases: [string | undefined, boolean][] = [
    ['gzip', true],
    // What Prometheus sends.
    ['gzip, deflate', true],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['*', true],
    ['gzip;q=0', false],
    ['*;q=0', false],
    ['identity', false],
    ['deflate, br', false],
    ['', false],
    [undefined, false],
  ];
  for (const [header, gzip] of cases) t.equal(acceptsGzip(header), gzip, String(header));
});
