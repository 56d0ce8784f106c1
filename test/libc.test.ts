import { createRequire } from 'node:module';
import t from 'tap';
import { getpid, loadedKoffiFrom } from '../src/native/libc.js';

t.test("koffi is loaded straight from this platform's binary, not through its slower loader", async (t) => {
  t.equal(loadedKoffiFrom(), 'platform binary');
  t.equal(getpid().ret, process.pid);
});

t.test("where this platform's binary cannot be loaded (musl), koffi's own loader is used and calls work", async (t) => {
  const libc = await t.mockImport<typeof import('../src/native/libc.js')>('../src/native/libc.js', {
    'node:module': {
      createRequire(url: string) {
        const real = createRequire(url);
        return (id: string): unknown => {
          if (id.endsWith('.node')) throw new Error(`${id}: cannot open shared object file`);
          return real(id);
        };
      },
    },
  });
  t.equal(libc.loadedKoffiFrom(), 'koffi loader');
  t.equal(libc.getpid().ret, process.pid);
});
