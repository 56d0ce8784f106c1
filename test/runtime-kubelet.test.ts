// kubelet_checkpoint: ContainerCheckpoint from the command line (wins), the
// KubeletConfiguration, or the default of the kubelet's version; a host that
// is no Kubernetes node is not applicable.
import t from 'tap';
import {
  flagValue,
  gateDefault,
  inspectKubelet,
  kubeletCheckpoint,
  parseFeatureGatesFlag,
  readFeatureGates,
} from '../src/probes/runtime/kubelet.js';
import { parseVersion } from '../src/probes/runtime/version.js';
import { addFiles, envFor, fake, makeRoot } from './helpers/hostroot.js';

const kubelet = (v: string) => fake(`Kubernetes ${v}\n`);
const cmdline = (...args: string[]) => `${args.join('\0')}\0`;

t.test('no kubelet binary, process or config: not applicable', async (t) => {
  t.same(kubeletCheckpoint(envFor(makeRoot(t))), {
    status: 'supported',
    reason: 'NotApplicable',
    message: 'not a Kubernetes node: no kubelet running, installed or configured (/var/lib/kubelet/config.yaml)',
  });
});

t.test(
  'the gate in config.yaml (kubeadm default path) is on: supported, naming the checkpoints directory',
  async (t) => {
    const root = makeRoot(t, { 'usr/bin/kubelet': kubelet('v1.29.4') }, 'kubelet');
    t.same(kubeletCheckpoint(envFor(root)), {
      status: 'supported',
      reason: 'Supported',
      message:
        'ContainerCheckpoint is on (/var/lib/kubelet/config.yaml); checkpoints go to /var/lib/kubelet/checkpoints',
    });
  },
);

t.test('unset: the default of the version, off before 1.30 and on from 1.30 (beta)', async (t) => {
  const old = makeRoot(t, { 'usr/bin/kubelet': kubelet('v1.29.4') });
  t.same(kubeletCheckpoint(envFor(old)), {
    status: 'unsupported',
    reason: 'Disabled',
    message:
      'ContainerCheckpoint is off (the default of kubelet v1.29.4): set featureGates: {ContainerCheckpoint: true} in the kubelet configuration',
  });
  const recent = makeRoot(t, { 'usr/bin/kubelet': kubelet('v1.30.1') });
  t.match(kubeletCheckpoint(envFor(recent)), {
    status: 'supported',
    message:
      'ContainerCheckpoint is on (the default of kubelet v1.30.1); checkpoints go to /var/lib/kubelet/checkpoints',
  });
});

t.test('a kubelet older than 1.25 has no such gate', async (t) => {
  const root = makeRoot(t, { 'usr/bin/kubelet': kubelet('v1.24.17') });
  t.match(kubeletCheckpoint(envFor(root)), {
    status: 'unsupported',
    message: 'kubelet v1.24.17 has no ContainerCheckpoint feature gate (it exists from 1.25): upgrade the kubelet',
  });
});

t.test(
  "a running kubelet's --config and --root-dir are followed, and its --feature-gates win over the file",
  async (t) => {
    const root = makeRoot(t, {
      'usr/bin/kubelet': kubelet('v1.31.0'),
      'proc/4242/cmdline': cmdline(
        '/usr/bin/kubelet',
        '--config',
        '/etc/kubernetes/kubelet.yaml',
        '--root-dir=/data/kubelet',
        '--v=2',
      ),
      'proc/self/cmdline': cmdline('node'),
      'etc/kubernetes/kubelet.yaml': 'featureGates:\n  ContainerCheckpoint: false\n',
    });
    t.match(inspectKubelet(envFor(root)), {
      pid: 4242,
      configFile: '/etc/kubernetes/kubelet.yaml',
      checkpointsDir: '/data/kubelet/checkpoints',
      gate: false,
      gateFrom: '/etc/kubernetes/kubelet.yaml',
    });
    addFiles(root, {
      'proc/4242/cmdline': cmdline(
        'kubelet',
        '--config=/etc/kubernetes/kubelet.yaml',
        '--feature-gates=SidecarContainers=true,ContainerCheckpoint=true',
      ),
    });
    t.match(kubeletCheckpoint(envFor(root)), {
      status: 'supported',
      message:
        'ContainerCheckpoint is on (--feature-gates of the running kubelet); checkpoints go to /var/lib/kubelet/checkpoints',
    });
  },
);

