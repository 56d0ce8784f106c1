// The least-privilege profile, measured: the CLI runs as root with exactly
// the capabilities the built manifest grants, /proc/sys read-only and no
// /dev/net/tun (what a non-privileged container gets), and its verdicts are
// compared with full privileges. The capabilities and the checks that
// answer unknown are the ones deploy/README.md documents.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOGUE } from '../src/catalogue.js';
import type { Status } from '../src/model.js';
import { DEPLOY, ROOT, build, daemonSet, getField, type JsonObject } from './helpers/deploy.js';
import { TS_LOADER } from './helpers/node.js';
import { readUnanswerable } from '../scripts/prometheusrule.js';

/** The checks each added capability makes possible (deploy/README.md's table). */
const NEEDS: Record<string, readonly string[]> = {
  NET_ADMIN: [
    'tcp_repair',
    'tcp_window',
    'tcp_half_closed',
    'sk_ns',
    'newifindex',
    'network_lock_nftables',
    'tun_ns',
    'sk_unix_file',
    'link_nsid',
  ],
  NET_RAW: ['net_diag_raw'],
  SYS_ADMIN: [
    'seccomp_suspend',
    'seccomp_filters',
    'clone_parent_vs_pid',
    'move_mount_set_group',
    'overlayfs_maps',
    'autofs',
    'link_nsid',
    'network_lock_nftables',
  ],
  SYS_PTRACE: ['uffd', 'uffd-noncoop'],
  DAC_OVERRIDE: ['overlayfs_maps'],
};

/**
 * What no non-privileged container can check (read-only /proc/sys, no
 * /dev/net/tun): deploy/prometheus/unanswerable.yaml's least-privilege entries,
 * but those the runtime's seccomp profile refuses (not applied here).
 */
const CONTAINER_LIMITS: Record<string, string> = Object.fromEntries(
  Object.entries(readUnanswerable()['least-privilege']).filter(([, why]) => why !== 'seccomp'),
);

const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
const { containers } = daemonSet(build(join(DEPLOY, 'overlays', 'least-privilege')));
const granted = getField(
  containers.get('criu-readiness')! as JsonObject,
  'securityContext.capabilities.add',
) as string[];

t.test('the README documents each granted capability with the checks it is for', async (t) => {
  t.same([...granted].sort(), Object.keys(NEEDS).sort());
  const names = new Set(CATALOGUE.map((f) => f.name));
  for (const [cap, checks] of Object.entries(NEEDS)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| CAP_${cap} |`));
    t.ok(row, `a row for CAP_${cap}`);
    const listed = [...(row ?? '').matchAll(/[a-z][a-z0-9_-]+/g)].map((m) => m[0]).filter((w) => names.has(w));
    t.same([...new Set(listed)].sort(), [...checks].sort(), `CAP_${cap}`);
  }
  t.same(Object.keys(CONTAINER_LIMITS).sort(), ['ipc', 'ns_last_pid', 'tun', 'tun_cr', 'tun_ns']);
  for (const [check, reason] of Object.entries(CONTAINER_LIMITS))
    t.match(readme, new RegExp(`\\|[^\\n]*\\b${check}\\b[^\\n]*\\| ${reason} \\|`), `${check}: ${reason}`);
});

type Verdicts = Map<string, { status: Status; reason: string }>;

/**
 * `criu-readiness check --all --json` as root in a private mount namespace
 * with /proc/sys read-only and /dev/net empty, keeping only `capabilities`
 * (all of them when undefined).
 */
function check(capabilities: readonly string[] | undefined): Verdicts {
  const cli = [process.execPath, ...TS_LOADER, join(ROOT, 'src', 'cli.ts'), 'check', '--all', '--json'];
  const limit = capabilities
    ? [
        'setpriv',
        `--bounding-set=-all${capabilities.map((c) => `,+${c.toLowerCase()}`).join('')}`,
        '--inh-caps=-all',
        '--',
      ]
    : [];
  const script = [
    'set -e',
    'mount --make-rprivate /',
    'mount --bind /proc/sys /proc/sys',
    'mount -o remount,bind,ro /proc/sys',
    'if [ -d /dev/net ]; then mount -t tmpfs none /dev/net; fi',
    'exec "$@"',
  ].join('\n');
  const argv = capabilities ? ['unshare', '-m', 'sh', '-c', script, 'sh', ...limit, ...cli] : cli;
  const run = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (![0, 1, 2].includes(run.status ?? -1)) throw new Error(`check failed (${run.status}): ${run.stderr}`);
  const verdict = JSON.parse(run.stdout) as { features: { name: string; status: Status; reason: string }[] };
  return new Map(verdict.features.map((f) => [f.name, { status: f.status, reason: f.reason }]));
}

const NOT_ROOT = process.getuid?.() !== 0 && 'needs root to limit capabilities and remount /proc/sys';

t.test(
  'with the granted capabilities, only what a container cannot have is unknown',
  { skip: NOT_ROOT, timeout: 300_000 },
  async (t) => {
    const full = check(undefined);
    const least = check(granted);
    for (const feature of CATALOGUE) {
      const root = full.get(feature.name)!;
      const limited = least.get(feature.name)!;
      if (feature.name in CONTAINER_LIMITS) {
        // Without the device or a writable /proc/sys there is nothing to test; never "supported".
        t.not(limited.status, 'supported', `${feature.name} cannot be checked here`);
        if (root.status === 'supported') t.equal(limited.reason, CONTAINER_LIMITS[feature.name], feature.name);
        continue;
      }
      // loginuid needs CAP_AUDIT_CONTROL only once a login UID is set (README).
      if (feature.name === 'loginuid' && readFileSync('/proc/self/loginuid', 'utf8').trim() !== '4294967295') continue;
      t.same(limited, root, `${feature.name}: as with full privileges`);
    }
  },
);

t.test(
  'each granted capability is needed: without it, its checks answer unknown',
  { skip: NOT_ROOT, timeout: 600_000 },
  async (t) => {
    const full = check(undefined);
    for (const [cap, checks] of Object.entries(NEEDS)) {
      const provable = checks.filter((name) => full.get(name)?.status === 'supported' && !(name in CONTAINER_LIMITS));
      if (provable.length === 0) {
        t.comment(
          `CAP_${cap}: none of ${checks.join(', ')} is supported by this kernel; its need is not measurable here`,
        );
        continue;
      }
      const without = check(granted.filter((c) => c !== cap));
      for (const name of provable)
        t.same(without.get(name), { status: 'unknown', reason: 'PermissionDenied' }, `without CAP_${cap}: ${name}`);
    }
  },
);
