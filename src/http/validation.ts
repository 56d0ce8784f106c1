// Request validation with the routes' zod schemas. Query strings are few and
// repeat (a readiness reporter asks the same URL every few seconds), so a
// query string that passed is remembered rather than validated again with
// zod on every request.
import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';

/** How many distinct valid query strings a route remembers (valid ones are few; the bound is for safety). */
export const REMEMBERED_QUERIES = 256;

type ValidationResult = ReturnType<ReturnType<FastifySchemaCompiler<unknown>>>;

/**
 * The zod validator; for query strings, successes are remembered per route,
 * keyed by the parsed parameters. Values are frozen, as every request that
 * asks the same gets the same object. Failures are not remembered: fastify
 * adds request details to the error, and hostile input must not fill memory.
 */
export const rememberingValidatorCompiler: FastifySchemaCompiler<unknown> = (route) => {
  const validate = validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
  if (route.httpPart !== 'querystring') return validate;
  const passed = new Map<string, ValidationResult>();
  return (data) => {
    const key = JSON.stringify(data);
    const known = passed.get(key);
    if (known) return known;
    const result = validate(data);
    if (typeof result !== 'object' || !('value' in result)) return result;
    const remembered = Object.freeze({ value: Object.freeze(result.value) });
    if (passed.size >= REMEMBERED_QUERIES) passed.clear();
    passed.set(key, remembered);
    return remembered;
  };
};
