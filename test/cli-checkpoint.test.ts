// `criu-readiness check --checkpoint` end to end, through the real runner:
// this machine as it is, Debian's criu 3.17.1, a working criu 4.2, and
// fixture host roots given through CRIU_READINESS_HOST_ROOT.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, runtimeEnv } from '../src/probes/runtime/host.js';
import { debianPackage, fake, makeRoot, workingCriu } from './helpers/hostroot.js';
import { TS_LOADER } from './helpers/node.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI with `env` added to ours, minus any CRIU or host root of ours. */
function run(args: string[], env: Record<string, string> = {}): Run {
  const base = { ...process.env };
  delete base.CRIU;
  delete base.CRIU_READINESS_HOST_ROOT;
  const r = spawnSync(process.execPath, [...TS_LOADER, cli, ...args], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...base, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Verdict {
  name: string;
  status: string;
  reason: string;
  message: string;
  hint: string;
}

function feature(r: Run): Verdict {
  return JSON.parse(r.stdout) as Verdict;
}

const IS_ROOT = process.geteuid?.() === 0;
const localCriu = findExecutable('criu', runtimeEnv({ PATH: process.env.PATH }));

t.test(
  'check --checkpoint with no criu installed: exit 1, criu_binary unsupported, the package in the hint',
  { skip: localCriu ? `criu is installed here (${localCriu.hostPath})` : false },
  async (t) => {
    const r = run(['check', '--checkpoint']);
    t.equal(r.status, 1, r.stderr);
    t.match(
      r.stderr,
      /^Error \(criu_binary\): criu is not installed: .*\[hint: install criu \(package "criu" on Debian, Ubuntu and Fedora\)/m,
    );
    t.match(r.stderr, /^Error \(criu_version\): needs criu, which is not installed \(see criu_binary\)/m);
    t.match(r.stdout, /^Does not look good\.\ncriu: not installed\n$/);
  },
);

t.test(
  "check without options keeps CRIU's meaning: the runtime chain is not checked",
  { skip: localCriu ? `criu is installed here (${localCriu.hostPath})` : false },
  async (t) => {
    const r = run(['check']);
    t.notMatch(r.stderr, /criu_binary/);
    t.notMatch(r.stdout, /^criu/m);
  },
);

const DEBIAN_CRIU = debianPackage('criu');

t.test(
  "CRIU=Debian 12's criu 3.17.1: criu_runs says it cannot start on this kernel",
  { skip: 'skip' in DEBIAN_CRIU ? DEBIAN_CRIU.skip : !IS_ROOT && 'criu check needs root' },
  async (t) => {
    if ('skip' in DEBIAN_CRIU) return;
    const criu = join(DEBIAN_CRIU.dir, 'usr/sbin/criu');
    const r = run(['check', '--feature', 'criu_runs', '--json'], { CRIU: criu });
    const v = feature(r);
    if (v.status === 'supported') {
      t.comment(
        `SKIP: Debian's criu 3.17.1 starts on this kernel (${v.message}); the "cannot start" case does not arise here`,
      );
      return;
    }
    t.match(v, {
      status: 'unsupported',
      reason: 'MissingDependency',
      message: /^the installed criu cannot start on this kernel: /,
    });
    t.equal(r.status, 1);
    const level = run(['check', '--checkpoint'], { CRIU: criu });
    t.match(level.stdout, /^Does not look good\.\ncriu 3\.17\.1 at .*criu-3\.17\.1\/usr\/sbin\/criu\n$/);
  },
);

// $CRIU, or a criu on PATH that starts on this kernel (e.g. CRIU=/opt/criu-4.2/criu, built from source).
const WORKING = workingCriu();

t.test(
  'CRIU=a working criu: the canary is dumped and restored',
  { skip: 'skip' in WORKING ? WORKING.skip : !IS_ROOT && 'the canary needs root' },
  async (t) => {
    if ('skip' in WORKING) return;
    const v = feature(run(['check', '--feature', 'criu_canary', '--json'], { CRIU: WORKING.criu }));
    t.match(v, { status: 'supported', message: /dumped a canary process tree and restored it: it runs again$/ });
  },
);

t.test(
  'CRIU=a working criu: the checkpoint level names it and compares its verdicts with ours',
  { skip: 'skip' in WORKING ? WORKING.skip : !IS_ROOT && 'criu check needs root' },
  async (t) => {
    if ('skip' in WORKING) return;
    const r = run(['check', '--checkpoint', '--json'], { CRIU: WORKING.criu });
    const body = JSON.parse(r.stdout) as { criu: unknown; criuDisagreements: unknown[] };
    t.match(body.criu, { version: /^\d+\.\d+/, path: WORKING.criu });
    t.ok(Array.isArray(body.criuDisagreements));
  },
);

const containerd = (v: string) =>
  fake(`containerd github.com/containerd/containerd/v2 ${v} 301026e58c619e63d09c0ec411012e54c0124b03\n`);
/** A kubelet's configuration file: a Kubernetes node, where cri_checkpoint applies. */
const KUBELET_CONFIG = { 'var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\n' };

t.test('host root: containerd 2.4 with enable_criu = false in an import: unsupported, Disabled, exit 1', async (t) => {
  const root = makeRoot(
    t,
    { ...KUBELET_CONFIG, 'usr/bin/containerd': containerd('v2.4.0'), 'usr/sbin/criu': fake('Version: 4.2\n') },
    'containerd-2',
  );
  const r = run(['check', '--feature', 'cri_checkpoint', '--json'], { CRIU_READINESS_HOST_ROOT: root });
  t.match(feature(r), {
    status: 'unsupported',
    reason: 'Disabled',
    message: 'containerd v2.4.0: enable_criu = false in /etc/containerd/conf.d/10-criu.toml',
  });
  t.equal(r.status, 1);
});

t.test('host root: a malformed containerd config is a clear unknown (exit 2), never a crash', async (t) => {
  const root = makeRoot(t, {
    ...KUBELET_CONFIG,
    'usr/bin/containerd': containerd('v2.4.0'),
    'usr/sbin/criu': fake('Version: 4.2\n'),
    'etc/containerd/config.toml': "version = 3\n[plugins.'io.containerd.cri.v1.runtime'\n",
  });
  const r = run(['check', '--feature', 'cri_checkpoint', '--json'], { CRIU_READINESS_HOST_ROOT: root });
  t.match(feature(r), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: /^containerd's configuration cannot be read: \/etc\/containerd\/config\.toml: line 2: /,
  });
  t.equal(r.status, 2);
});

t.test('host root: a malformed CRI-O drop-in is a clear unknown', async (t) => {
  const root = makeRoot(t, {
    ...KUBELET_CONFIG,
    'usr/bin/crio': fake('crio version 1.30.1\n'),
    'usr/sbin/criu': fake('Version: 4.2\n'),
    'etc/crio/crio.conf.d/99-bad.conf': '[crio.runtime]\nenable_criu_support = yes\n',
  });
  const r = run(['check', '--feature', 'cri_checkpoint', '--json'], { CRIU_READINESS_HOST_ROOT: root });
  t.match(feature(r), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: /^CRI-O's configuration cannot be read: \/etc\/crio\/crio\.conf\.d\/99-bad\.conf: line 2: /,
  });
  t.equal(r.status, 2);
});

t.test('host root: a malformed kubelet config is a clear unknown; the kubeadm fixture turns the gate on', async (t) => {
  const bad = makeRoot(t, {
    'usr/bin/kubelet': fake('Kubernetes v1.30.1\n'),
    'var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\nfeatureGates:\n  ContainerCheckpoint: maybe\n',
  });
  const r = run(['check', '--feature', 'kubelet_checkpoint', '--json'], { CRIU_READINESS_HOST_ROOT: bad });
  t.match(feature(r), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: /^\/var\/lib\/kubelet\/config\.yaml: line 3: /,
  });
  t.equal(r.status, 2);
  const good = makeRoot(t, { 'usr/bin/kubelet': fake('Kubernetes v1.29.4\n') }, 'kubelet');
  t.match(feature(run(['check', '--feature', 'kubelet_checkpoint', '--json'], { CRIU_READINESS_HOST_ROOT: good })), {
    status: 'supported',
    message: /^ContainerCheckpoint is on/,
  });
});

t.test("host root: the host's criu is found and its version read, but not run as a check", async (t) => {
  const root = makeRoot(t, {
    'usr/sbin/criu': { script: '[ "$1" = --version ] && { echo "Version: 4.2"; exit 0; }\necho "Looks good."' },
  });
  const r = run(['check', '--checkpoint', '--json'], { CRIU_READINESS_HOST_ROOT: root });
  const body = JSON.parse(r.stdout) as { criu: unknown; features: Verdict[] };
  t.same(body.criu, { version: '4.2', path: '/usr/sbin/criu' });
  const byName = new Map(body.features.map((f) => [f.name, f]));
  t.match(byName.get('criu_binary'), { status: 'supported', message: 'criu at /usr/sbin/criu' });
  for (const name of ['criu_runs', 'criu_canary']) {
    t.match(
      byName.get(name),
      { status: 'unknown', reason: 'PermissionDenied', message: /^cannot run the host's criu from a container: / },
      name,
    );
  }
});
