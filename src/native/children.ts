// Helper processes that probes start (tracees, programs) are announced here.
// The runner wires this to its channel, so that the engine can kill and reap
// them should the runner die; called outside a runner, nothing listens.

export interface ChildWatcher {
  spawned(pid: number): void;
  reaped(pid: number): void;
}

let watcher: ChildWatcher | undefined;

export function watchChildren(next: ChildWatcher): void {
  watcher = next;
}

export function childSpawned(pid: number): void {
  watcher?.spawned(pid);
}

export function childReaped(pid: number): void {
  watcher?.reaped(pid);
}
