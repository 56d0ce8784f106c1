// The runtime chain's deploy components as an operator composes them: the
// host's / read-only (runtime-chain) and, with full fidelity only, the host's
// PID namespace and mount namespace for the host's criu (runtime-chain/host-criu).
import t from 'tap';
import { build, canonical, composed, daemonSet, getField, realKustomize, type JsonObject } from './helpers/deploy.js';

const HOST_CRIU = ['full-fidelity', 'runtime-chain', 'runtime-chain/host-criu'];

function service(dir: string) {
  const { pod, containers } = daemonSet(build(dir));
  const container = containers.get('criu-readiness') as JsonObject;
  const env = new Map((container.env as JsonObject[]).map((e) => [e.name, e.value]));
  return { pod, container, env };
}

t.test(
  "host-criu after full fidelity and the runtime chain: the host's PID namespace, its init's mount namespace named, the host's / still read-only",
  async (t) => {
    const { pod, container, env } = service(composed(t, HOST_CRIU));
    t.equal(pod.hostPID, true, "/proc/1 is the host's init");
    t.equal(env.get('CRIU_READINESS_HOST_MOUNT_NS'), '/proc/1/ns/mnt');
    t.equal(env.get('CRIU_READINESS_HOST_ROOT'), '/host');
    t.equal(getField(container, 'securityContext.privileged'), true, 'setns into a mount namespace and criu need it');
    const root = (container.volumeMounts as JsonObject[]).find((m) => m.mountPath === '/host');
    t.equal(root?.readOnly, true);
    t.notOk(pod.hostNetwork, 'no host network');
    t.notOk(pod.hostIPC, 'no host IPC');
  },
);

t.test('without host-criu, the runtime chain takes no host namespace and names no mount namespace', async (t) => {
  const { pod, env } = service(composed(t, ['full-fidelity', 'runtime-chain']));
  t.notOk(pod.hostPID);
  t.notOk(env.has('CRIU_READINESS_HOST_MOUNT_NS'));
});

t.test('host-criu resolves as the real kustomize resolves it', async (t) => {
  const dir = composed(t, HOST_CRIU);
  const real = realKustomize(dir);
  if (!real) {
    t.comment('SKIP: kubectl is not installed: compared with the test resolver only');
    return;
  }
  t.same(canonical(build(dir)), canonical(real));
});
