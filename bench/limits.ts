/**
 * Resident memory the service must stay under, in MiB: under load in the
 * bench, and under attack in test/attack.test.ts. Its V8 heap limit (about
 * 76 MiB with package.json's serviceNodeOptions) and what Node holds besides,
 * with room to spare under the DaemonSet's memory limit.
 */
export const RSS_LIMIT_MIB = 120;
