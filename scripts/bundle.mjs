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
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
for (const entry of ['runner-main', 'supervisor-main']) {
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
