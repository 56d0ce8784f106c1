// The committed OpenAPI document, openapi/openapi.yaml: scripts/openapi.ts
// writes it from the routes' schemas (a test keeps the two equal), and the
// service serves it. Its path is fixed: nothing a request says reaches it.
import { readFile } from 'node:fs/promises';

export const OPENAPI_YAML = new URL('../openapi/openapi.yaml', import.meta.url);

/** The committed document, parsed; YAML's parser is loaded with it, not before. */
export async function committedDocument(): Promise<unknown> {
  // The default export: a bundle's split chunk of a CommonJS package has no other.
  const { default: yaml } = await import('yaml');
  return yaml.parse(await readFile(OPENAPI_YAML, 'utf8')) as unknown;
}
