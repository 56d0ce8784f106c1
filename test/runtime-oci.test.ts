// oci_runtime: runc and crun found and asked, who is configured to use
// which (podman, containerd, CRI-O); Debian's real runc 1.1.5 and crun 1.8.1
// (unpacked, never installed) for their real --version.
import t from 'tap';
import { join } from 'node:path';
import { inspectCrun, inspectOci, inspectRunc, ociRuntime } from '../src/probes/runtime/oci.js';
import { addFiles, debianPackage, envFor, fake, makeRoot } from './helpers/hostroot.js';

const RUNC = fake(
  'runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n',
);
const CRUN_NO_CRIU = fake(
  'crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n',
);
const CRUN_CRIU = fake(
  'crun version 1.29\ncommit: ba38286f\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +CRIU +WASM:wasmedge +JSON_C\n',
);

t.test('no runc, no crun, nothing configured: not applicable (supported, NotApplicable)', async (t) => {
  t.same(ociRuntime(envFor(makeRoot(t))), {
    status: 'supported',
    reason: 'NotApplicable',
    message: 'no OCI runtime (runc, crun) is installed: nothing to checkpoint containers with',
  });
});

t.test('runc alone, nothing configured: supported, with its version', async (t) => {
  const root = makeRoot(t, { 'usr/sbin/runc': RUNC });
  t.same(ociRuntime(envFor(root)), {
    status: 'supported',
    reason: 'Supported',
    message: 'runc 1.1.5+ds1 has checkpoint and restore',
  });
  t.match(inspectRunc(envFor(root)), {
    installed: true,
    binary: '/usr/sbin/runc',
    version: '1.1.5+ds1',
    canCheckpoint: true,
  });
});

t.test('crun without +CRIU alone: unsupported, hint to use runc or a crun built with CRIU', async (t) => {
  const root = makeRoot(t, { 'usr/bin/crun': CRUN_NO_CRIU });
  t.same(ociRuntime(envFor(root)), {
    status: 'unsupported',
    reason: 'MissingDependency',
    message: 'crun 1.8.1 is built without CRIU (no +CRIU in crun --version); use runc, or a crun built with CRIU',
  });
});

t.test('crun with +CRIU needs libcriu.so.2 too', async (t) => {
  const root = makeRoot(t, { 'usr/bin/crun': CRUN_CRIU });
  t.match(inspectCrun(envFor(root)), {
    canCheckpoint: false,
    why: 'crun 1.29 has +CRIU but libcriu.so.2 is not installed (package libcriu2 or criu)',
  });
  addFiles(root, { 'usr/lib/x86_64-linux-gnu/libcriu.so.2': '' });
  t.match(inspectCrun(envFor(root)), {
    canCheckpoint: true,
    features: ['+SYSTEMD', '+SELINUX', '+APPARMOR', '+CAP', '+SECCOMP', '+EBPF', '+CRIU', '+WASM:wasmedge', '+JSON_C'],
  });
});

t.test(
  'a runtime that prints no version, or cannot run, is not known to checkpoint: unknown, not unsupported',
  async (t) => {
    const root = makeRoot(t, { 'usr/bin/crun': fake('oops\n', 1), 'usr/sbin/runc': fake('what\n') });
    t.match(inspectCrun(envFor(root)), {
      canCheckpoint: false,
      why: '/usr/bin/crun --version printed no version: oops',
    });
    t.match(inspectRunc(envFor(root)), {
      canCheckpoint: false,
      why: '/usr/sbin/runc --version printed no version: what',
    });
    // A seccomp filter or a crash can stop a runtime's --version: that tells nothing of its checkpointing.
    t.match(ociRuntime(envFor(root)), { status: 'unknown', reason: 'UnexpectedResult' });
    const killed = makeRoot(t, { 'usr/bin/crun': { script: 'kill -9 $$' } });
    t.match(inspectCrun(envFor(killed)), { canCheckpoint: false, why: /killed by signal 9/ });
  },
);

t.test("podman configured to use crun (containers.conf.d) without +CRIU: unsupported in podman's words", async (t) => {
  const root = makeRoot(
    t,
    { 'usr/bin/podman': fake(''), 'usr/bin/crun': CRUN_NO_CRIU, 'usr/sbin/runc': RUNC },
    'podman',
  );
  const outcome = ociRuntime(envFor(root));
  t.match(outcome, { status: 'unsupported', reason: 'MissingDependency' });
  t.equal(
    outcome.message,
    'podman uses crun (/etc/containers/containers.conf.d/50-runtime.conf): crun 1.8.1 is built without CRIU (no +CRIU in crun --version) (podman: "configured runtime does not support checkpoint/restore"); use runc, or a crun built with CRIU',
  );
});

t.test('podman with runtime unset takes crun first, then runc (containers/common findRuntime)', async (t) => {
  const root = makeRoot(t, { 'usr/bin/podman': fake(''), 'usr/sbin/runc': RUNC });
  t.same(inspectOci(envFor(root)).choices, [
    { engine: 'podman', runtime: 'runc', from: "podman's default (the first installed of crun, runc)" },
  ]);
  addFiles(root, { 'usr/bin/crun': CRUN_NO_CRIU });
  t.equal(inspectOci(envFor(root)).choices[0].runtime, 'crun');
});

t.test('podman configured to use runc by path: supported', async (t) => {
  const root = makeRoot(t, {
    'usr/bin/podman': fake(''),
    'usr/sbin/runc': RUNC,
    'etc/containers/containers.conf': '[engine]\nruntime = "/usr/sbin/runc"\n',
  });
  t.match(ociRuntime(envFor(root)), {
    status: 'supported',
    message: 'podman uses /usr/sbin/runc (/etc/containers/containers.conf): runc 1.1.5+ds1 has checkpoint and restore',
  });
});

