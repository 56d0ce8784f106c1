// After tsc: the catalogue and the runner each become one file holding every
// module of ours they import. Every `check` starts a runner, and Node 20's
// ESM loader costs about half a millisecond a module: the catalogue's thirty
// files took 23 ms, one takes 9. koffi stays a package (it carries a native
// library). The two files are self-contained: the runner has its own copy of
// the catalogue, loaded with it.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist', import.meta.url));
await build({
  entryPoints: [`${dist}/catalogue.js`, `${dist}/engine/runner-main.js`],
  outdir: dist,
  outbase: dist,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  sourcemap: true,
  logLevel: 'warning',
});
