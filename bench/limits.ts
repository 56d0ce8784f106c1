/**
 * The memory bounds the bench and the attack tests hold the service to, in
 * MiB; the DaemonSet's request and limit (deploy/base/daemonset.yaml) are set
 * from them.
 */

/** Memory charged to the service's cgroup (service and runner) at idle, after the first run and a few refreshes. */
export const IDLE_CHARGE_TARGET_MIB = 64;

/** Memory charged to the service's cgroup at the peak of the bench's load and of its attack round. */
export const LOAD_CHARGE_TARGET_MIB = 96;

/**
 * Resident memory of the HTTP process alone under attack (test/attack.test.ts,
 * where no cgroup is made): its V8 heap limit (about 76 MiB with
 * package.json's serviceNodeOptions) and what Node holds besides, file pages
 * it shares included, with room to spare under the DaemonSet's limit.
 */
export const RSS_LIMIT_MIB = 120;
