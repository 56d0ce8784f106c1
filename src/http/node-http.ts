// node:http, loaded as CommonJS. To give an ES module its view of a built-in,
// Node reads every export, and on Node 24 those of node:http include lazy
// getters (WebSocket, CloseEvent, MessageEvent) that load undici, the whole
// fetch and WebSocket client: an `import ... from 'node:http'` would hold
// its code in the HTTP process for good, which never uses it.
import { createRequire } from 'node:module';

export const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
