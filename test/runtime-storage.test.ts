// checkpoint_storage: the directory checkpoints go to, its free space
// against the threshold, writability and filesystem type.
import t from 'tap';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkpointDirectory,
  checkpointStorage,
  DEFAULT_MIN_FREE,
  mountOf,
  parseSize,
} from '../src/probes/runtime/storage.js';
import { envFor, fake, inOwnMountNamespace, makeRoot } from './helpers/hostroot.js';

t.test('sizes: plain bytes, K/M/G/T with or without i and B', async (t) => {
  t.equal(parseSize('1073741824'), 1024 ** 3);
  t.equal(parseSize('10G'), 10 * 1024 ** 3);
  t.equal(parseSize('512Mi'), 512 * 1024 ** 2);
  t.equal(parseSize('1.5 TiB'), 1.5 * 1024 ** 4);
  t.equal(parseSize('lots'), null);
  t.equal(DEFAULT_MIN_FREE, 10 * 1024 ** 3);
});

t.test('where checkpoints go: the kubelet root-dir, else containerd, else podman/CRI-O storage', async (t) => {
  t.same(checkpointDirectory(envFor(makeRoot(t))), {
    dir: '/var/lib/containers/storage',
    why: 'podman and CRI-O container storage',
  });
  t.match(checkpointDirectory(envFor(makeRoot(t, { 'usr/bin/containerd': fake('') }))), { dir: '/var/lib/containerd' });
  t.match(checkpointDirectory(envFor(makeRoot(t, { 'proc/5/cmdline': 'kubelet\0--root-dir=/srv/k\0' }))), {
    dir: '/srv/k/checkpoints',
  });
});

t.test(
  'a directory not yet created is judged by its nearest existing ancestor; the test file is removed',
  async (t) => {
    const root = makeRoot(t, { 'usr/bin/kubelet': fake('Kubernetes v1.30.1\n'), 'var/lib/kubelet/.keep': '' });
    const outcome = checkpointStorage(envFor(root, { checkpointMinFree: '1K' }));
    t.match(outcome, {
      status: 'supported',
      reason: 'Supported',
      message:
        /^\/var\/lib\/kubelet\/checkpoints \(not yet created; its nearest existing ancestor \/var\/lib\/kubelet\) \(\w+\) is writable with at least 0\.0 GiB free \(the kubelet writes checkpoint archives there\)$/,
    });
    t.same(readdirSync(join(root, 'var/lib/kubelet')), ['.keep']);
  },
);

t.test(
  'less free space than the threshold: unsupported, naming the threshold but not the free bytes (they change at every run)',
  async (t) => {
    const root = makeRoot(t, { 'var/lib/containers/storage/.keep': '' });
    t.match(checkpointStorage(envFor(root, { checkpointMinFree: '1000000T' })), {
      status: 'unsupported',
      reason: 'InsufficientSpace',
      message:
        /^\/var\/lib\/containers\/storage \(\w+\) has less than 1024000000\.0 GiB free \(CRIU_READINESS_CHECKPOINT_MIN_FREE\)$/,
    });
  },
);

t.test('an unreadable threshold is unknown', async (t) => {
  t.same(checkpointStorage(envFor(makeRoot(t), { checkpointMinFree: 'lots' })), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: 'CRIU_READINESS_CHECKPOINT_MIN_FREE=lots is not a size (e.g. 10G)',
  });
});

t.test(
  'a directory this process may not write: unknown, PermissionDenied',
  { skip: process.geteuid?.() === 0 && 'root writes anywhere: the refusal cannot be staged' },
  async (t) => {
    const root = makeRoot(t, { 'var/lib/containers/storage/.keep': '' });
    chmodSync(join(root, 'var/lib/containers/storage'), 0o555);
    t.match(checkpointStorage(envFor(root)), { status: 'unknown', reason: 'PermissionDenied' });
  },
);

t.test('the mount holding a path: the longest mount point, the last one mounted there', async (t) => {
  const mountinfo = [
    '22 1 0:21 / / rw - ext4 /dev/sda1 rw',
    '30 22 0:30 / /var/lib rw - xfs /dev/sdb1 rw',
    '31 30 0:31 / /var/lib rw - tmpfs tmpfs rw',
    '32 22 0:32 / /var/lib\\040x rw - btrfs /dev/sdc rw',
    'garbage',
  ].join('\n');
  t.same(mountOf('/var/lib/kubelet', mountinfo), { mountPoint: '/var/lib', fsType: 'tmpfs' });
  t.same(mountOf('/var/lib x/y', mountinfo), { mountPoint: '/var/lib x', fsType: 'btrfs' });
  t.same(mountOf('/var/library', mountinfo), { mountPoint: '/', fsType: 'ext4' });
  t.equal(mountOf('/x', ''), null);
});

t.test('the real host: a verdict, never a crash', async (t) => {
  const outcome = checkpointStorage();
  t.ok(['supported', 'unsupported', 'unknown'].includes(outcome.status), outcome.message);
  t.notOk(existsSync(`/var/lib/containers/storage/.criu-readiness-${process.pid}`));
});

const STORAGE_MODULE = fileURLToPath(new URL('../src/probes/runtime/storage.ts', import.meta.url));

t.test(
  'a read-only mount where checkpoints go is unknown (ReadOnlyFilesystem), under a host root or not: it may not be what the runtime writes to',
  { skip: process.geteuid?.() !== 0 && 'needs root for a private read-only bind mount (unshare -m)' },
  async (t) => {
    const root = makeRoot(t, { 'var/lib/containers/storage/.keep': '' });
    // In a private mount namespace, so the read-only bind ends with the child.
    const script = `import { checkpointStorage } from ${JSON.stringify(STORAGE_MODULE)};
const env = { root: ${JSON.stringify(root)}, path: '', checkpointMinFree: '1K' };
console.log(JSON.stringify([checkpointStorage({ ...env, foreignRoot: true }), checkpointStorage(env)]));`;
    const r = inOwnMountNamespace('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"', [root], script);
    t.equal(r.status, 0, r.stderr);
    const [foreign, own] = JSON.parse(r.stdout) as [unknown, unknown];
    t.match(foreign, {
      status: 'unknown',
      reason: 'ReadOnlyFilesystem',
      message: /is read-only as mounted here \(under .*\); mount the host's directory writable to check it$/,
    });
    t.match(own, {
      status: 'unknown',
      reason: 'ReadOnlyFilesystem',
      message: /is on a read-only \w+ filesystem as mounted here/,
    });
  },
);
