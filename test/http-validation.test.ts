import t from 'tap';
import { z } from 'zod';
import { REMEMBERED_QUERIES, rememberingValidatorCompiler } from '../src/http/validation.js';

const schema = z.strictObject({ level: z.enum(['required', 'all']).default('required') });

function validatorFor(httpPart: string) {
  return rememberingValidatorCompiler({ schema, method: 'GET', url: '/check', httpPart });
}

function valueOf(result: unknown): unknown {
  return (result as { value?: unknown }).value;
}

t.test('a query string that passed is answered with the same frozen value the next time', async (t) => {
  const validate = validatorFor('querystring');
  const first = validate({ level: 'all' });
  const second = validate({ level: 'all' });
  t.same(valueOf(first), { level: 'all' });
  t.equal(second, first);
  t.ok(Object.isFrozen(valueOf(second)));
});

t.test('different parameters are validated on their own', async (t) => {
  const validate = validatorFor('querystring');
  t.same(valueOf(validate({ level: 'all' })), { level: 'all' });
  t.same(valueOf(validate({})), { level: 'required' });
});

t.test('a query string that failed is validated again each time, with a fresh error', async (t) => {
  const validate = validatorFor('querystring');
  const first = validate({ level: 'none' }) as { error?: unknown[] };
  const second = validate({ level: 'none' }) as { error?: unknown[] };
  t.equal(first.error?.length, 1);
  t.same(second.error, first.error);
  t.not(second.error, first.error);
});

t.test('the memory is bounded: past the bound, what was remembered is validated afresh', async (t) => {
  const open = rememberingValidatorCompiler({
    schema: z.record(z.string(), z.string()),
    method: 'GET',
    url: '/x',
    httpPart: 'querystring',
  });
  const first = open({ n: '0' });
  for (let n = 1; n < REMEMBERED_QUERIES; n++) open({ n: String(n) });
  t.equal(open({ n: '0' }), first, 'still remembered at the bound');
  open({ n: String(REMEMBERED_QUERIES) });
  const again = open({ n: '0' });
  t.not(again, first, 'forgotten once the bound was passed');
  t.same(valueOf(again), { n: '0' });
});

t.test('other parts of a request (a body) are validated every time', async (t) => {
  const validate = validatorFor('body');
  const first = validate({ level: 'all' });
  t.not(validate({ level: 'all' }), first);
  t.notOk(Object.isFrozen(valueOf(first)));
});
