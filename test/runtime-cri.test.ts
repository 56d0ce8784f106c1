// cri_checkpoint: containerd (CRI checkpoint from 2.0, enable_criu from 2.4,
// criu >= 3.16) and CRI-O (enable_criu_support, default by version); Debian's
// real containerd 1.6.20 for "no CRI checkpoint".
import t from 'tap';
import { join } from 'node:path';
import {
  criCheckpoint,
  inspectContainerd,
  inspectCrio,
  loadContainerdConfig,
  loadCrioConfig,
} from '../src/probes/runtime/cri.js';
import { addFiles, debianPackage, envFor, fake, makeRoot, type Tree } from './helpers/hostroot.js';

const CRIU_42 = fake('Version: 4.2\n');
const containerd = (v: string) =>
  fake(`containerd github.com/containerd/containerd/v2 ${v} 301026e58c619e63d09c0ec411012e54c0124b03\n`);
const crio = (v: string) => fake(`crio version ${v}\n   GitCommit:  f954a17e\n`);
/** A kubelet's configuration file: what makes a fixture root a Kubernetes node, whose kubelet asks for CRI checkpoints. */
const KUBELET_NODE = { 'var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\n' };
const nodeRoot = (t: Parameters<typeof makeRoot>[0], tree: Tree = {}, fixture?: string) =>
  makeRoot(t, { ...KUBELET_NODE, ...tree }, fixture);

t.test('neither containerd nor CRI-O installed: not applicable, never a failure', async (t) => {
  t.same(criCheckpoint(envFor(makeRoot(t))), {
    status: 'supported',
    reason: 'NotApplicable',
    message: 'neither containerd nor CRI-O is installed: no CRI runtime to checkpoint for the kubelet',
  });
  t.match(inspectCrio(envFor(makeRoot(t))), {
    installed: false,
    outcome: { message: 'CRI-O is not installed: nothing to configure' },
  });
});

t.test(
  'containerd or CRI-O that cannot checkpoint, on a machine that is no Kubernetes node: not applicable, each named',
  async (t) => {
    const root = makeRoot(t, {
      'usr/bin/containerd': fake('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n'),
      'usr/bin/crio': crio('1.29.0'),
      'usr/sbin/criu': CRIU_42,
    });
    t.same(criCheckpoint(envFor(root)), {
      status: 'supported',
      reason: 'NotApplicable',
      message:
        'not a Kubernetes node, so no kubelet asks for CRI checkpoints: containerd 1.6.20~ds1 cannot checkpoint ' +
        'containers for the kubelet: CRI CheckpointContainer exists from containerd 2.0; CRI-O 1.29.0: ' +
        'enable_criu_support is false (the default of CRI-O 1.29.0); set enable_criu_support = true in [crio.runtime]',
    });
  },
);

t.test('containerd 1.x (Debian form "1.6.20~ds1"): no CRI checkpoint before 2.0', async (t) => {
  const root = nodeRoot(t, {
    'usr/bin/containerd': fake('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n'),
    'usr/sbin/criu': CRIU_42,
  });
  t.same(criCheckpoint(envFor(root)), {
    status: 'unsupported',
    reason: 'MissingDependency',
    message:
      'containerd 1.6.20~ds1 cannot checkpoint containers for the kubelet: CRI CheckpointContainer exists from containerd 2.0',
  });
});

t.test(
  'containerd 2.2 with criu 4.2: supported (no enable_criu before 2.4, its config is not consulted)',
  async (t) => {
    const root = nodeRoot(t, { 'usr/bin/containerd': containerd('v2.2.0'), 'usr/sbin/criu': CRIU_42 }, 'containerd-2');
    t.same(criCheckpoint(envFor(root)), {
      status: 'supported',
      reason: 'Supported',
      message: 'containerd v2.2.0 can checkpoint containers (CRI CheckpointContainer)',
    });
  },
);

t.test('containerd 2.0-2.3 needs criu 3.16 (podCriuVersion 31600)', async (t) => {
  const root = nodeRoot(t, { 'usr/bin/containerd': containerd('v2.0.0'), 'usr/sbin/criu': fake('Version: 3.15\n') });
  t.same(criCheckpoint(envFor(root)), {
    status: 'unsupported',
    reason: 'MissingDependency',
    message: 'containerd v2.0.0 needs criu 3.16 or later (31600), and criu is 3.15',
  });
});

t.test('containerd 2.x without criu: unsupported, criu missing', async (t) => {
  const root = nodeRoot(t, { 'usr/bin/containerd': containerd('v2.1.0') });
  t.match(criCheckpoint(envFor(root)), {
    status: 'unsupported',
    reason: 'MissingDependency',
    message: 'containerd v2.1.0 needs criu on its PATH, and none is installed',
  });
});

