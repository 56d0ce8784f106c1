// A full run of the real catalogue leaves nothing behind: no process, mount,
// network device, named namespace or nftables table, even when probes are
// killed part-way by their timeout.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { ProbeEngine } from '../src/engine/engine.js';
import { FEATURE_NAMES } from '../src/catalogue.js';

const MAKERS = [
  'ptrace_peeksiginfo',
  'special_mapping_mremap',
  'seccomp_filters',
  'breakpoints',
  'compat_cr',
  'clone_parent_vs_pid',
  'link_nsid',
  'network_lock_nftables',
  'has_ipt_legacy',
  'overlayfs_maps',
  'autofs',
  'move_mount_set_group',
  'tcp_half_closed',
  'tun',
  'tun_ns',
  'aio_remap',
];

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return `(${command} unavailable)`;
  }
}

function processes(): { pid: number; ppid: number; state: string; cmdline: string }[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ');
        return [{ pid: Number(pid), ppid: Number(ppid), state, cmdline }];
      } catch {
        return [];
      }
    });
}

function snapshot() {
  return {
    mounts: readFileSync('/proc/self/mountinfo', 'latin1')
      .split('\n')
      .map((l) => l.split(' ').slice(4, 5).join(' '))
      .sort(),
    links: run('ip', ['-o', 'link', 'show'])
      .split('\n')
      .map((l) => l.split(':')[1]?.trim())
      .filter(Boolean)
      .sort(),
    namedNetns: existsSync('/run/netns') ? readdirSync('/run/netns').sort() : [],
    nftTables: run('nft', ['list', 'tables']),
    children: readFileSync(`/proc/self/task/${process.pid}/children`, 'latin1').trim(),
  };
}

/**
 * New processes that are ours (children of this process, which is the
 * engine) or orphans handed to init: zombies, stopped tracees, runners.
 */
function strayProcesses(before: Set<number>) {
  return processes().filter(
    (p) =>
      !before.has(p.pid) &&
      (p.ppid === process.pid || (p.ppid === 1 && (/^[Zt]$/.test(p.state) || p.cmdline.includes('runner-main')))),
  );
}

t.test('a full run leaves the host as it found it', async (t) => {
  const pidsBefore = new Set(processes().map((p) => p.pid));
  const before = snapshot();
  const engine = new ProbeEngine();
  const results = await engine.run(FEATURE_NAMES);
  await engine.close();
  t.equal(results.length, FEATURE_NAMES.length);
  t.same(snapshot(), before);
  t.same(strayProcesses(pidsBefore), []);
});

t.test('a run whose probes are killed part-way by their timeout leaves nothing behind either', async (t) => {
  const pidsBefore = new Set(processes().map((p) => p.pid));
  const before = snapshot();
  // A 2 ms limit kills every slower probe wherever it happens to be; these
  // are the probes that start processes or make namespaces, mounts and devices.
  // The same limit bounds the runner's silence between probes, so on a busy
  // machine a run can end with its runner replaced before any probe started:
  // such a run cut nothing short, and another is made (a bounded number: under
  // the whole suite's load five in a row have been seen to end so).
  let cutShort = 0;
  for (let attempt = 0; attempt < 20 && cutShort === 0; attempt++) {
    const engine = new ProbeEngine({ probeTimeoutMs: 2 });
    const results = await engine.run(MAKERS);
    await engine.close();
    t.equal(results.length, MAKERS.length);
    cutShort = results.filter((r) => r.outcome.reason === 'Timeout').length;
  }
  t.ok(cutShort > 0, 'some probes were cut short');
  t.same(snapshot(), before);
  t.same(strayProcesses(pidsBefore), []);
});
