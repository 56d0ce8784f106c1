// The HTTP process's seccomp filter, installed in a child process (a filter
// cannot be removed): it refuses what an HTTP server never needs, and lets
// through what Node needs (threads, files).
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TS_LOADER } from './helpers/node.js';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/http-filter.ts', import.meta.url));
const { EPERM } = constants.errno;

const filtered = run(process.execPath, [...TS_LOADER, fixture]).then(
  ({ stdout }) => JSON.parse(stdout) as Record<string, number | boolean>,
);

t.test('the filter installs on every thread', async (t) => {
  const result = await filtered;
  t.equal(result.installed, 0);
  t.equal(result.readFile, true, 'Seccomp: 2, and files can still be read');
});

t.test('namespaces, tracing, mounts, BPF and exec are refused with EPERM', async (t) => {
  t.match(await filtered, {
    unshareUser: EPERM,
    unshareNet: EPERM,
    ptrace: EPERM,
    mount: EPERM,
    bpf: EPERM,
    execve: EPERM,
    cloneNewUser: EPERM,
  });
});

t.test('threads still start (clone3 answers ENOSYS, glibc falls back to clone) and plain calls pass', async (t) => {
  const result = await filtered;
  t.equal(result.workerExit, 0, 'a worker thread ran');
  t.equal(result.getpid, 0);
});