t.test('containerd 2.x with a criu that prints no version: unknown', async (t) => {
  const root = nodeRoot(t, { 'usr/bin/containerd': containerd('v2.1.0'), 'usr/sbin/criu': fake('??\n', 1) });
  t.match(criCheckpoint(envFor(root)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: /^containerd v2.1.0 needs criu 3.16 or later; .*printed no version/,
  });
});

t.test(
  'containerd 2.4: enable_criu = false in an import (glob, relative to config.toml) wins over the main file',
  async (t) => {
    const root = nodeRoot(t, { 'usr/bin/containerd': containerd('v2.4.0'), 'usr/sbin/criu': CRIU_42 }, 'containerd-2');
    const report = inspectContainerd(envFor(root));
    t.match(report, {
      version: 'v2.4.0',
      criuEnabled: false,
      enabledBy: '/etc/containerd/conf.d/10-criu.toml',
      outcome: {
        status: 'unsupported',
        reason: 'Disabled',
        message: 'containerd v2.4.0: enable_criu = false in /etc/containerd/conf.d/10-criu.toml',
      },
    });
  },
);

t.test('containerd 2.4: enable_criu unset defaults to true; the v2 CRI table counts too', async (t) => {
  const root = nodeRoot(t, {
    'usr/bin/containerd': containerd('v2.4.0'),
    'usr/sbin/criu': CRIU_42,
    'etc/containerd/config.toml': 'version = 3\n',
  });
  t.match(inspectContainerd(envFor(root)), {
    criuEnabled: true,
    enabledBy: 'the default of containerd v2.4.0',
    outcome: { status: 'supported', message: /enable_criu from the default of containerd v2.4.0/ },
  });
  addFiles(root, {
    'etc/containerd/config.toml': 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nenable_criu = false\n',
  });
  t.match(inspectContainerd(envFor(root)), { criuEnabled: false, outcome: { status: 'unsupported' } });
});

t.test(
  'containerd imports: breadth first, absolute and relative, circular imports read once, missing ones skipped',
  async (t) => {
    const root = nodeRoot(t, {
      'etc/containerd/config.toml': 'imports = ["/etc/containerd/a.toml", "b.toml", "missing.toml"]\n',
      'etc/containerd/a.toml': 'imports = ["/etc/containerd/config.toml"]\nx = 1\n',
      'etc/containerd/b.toml': 'x = 2\n',
    });
    t.same(
      loadContainerdConfig(envFor(root)).tables.map((c) => c.file),
      ['/etc/containerd/config.toml', '/etc/containerd/a.toml', '/etc/containerd/b.toml'],
    );
    addFiles(root, { 'etc/containerd/config.toml': 'imports = "/etc/containerd/a.toml"\n' });
    t.match(loadContainerdConfig(envFor(root)).error, 'imports is not a list of paths');
  },
);

t.test(
  'containerd 2.4: a malformed config is unknown, naming the file and line; a non-boolean enable_criu too',
  async (t) => {
    const root = nodeRoot(t, {
      'usr/bin/containerd': containerd('v2.4.0'),
      'usr/sbin/criu': CRIU_42,
      'etc/containerd/config.toml': "version = 3\n[plugins.'io.containerd.cri.v1.runtime'\nenable_criu = true\n",
    });
    t.same(criCheckpoint(envFor(root)), {
      status: 'unknown',
      reason: 'UnexpectedResult',
      message:
        "containerd's configuration cannot be read: /etc/containerd/config.toml: line 2: expected ] to close a table header",
    });
    addFiles(root, { 'etc/containerd/config.toml': "[plugins.'io.containerd.cri.v1.runtime']\nenable_criu = 'yes'\n" });
    t.match(criCheckpoint(envFor(root)), {
      status: 'unknown',
      message: '/etc/containerd/config.toml: enable_criu is not true or false',
    });
  },
);

t.test('containerd printing garbage for --version: unknown', async (t) => {
  const root = nodeRoot(t, { 'usr/bin/containerd': fake('hello\n') });
  t.match(criCheckpoint(envFor(root)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: '/usr/bin/containerd --version printed no version: hello',
  });
});

t.test('CRI-O: drop-ins below crio.conf.d, recursively and in lexical order, win over crio.conf', async (t) => {
  const root = nodeRoot(t, { 'usr/bin/crio': crio('1.29.0'), 'usr/sbin/criu': CRIU_42 }, 'crio');
  t.same(
    loadCrioConfig(envFor(root)).tables.map((c) => c.file),
    ['/etc/crio/crio.conf', '/etc/crio/crio.conf.d/00-default', '/etc/crio/crio.conf.d/nested/10-criu.conf'],
  );
  t.match(inspectCrio(envFor(root)), {
    version: '1.29.0',
    criuEnabled: true,
    enabledBy: '/etc/crio/crio.conf.d/nested/10-criu.conf',
    outcome: { status: 'supported' },
  });
});

