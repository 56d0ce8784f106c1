// The runtime checks, described the way the catalogue describes a kernel
// feature, for whoever wires them into the catalogue (a 'checkpoint' level),
// the CLI, HTTP, metrics and NFD. Category 'runtime' is new: these ask the
// userspace chain (criu, runc/crun, containerd/CRI-O, kubelet, disk), not
// the kernel.
import type { ProbeOutcome } from '../../model.js';
import { criuCanary } from './canary.js';
import { criCheckpoint } from './cri.js';
import { CRIU_PACKAGE_HINT, criuBinary, criuRuns, criuVersion } from './criu.js';
import { kubeletCheckpoint } from './kubelet.js';
import { CRUN_HINT, ociRuntime } from './oci.js';
import { checkpointStorage } from './storage.js';

export interface RuntimeCheck {
  name: string;
  category: 'runtime';
  summary: string;
  hint: string;
  needs?: string;
  probe: () => ProbeOutcome;
}

export const RUNTIME_CHECKS: readonly RuntimeCheck[] = [
  { name: 'criu_binary', category: 'runtime', summary: 'criu on PATH or in /usr/local/sbin, /usr/sbin, /usr/bin, /sbin, /bin (or $CRIU), an executable file', hint: CRIU_PACKAGE_HINT, probe: () => criuBinary() },
  { name: 'criu_version', category: 'runtime', summary: 'criu --version at least 3.0, the oldest runc accepts (containerd needs 3.16)', hint: 'install a newer criu (3.16 or later for containerd and podman pods)', probe: () => criuVersion() },
  { name: 'criu_runs', category: 'runtime', summary: "the installed criu's own criu check says Looks good.", hint: 'install a criu newer than the kernel (an old criu cannot start on a new kernel)', needs: 'root or CAP_SYS_ADMIN for criu', probe: () => criuRuns() },
  { name: 'criu_canary', category: 'runtime', summary: 'criu dumps a canary process tree into a private directory and restores it with the same pids', hint: 'see the message: the first error criu logged', needs: 'root or CAP_SYS_ADMIN; becomes a child subreaper for the duration', probe: () => criuCanary() },
  { name: 'oci_runtime', category: 'runtime', summary: 'the OCI runtime podman, containerd and CRI-O use (runc, crun) can checkpoint', hint: `${CRUN_HINT}; for podman set [engine] runtime = "runc" in containers.conf`, probe: () => ociRuntime() },
  { name: 'cri_checkpoint', category: 'runtime', summary: 'containerd 2.0+ (enable_criu from 2.4) or CRI-O with enable_criu_support can checkpoint for the kubelet', hint: 'containerd 2.0 or later with criu 3.16+, or CRI-O with enable_criu_support = true in [crio.runtime]', probe: () => criCheckpoint() },
  { name: 'kubelet_checkpoint', category: 'runtime', summary: "the kubelet's ContainerCheckpoint feature gate is on (default from 1.30)", hint: 'featureGates: {ContainerCheckpoint: true} in the KubeletConfiguration, or --feature-gates=ContainerCheckpoint=true', needs: "the host's /proc (at $CRIU_READINESS_HOST_ROOT/proc) to read a running kubelet's flags", probe: () => kubeletCheckpoint() },
  { name: 'checkpoint_storage', category: 'runtime', summary: 'the checkpoint directory is writable with at least CRIU_READINESS_CHECKPOINT_MIN_FREE (10 GiB) free', hint: 'free space or mount a larger filesystem at the checkpoint directory', needs: 'write access to the directory (a test file is created and removed)', probe: () => checkpointStorage() },
];

export const RUNTIME_CHECK_NAMES = RUNTIME_CHECKS.map((c) => c.name);

export { criuCanary, criCheckpoint, criuBinary, criuRuns, criuVersion, kubeletCheckpoint, ociRuntime, checkpointStorage };
export { readCriuVersion, criuFeatureVerdicts, runCriuCheck, type CriuVersion, type CriuFeatureReport, type CriuFeatureVerdict, type CriuCheckResult } from './criu.js';
export { inspectOci, type OciReport } from './oci.js';
export { inspectCriRuntimes, type CriRuntimeReport } from './cri.js';
export { inspectKubelet, type KubeletReport } from './kubelet.js';
export { hostPath, runtimeEnv, type RuntimeEnv } from './host.js';