t.test('a running kubelet without a binary we can ask: the gate set decides; unset is unknown', async (t) => {
  const root = makeRoot(t, { 'proc/77/cmdline': cmdline('kubelet', '--feature-gates', 'ContainerCheckpoint=true') });
  t.match(kubeletCheckpoint(envFor(root)), { status: 'supported' });
  addFiles(root, { 'proc/77/cmdline': cmdline('kubelet') });
  t.match(kubeletCheckpoint(envFor(root)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: "ContainerCheckpoint is not set and the kubelet's version is unknown (no kubelet binary found)",
  });
  addFiles(root, { 'usr/bin/kubelet': fake('oops\n', 1) });
  t.match(kubeletCheckpoint(envFor(root)), {
    status: 'unknown',
    message: /version is unknown \(\/usr\/bin\/kubelet --version printed no version: oops\)/,
  });
});

t.test('a malformed --feature-gates or config file is unknown, naming the line', async (t) => {
  const root = makeRoot(t, {
    'usr/bin/kubelet': kubelet('v1.30.1'),
    'proc/9/cmdline': cmdline('kubelet', '--feature-gates=ContainerCheckpoint'),
  });
  t.same(kubeletCheckpoint(envFor(root)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: 'the running kubelet\'s --feature-gates: cannot read "ContainerCheckpoint"',
  });
  const bad = makeRoot(t, {
    'usr/bin/kubelet': kubelet('v1.30.1'),
    'var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\nfeatureGates:\n  ContainerCheckpoint: maybe\n',
  });
  t.same(kubeletCheckpoint(envFor(bad)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: '/var/lib/kubelet/config.yaml: line 3: cannot read "ContainerCheckpoint: maybe" as Name: true|false',
  });
});

t.test('featureGates forms: block, flow, JSON, quoted keys, comments, absent', async (t) => {
  t.same(
    readFeatureGates('a: 1\nfeatureGates:\n  # c\n\n  "ContainerCheckpoint": True # on\n  X: false\nnext: 2\n'),
    new Map([
      ['ContainerCheckpoint', true],
      ['X', false],
    ]),
  );
  t.same(
    readFeatureGates('featureGates: {ContainerCheckpoint: true, X: false}\n'),
    new Map([
      ['ContainerCheckpoint', true],
      ['X', false],
    ]),
  );
  t.same(
    readFeatureGates('{"kind": "KubeletConfiguration", "featureGates": {"ContainerCheckpoint": true}}'),
    new Map([['ContainerCheckpoint', true]]),
  );
  t.same(readFeatureGates('kind: KubeletConfiguration\n'), new Map());
  t.same(readFeatureGates('featureGates: {}\n'), new Map());
});

t.test('featureGates refusals: wrong indentation, tabs, unclosed flow, a scalar, bad JSON', async (t) => {
  t.same(readFeatureGates('featureGates:\n  A: true\n    B: true\n'), {
    error: 'line 3: unexpected indentation under featureGates',
  });
  t.same(readFeatureGates('featureGates:\n\tA: true\n'), { error: 'line 2: a tab in the indentation' });
  t.same(readFeatureGates('featureGates: {A: true\n'), {
    error: 'line 1: a featureGates {...} that does not end on its line',
  });
  t.same(readFeatureGates('featureGates: {A: 1}\n'), { error: 'line 1: cannot read "A: 1" as Name: true|false' });
  t.same(readFeatureGates('featureGates: yes\n'), { error: 'line 1: featureGates is not a mapping' });
  t.match(readFeatureGates('{"featureGates": '), { error: /^not valid JSON/ });
  t.same(readFeatureGates('{"featureGates": {"A": "true"}}'), { error: 'featureGates.A is not true or false' });
});

t.test('flags: --name=value and --name value, the last one wins; gate defaults by version', async (t) => {
  t.equal(flagValue(['--config', 'a', '--config=b'], 'config'), 'b');
  t.equal(flagValue(['-config=c'], 'config'), 'c');
  t.equal(flagValue(['--configx=1'], 'config'), undefined);
  t.same(
    parseFeatureGatesFlag('A=true, B=False'),
    new Map([
      ['A', true],
      ['B', false],
    ]),
  );
  t.equal(gateDefault(parseVersion('v1.24.0')!), 'absent');
  t.equal(gateDefault(parseVersion('v1.25.0')!), false);
  t.equal(gateDefault(parseVersion('v1.30.0')!), true);
});