t.test('CRI-O: enable_criu_support defaults to false up to 1.29 and true from 1.30', async (t) => {
  const old = nodeRoot(t, { 'usr/bin/crio': crio('1.29.3'), 'usr/sbin/criu': CRIU_42 });
  t.same(criCheckpoint(envFor(old)), {
    status: 'unsupported',
    reason: 'Disabled',
    message:
      'CRI-O 1.29.3: enable_criu_support is false (the default of CRI-O 1.29.3); set enable_criu_support = true in [crio.runtime]',
  });
  const recent = nodeRoot(t, { 'usr/bin/crio': fake('crio version 1.30.0\n'), 'usr/sbin/criu': CRIU_42 });
  t.match(criCheckpoint(envFor(recent)), {
    status: 'supported',
    message:
      /CRI-O 1.30.0 can checkpoint containers \(enable_criu_support from the default of CRI-O 1.30.0; CRI-O looks for criu once, at startup\)/,
  });
});

t.test('CRI-O older than 1.25 has no checkpoint support', async (t) => {
  const root = nodeRoot(t, { 'usr/bin/crio': fake('Version:        1.24.6\n') });
  t.match(criCheckpoint(envFor(root)), {
    status: 'unsupported',
    message: 'CRI-O 1.24.6 cannot checkpoint containers: checkpoint support exists from CRI-O 1.25',
  });
});

t.test('CRI-O enabled without criu: refuses to start up to 1.29, turns it off from 1.30', async (t) => {
  const old = nodeRoot(t, {
    'usr/bin/crio': crio('1.28.1'),
    'etc/crio/crio.conf': '[crio.runtime]\nenable_criu_support = true\n',
  });
  t.match(criCheckpoint(envFor(old)), {
    status: 'unsupported',
    message: /CRI-O refuses to start with enable_criu_support = true; restart crio after installing criu/,
  });
  const recent = nodeRoot(t, { 'usr/bin/crio': crio('1.36.0') });
  t.match(criCheckpoint(envFor(recent)), {
    status: 'unsupported',
    message: /CRI-O turns checkpointing off at startup/,
  });
});

t.test(
  'CRI-O: a malformed drop-in is unknown, naming the file and line; a non-boolean too; a bad version output too',
  async (t) => {
    const root = nodeRoot(t, {
      'usr/bin/crio': crio('1.30.0'),
      'etc/crio/crio.conf.d/99-bad.conf': '[crio.runtime]\nenable_criu_support = yes\n',
    });
    t.same(criCheckpoint(envFor(root)), {
      status: 'unknown',
      reason: 'UnexpectedResult',
      message:
        'CRI-O\'s configuration cannot be read: /etc/crio/crio.conf.d/99-bad.conf: line 2: cannot read the value "yes" (a string needs quotes)',
    });
    addFiles(root, { 'etc/crio/crio.conf.d/99-bad.conf': '[crio.runtime]\nenable_criu_support = "true"\n' });
    t.match(criCheckpoint(envFor(root)), {
      status: 'unknown',
      message: '/etc/crio/crio.conf.d/99-bad.conf: enable_criu_support is not true or false',
    });
    const garbage = nodeRoot(t, { 'usr/bin/crio': fake('', 2) });
    t.match(criCheckpoint(envFor(garbage)), {
      status: 'unknown',
      message: '/usr/bin/crio --version printed no version: (nothing)',
    });
  },
);

t.test('containerd and CRI-O both installed: supported when either can, each named', async (t) => {
  const root = nodeRoot(t, {
    'usr/bin/containerd': fake('containerd github.com/containerd/containerd 1.7.0 x\n'),
    'usr/bin/crio': crio('1.30.0'),
    'usr/sbin/criu': CRIU_42,
  });
  t.match(criCheckpoint(envFor(root)), { status: 'supported', message: /^CRI-O 1.30.0 can checkpoint/ });
  addFiles(root, { 'etc/crio/crio.conf': '[crio.runtime]\nenable_criu_support = false\n' });
  t.match(criCheckpoint(envFor(root)), {
    status: 'unsupported',
    message: /^containerd 1.7.0 cannot .*; CRI-O 1.30.0: enable_criu_support is false/,
  });
});

const CONTAINERD_DEB = debianPackage('containerd');
t.test(
  "Debian 12's containerd 1.6.20: real --version, no CRI checkpoint",
  { skip: 'skip' in CONTAINERD_DEB && CONTAINERD_DEB.skip },
  async (t) => {
    if ('skip' in CONTAINERD_DEB) return;
    const env = envFor('/', { path: join(CONTAINERD_DEB.dir, 'usr/bin') });
    t.match(inspectContainerd(env), {
      installed: true,
      version: '1.6.20~ds1',
      outcome: { status: 'unsupported', message: /containerd 1.6.20~ds1 cannot checkpoint containers for the kubelet/ },
    });
  },
);