t.test('a configured runtime that is not installed, or unknown to the check', async (t) => {
  const root = makeRoot(t, {
    'usr/bin/podman': fake(''),
    'usr/sbin/runc': RUNC,
    'etc/containers/containers.conf': '[engine]\nruntime = "crun"\n',
  });
  t.match(ociRuntime(envFor(root)), {
    status: 'unsupported',
    message: /podman uses crun \(\/etc\/containers\/containers.conf\), which is not installed/,
  });
  addFiles(root, { 'etc/containers/containers.conf': '[engine]\nruntime = "kata"\n' });
  t.match(ociRuntime(envFor(root)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: /podman uses kata .* which this check does not know/,
  });
});

t.test('a malformed containers.conf is unknown, naming the file and line', async (t) => {
  const root = makeRoot(t, {
    'usr/bin/podman': fake(''),
    'usr/sbin/runc': RUNC,
    'etc/containers/containers.conf': '[engine]\nruntime = crun\n',
  });
  t.same(ociRuntime(envFor(root)), {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message:
      'a container engine\'s configuration cannot be read: /etc/containers/containers.conf: line 2: cannot read the value "crun" (a string needs quotes)',
  });
  addFiles(root, { 'etc/containers/containers.conf': '[engine]\nruntime = 3\n' });
  t.match(ociRuntime(envFor(root)), { status: 'unknown', message: /\[engine\] runtime is not a string/ });
});

t.test("containerd's runtime: the default runc shim, or the BinaryName of its default runtime", async (t) => {
  const root = makeRoot(
    t,
    { 'usr/bin/containerd': fake(''), 'usr/sbin/runc': RUNC, 'usr/bin/crun': CRUN_NO_CRIU },
    'containerd-2',
  );
  t.same(inspectOci(envFor(root)).choices, [
    { engine: 'containerd', runtime: 'runc', from: '/etc/containerd/config.toml' },
  ]);
  addFiles(root, {
    'etc/containerd/conf.d/20-crun.toml':
      "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\nBinaryName = '/usr/bin/crun'\n",
  });
  t.match(ociRuntime(envFor(root)), {
    status: 'unsupported',
    message:
      /^containerd uses \/usr\/bin\/crun \(\/etc\/containerd\/conf.d\/20-crun.toml\): crun 1.8.1 is built without CRIU/,
  });
  const bare = makeRoot(t, { 'usr/bin/containerd': fake(''), 'usr/sbin/runc': RUNC });
  t.same(inspectOci(envFor(bare)).choices, [
    { engine: 'containerd', runtime: 'runc', from: "containerd's default (the runc shim)" },
  ]);
});

t.test("CRI-O's runtime: default_runtime and its runtime_path; unset is not guessed", async (t) => {
  const root = makeRoot(t, { 'usr/bin/crio': fake(''), 'usr/sbin/runc': RUNC }, 'crio');
  t.same(inspectOci(envFor(root)).choices, [
    { engine: 'CRI-O', runtime: '/usr/sbin/runc', from: '/etc/crio/crio.conf' },
  ]);
  const unset = makeRoot(t, { 'usr/bin/crio': fake(''), 'usr/sbin/runc': RUNC });
  t.same(inspectOci(envFor(unset)).choices, []);
  const broken = makeRoot(t, {
    'usr/bin/crio': fake(''),
    'usr/bin/containerd': fake(''),
    'etc/crio/crio.conf': '[crio.runtime\n',
    'etc/containerd/config.toml': 'version = \n',
  });
  t.match(inspectOci(envFor(broken)).errors, [/config.toml: line 1/, /crio.conf: line 1/]);
});

const RUNC_DEB = debianPackage('runc');
const CRUN_DEB = debianPackage('crun');
t.test(
  "Debian 12's runc 1.1.5 and crun 1.8.1: real --version output; crun has no +CRIU",
  { skip: ('skip' in RUNC_DEB && RUNC_DEB.skip) || ('skip' in CRUN_DEB && CRUN_DEB.skip) },
  async (t) => {
    if ('skip' in RUNC_DEB || 'skip' in CRUN_DEB) return;
    const env = envFor('/', { path: `${join(RUNC_DEB.dir, 'usr/sbin')}:${join(CRUN_DEB.dir, 'usr/bin')}` });
    const runc = inspectRunc(env);
    const crun = inspectCrun(env);
    t.match(runc, { version: '1.1.5+ds1', canCheckpoint: true });
    t.match(crun, {
      version: '1.8.1',
      canCheckpoint: false,
      why: 'crun 1.8.1 is built without CRIU (no +CRIU in crun --version)',
    });
    t.ok(crun.features?.includes('+SECCOMP'), 'its feature line was read');
  },
);

t.test(
  "podman configured to use a runc that crashes on --version: unknown, without podman's words for a runtime that cannot",
  async (t) => {
    const root = makeRoot(t, {
      'usr/bin/podman': fake(''),
      'usr/sbin/runc': { script: 'kill -11 $$' },
      'etc/containers/containers.conf': '[engine]\nruntime = "runc"\n',
    });
    const outcome = ociRuntime(envFor(root));
    t.match(outcome, { status: 'unknown', reason: 'UnexpectedResult', message: /killed by signal 11/ });
    t.notMatch(outcome.message, /does not support checkpoint/);
  },
);
