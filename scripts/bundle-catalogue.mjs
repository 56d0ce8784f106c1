// After tsc: dist/catalogue.js becomes one file holding every probe module it
// imports. Every `check` starts a runner that imports it, and Node 20's ESM
// loader costs about half a millisecond a module: 23 ms for its thirty files,
// 9 ms for one. koffi stays a package (it carries a native library).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const catalogue = fileURLToPath(new URL('../dist/catalogue.js', import.meta.url));
await build({
  entryPoints: [catalogue],
  outfile: catalogue,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  sourcemap: true,
  logLevel: 'warning',
});
