// After tsc: the catalogue and the runner each become one file holding every
// module of ours they import. Every `check` starts a runner, and Node 20's
// ESM loader costs about half a millisecond a module: the catalogue's thirty
// files took 23 ms, one takes 9. koffi stays a package (it carries a native
// library). The two files are self-contained: the runner has its own copy of
// the catalogue, loaded with it.
//
// The runner is CommonJS (dist/engine/runner-main.cjs): Node 20 starts a
// CommonJS entry about 8 ms sooner than an ES module. tsc's ES module of it
// is removed, so that dist holds one runner; likewise the supervisor.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinsOnFirstUse } from './on-first-use.mjs';

const dist = fileURLToPath(new URL('../dist', import.meta.url));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  sourcemap: true,
  logLevel: 'warning',
};

// The supervisor (the service's privileged process, which starts the runners)
// is built the same way: one file, started once per service.
for (const entry of ['runner-main', 'runner-start', 'supervisor-main']) {
  await build({
    ...common,
    entryPoints: [`${dist}/engine/${entry}.js`],
    outfile: `${dist}/engine/${entry}.cjs`,
    format: 'cjs',
    // CommonJS has no import.meta: the modules that use it (libc.ts, to require koffi) get this file's URL.
    define: { 'import.meta.url': 'runnerFileUrl' },
    // Strict first, as the ES modules it comes from were.
    banner: { js: "'use strict';\nconst runnerFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  for (const file of [`${entry}.js`, `${entry}.js.map`]) rmSync(`${dist}/engine/${file}`);
}
// The catalogue last: bundled first, it would enter the runner as one opaque
// module with its own copies of model.js and the native layer, and the
// runner's `instanceof ProbeStop` would miss every stop() of a probe.
await build({
  ...common,
  entryPoints: [`${dist}/catalogue.js`],
  outfile: `${dist}/catalogue.js`,
  allowOverwrite: true,
  format: 'esm',
});

// The service's two images. The first runs http/serve.js: it and its
// modules become a few ES module files (split, so that the first image loads
// only what it needs). The second then loads the HTTP side: http/serve-http.js
// and all it loads (fastify, zod, pino, prom-client, the routes) become one
// CommonJS file, serve-http.cjs, which serve.ts runs from the V8 code of an
// earlier start (v8-code-cache.ts). Unbundled, the second image would load
// some three hundred modules, each a resolution and a file read. koffi (a
// native library) and the swagger packages (they read files beside their own
// code) stay packages.
const http = `${dist}/http`;
/**
 * Each module's import.meta.url stays its own file's, so that what it finds
 * beside itself is still found, from the bundle written in `outdir`.
 */
const ownUrls = (outdir) => ({
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\/dist\/.*\.js$/ }, async ({ path }) => {
      const from = relative(outdir, path);
      const url = `new URL(${JSON.stringify(from.startsWith('.') ? from : `./${from}`)}, import.meta.url).href`;
      const contents = (await readFile(path, 'utf8')).replaceAll('import.meta.url', url);
      return { contents, loader: 'js', resolveDir: dirname(path) };
    });
  },
});
const httpExternal = ['koffi', '@fastify/swagger', '@fastify/swagger-ui'];
// The chunks of an earlier build go: their names change with their content.
for (const file of readdirSync(http)) if (file.startsWith('chunk-')) rmSync(`${http}/${file}`);
await build({
  ...common,
  entryPoints: [`${http}/serve.js`],
  chunkNames: 'chunk-[hash]',
  outdir: http,
  allowOverwrite: true,
  splitting: true,
  format: 'esm',
  external: httpExternal,
  plugins: [ownUrls(http)],
  // The packages written as CommonJS require Node's modules.
  banner: {
    js: "import { createRequire as bundleRequire } from 'node:module';\nconst require = bundleRequire(import.meta.url);",
  },
});
await build({
  ...common,
  entryPoints: [`${http}/serve-http.js`],
  outfile: `${http}/serve-http.cjs`,
  format: 'cjs',
  external: httpExternal,
  // HTTPS and HTTP/2, which the service never uses, load only if used (on-first-use.mjs).
  plugins: [ownUrls(http), builtinsOnFirstUse],
  // CommonJS has no import.meta: each module's URL (ownUrls) is taken from this file's.
  define: { 'import.meta.url': 'bundleFileUrl' },
  banner: { js: "'use strict';\nconst bundleFileUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The CLI last (it reads what the builds above leave as they are): cli.js
// and its modules become one file. A launched runner is ready before the
// CLI has loaded the engine to ask for its run, and Node 20 reads and
// resolves each module file on its own. The catalogue (one file already)
// and the service's first image (built above) stay files of their own,
// which the CLI imports as they are.
const ownFiles = {
  name: 'catalogue-and-service-apart',
  setup(b) {
    b.onResolve({ filter: /(^|\/)(catalogue|http\/serve)\.js$/ }, ({ path, resolveDir }) => ({
      path: `./${relative(dist, `${resolveDir}/${path}`)}`,
      external: true,
    }));
  },
};
await build({
  ...common,
  entryPoints: [`${dist}/cli.js`],
  outdir: dist,
  allowOverwrite: true,
  format: 'esm',
  plugins: [ownFiles, ownUrls(dist)],
});
