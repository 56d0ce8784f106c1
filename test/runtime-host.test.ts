// Finding programs under a host root, and reading version numbers.
import t from 'tap';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  describeFailure,
  findExecutable,
  hostPath,
  resolveUnderRoot,
  run,
  runtimeEnv,
} from '../src/probes/runtime/host.js';
import { atLeast, compareVersions, criuVersionNumber, parseVersion } from '../src/probes/runtime/version.js';
import { addFiles, envFor, fake, makeRoot } from './helpers/hostroot.js';

t.test('runtimeEnv reads CRIU_READINESS_HOST_ROOT, PATH, CRIU and the free-space threshold', async (t) => {
  t.same(
    runtimeEnv({
      CRIU_READINESS_HOST_ROOT: '/host',
      PATH: '/bin',
      CRIU: '/opt/criu',
      CRIU_READINESS_CHECKPOINT_MIN_FREE: '5G',
    }),
    { root: '/host', path: '/bin', criu: '/opt/criu', checkpointMinFree: '5G', foreignRoot: true },
  );
  t.same(runtimeEnv({}), { root: '/', path: '', criu: undefined, checkpointMinFree: undefined, foreignRoot: false });
});

t.test('hostPath puts a path under the root, and leaves it alone for /', async (t) => {
  t.equal(hostPath('/etc/crio/crio.conf', '/host'), '/host/etc/crio/crio.conf');
  t.equal(hostPath('/etc/crio/crio.conf', '/'), '/etc/crio/crio.conf');
});

t.test(
  'a program is found in the system directories under the root, through absolute symlinks that point inside it',
  async (t) => {
    const root = makeRoot(t, { 'usr/sbin/runc': fake('runc version 1.1.5\n') });
    symlinkSync('/usr/sbin/runc', join(root, 'usr', 'bin-runc'));
    addFiles(root, {});
    symlinkSync('usr/sbin', join(root, 'sbin'));
    t.same(findExecutable('runc', envFor(root)), {
      hostPath: '/usr/sbin/runc',
      localPath: join(root, 'usr/sbin/runc'),
    });
    t.equal(resolveUnderRoot('/usr/bin-runc', root), '/usr/sbin/runc');
    t.equal(resolveUnderRoot('/sbin/runc', root), '/usr/sbin/runc');
    t.equal(resolveUnderRoot('/usr/./sbin/../sbin/runc', root), '/usr/sbin/runc');
  },
);

t.test('PATH entries are searched first; relative ones are ignored', async (t) => {
  const root = makeRoot(t, { 'opt/x/criu': fake(''), 'usr/sbin/criu': fake('') });
  t.equal(findExecutable('criu', envFor(root, { path: 'rel:/opt/x' }))?.hostPath, '/opt/x/criu');
});

t.test('a file without an execute bit, a directory, a symlink loop are not programs', async (t) => {
  const root = makeRoot(t, { 'usr/sbin/criu': 'not a script', 'usr/bin/criu/keep': '' });
  symlinkSync('/bin/criu', join(root, 'usr', 'local-loop'));
  addFiles(root, { 'bin/.keep': '' });
  symlinkSync('/usr/local-loop', join(root, 'bin', 'criu'));
  t.equal(findExecutable('criu', envFor(root)), null);
  t.equal(resolveUnderRoot('/bin/criu', root), null);
});

t.test(
  'at /, a program is found through symlinks (the kernel follows them), and a dangling one is passed over',
  async (t) => {
    // makeRoot's directory stands for PATH's directories here, searched with the root /.
    const dir = makeRoot(t, { 'real/criu': fake(''), 'a/.keep': '', 'b/.keep': '' });
    symlinkSync(join(dir, 'real', 'criu'), join(dir, 'b', 'criu'));
    symlinkSync(join(dir, 'missing'), join(dir, 'a', 'criu'));
    const env = { ...runtimeEnv({ PATH: `${join(dir, 'a')}:${join(dir, 'b')}` }), root: '/' };
    t.same(findExecutable('criu', env), { hostPath: join(dir, 'b', 'criu'), localPath: join(dir, 'b', 'criu') });
    t.equal(findExecutable('no-such-program-here', env), null);
  },
);

t.test('run: a program that cannot be started, or is killed, says so in one line', async (t) => {
  const failed = run('/nonexistent/criu', ['--version']);
  t.equal(failed.kind, 'failed');
  if (failed.kind === 'failed')
    t.equal(describeFailure(failed, 'criu --version'), 'criu --version could not be started: ENOENT');
  t.equal(describeFailure({ kind: 'killed', signal: 9 }, 'x'), 'x was killed by signal 9');
  t.equal(describeFailure({ kind: 'timeout' }, 'x', 2000), 'x did not finish within 2 s');
});

t.test('versions: leading numbers count, suffixes are kept in the text only', async (t) => {
  t.same(parseVersion('1.1.5+ds1'), { major: 1, minor: 1, patch: 5, text: '1.1.5+ds1' });
  t.same(parseVersion('v2.2.0'), { major: 2, minor: 2, patch: 0, text: 'v2.2.0' });
  t.same(parseVersion('1.6.20~ds1'), { major: 1, minor: 6, patch: 20, text: '1.6.20~ds1' });
  t.equal(parseVersion('4.2')?.patch, 0);
  t.equal(parseVersion('garbage'), null);
  t.ok(compareVersions({ major: 3, minor: 17, patch: 1 }, { major: 3, minor: 2, patch: 9 }) > 0);
  t.ok(atLeast(parseVersion('3.16')!, 3, 16));
  t.notOk(atLeast(parseVersion('3.15.9')!, 3, 16));
  t.equal(criuVersionNumber(parseVersion('3.17.1')!), 31701);
});
