// The runtime checks' probes and the helpers the service uses to read criu.
// Their names, summaries and hints are rows of the catalogue (category
// 'runtime'): these ask the userspace chain (criu, runc/crun,
// containerd/CRI-O, kubelet, disk), not the kernel.
export { criuCanary } from './canary.js';
export { criCheckpoint, inspectCriRuntimes, type CriRuntimeReport } from './cri.js';
export { CRIU_PACKAGE_HINT, criuBinary, criuRuns, criuVersion, readCriuVersion, criuFeatureVerdicts, runCriuCheck, type CriuVersion, type CriuFeatureReport, type CriuFeatureVerdict, type CriuCheckResult } from './criu.js';
export { kubeletCheckpoint, inspectKubelet, type KubeletReport } from './kubelet.js';
export { CRUN_HINT, ociRuntime, inspectOci, type OciReport } from './oci.js';
export { checkpointStorage } from './storage.js';
export { hostPath, runtimeEnv, type RuntimeEnv } from './host.js';
