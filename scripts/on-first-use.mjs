// An esbuild plugin for the HTTP side's bundle (bundle.mjs). Node's HTTPS
// and HTTP/2 modules, with TLS and crypto under them, are a good part of
// that side's load: fastify and prom-client require them as they load, and
// the service never uses them (plain HTTP, nothing pushed to a gateway).
// Each `require` of them gets a stand-in that loads the module on first use
// of any of its properties.
const ON_FIRST_USE = /^(node:)?(https|http2)$/;

export const builtinsOnFirstUse = {
  name: 'builtins-on-first-use',
  setup(build) {
    build.onResolve({ filter: ON_FIRST_USE }, ({ path, kind, namespace }) =>
      namespace !== 'on-first-use' && kind === 'require-call'
        ? { path: path.replace(/^node:/, ''), namespace: 'on-first-use' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'on-first-use' }, ({ path }) => ({
      contents: [
        'let loaded;',
        `const load = () => (loaded ??= require('node:${path}'));`,
        'module.exports = new Proxy({}, { get: (_, key) => load()[key], has: (_, key) => key in load() });',
      ].join('\n'),
      loader: 'js',
    }));
  },
};
