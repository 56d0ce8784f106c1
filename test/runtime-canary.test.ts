// criu_canary: a real dump and restore of a canary tree with a working criu
// ($CRIU), Debian's criu 3.17.1 failing, fake criu for the odd endings; and
// every time, nothing left behind: no process, no directory, no mount, no
// firewall rule or network link, and this process no longer a subreaper.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProbeOutcome } from '../src/model.js';
import { criuCanary, mayCheckpoint, ownChildren, processState } from '../src/probes/runtime/canary.js';
import * as libc from '../src/native/libc.js';
import { debianPackage, envFor, fake, inOwnMountNamespace, makeRoot, workingCriu } from './helpers/hostroot.js';

// A temporary directory of this file's own: other test files on the machine
// run canaries too, and theirs are not ours to count.
const privateTmp = mkdtempSync(join(tmpdir(), 'criu-readiness-canary-test-'));
process.env.TMPDIR = privateTmp;
t.teardown(() => rmSync(privateTmp, { recursive: true, force: true }));

const PR_GET_CHILD_SUBREAPER = 37;

function subreaper(): boolean {
  const flag = Buffer.alloc(4);
  libc.prctl(PR_GET_CHILD_SUBREAPER, ['void *', flag]);
  return flag.readInt32LE(0) !== 0;
}

/** What the canary could leave behind. */
function traces() {
  return {
    children: ownChildren().sort(),
    dirs: readdirSync(tmpdir())
      .filter((n) => n.startsWith('criu-readiness-canary-'))
      .sort(),
    mounts: readFileSync('/proc/self/mountinfo', 'latin1')
      .split('\n')
      .map((l) => l.split(' ').slice(4, 5).join())
      .sort(),
    // Ours: a canary left behind is our child (spawned by us, or restored under us as its subreaper).
    canaries: readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p) && processState(Number(p))?.ppid === process.pid)
      .filter((p) => {
        try {
          return (
            readFileSync(`/proc/${p}/cmdline`, 'latin1') ===
            'sh\0-c\0exec </dev/null >/dev/null 2>&1; while :; do sleep 0.1; done\0'
          );
        } catch {
          return false;
        }
      }),
    subreaper: subreaper(),
    network: networkState(),
  };
}

/** The firewall's rules and the network links, as far as this machine's tools show them ('' without the tool). */
function networkState(): string[] {
  const show = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
    // iptables-save's comment lines carry the time it ran.
    return (r.stdout ?? '')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
  };
  return [show('nft', ['list', 'ruleset']), show('iptables-save', []), show('ip', ['-o', 'link', 'show'])];
}

const ROOT = process.geteuid?.() === 0;
const NOT_ROOT = !ROOT && 'the canary needs root or CAP_SYS_ADMIN';

t.test('privileges: root, or CAP_SYS_ADMIN in CapEff, may checkpoint; others may not', async (t) => {
  t.ok(mayCheckpoint('CapEff:\t0000000000000000\n', 0));
  t.ok(mayCheckpoint('CapEff:\t0000000000200000\n', 1000));
  t.notOk(mayCheckpoint('CapEff:\t00000000001fffff\n', 1000));
  t.notOk(mayCheckpoint('Name: x\n', 1000));
});

t.test('processState reads the state letter and parent; a gone pid is null', async (t) => {
  t.match(processState(process.pid), { state: /^[RS]$/, ppid: process.ppid });
  t.equal(processState(0x3fffffff), null);
});

const WORKING = workingCriu();
t.test(
  'a working criu dumps the canary and restores it with its pid; nothing is left behind',
  { skip: ('skip' in WORKING && WORKING.skip) || NOT_ROOT, timeout: 60_000 },
  async (t) => {
    if ('skip' in WORKING) return;
    const before = traces();
    const outcome = criuCanary(envFor('/', { criu: WORKING.criu }));
    if (outcome.reason === 'Timeout')
      t.comment(
        `SKIP: ${outcome.message} (a busy machine: other suites' network namespaces hold the kernel's locks criu waits on); the bound held`,
      );
    else
      t.match(outcome, {
        status: 'supported',
        reason: 'Supported',
        message: /dumped a canary process tree and restored it: it runs again$/,
      });
    t.same(traces(), before);
  },
);

const DEBIAN_CRIU = debianPackage('criu');
t.test(
  "Debian 12's criu 3.17.1 cannot dump on this kernel: unsupported with its first error; nothing is left behind",
  { skip: ('skip' in DEBIAN_CRIU && DEBIAN_CRIU.skip) || NOT_ROOT, timeout: 60_000 },
  async (t) => {
    if ('skip' in DEBIAN_CRIU) return;
    const before = traces();
    const outcome = criuCanary(envFor('/', { criu: join(DEBIAN_CRIU.dir, 'usr/sbin/criu') }));
    if (outcome.status === 'supported')
      t.comment(`SKIP: Debian's criu 3.17.1 works on this kernel (${outcome.message})`);
    else if (outcome.reason === 'Timeout') t.comment(`SKIP: ${outcome.message} (a busy machine); the bound held`);
    else
      t.match(outcome, {
        status: 'unsupported',
        reason: 'MissingDependency',
        message: /^the installed criu cannot start on this kernel: /,
      });
    t.same(traces(), before);
  },
);

t.test('a dump that fails is unsupported with the error criu logged', { skip: NOT_ROOT }, async (t) => {
  const root = makeRoot(t, { 'usr/sbin/criu': fake('', 1, 'Error (criu/cr-dump.c:2000): Dumping FAILED.\n') });
  const before = traces();
  t.match(criuCanary(envFor(root)), {
    status: 'unsupported',
    reason: 'UnexpectedResult',
    message: '/usr/sbin/criu dump failed (exit 1): Dumping FAILED.',
  });
  t.same(traces(), before);
});

t.test(
  "a failed dump names the last error before criu's closing lines, not an earlier one criu survived",
  { skip: NOT_ROOT },
  async (t) => {
    const log = [
      "Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
      "Error (criu/files-reg.c:1790): Can't lookup mount=61 for fd=0 path=/dev/null",
      'Error (criu/cr-dump.c:1698): Dump files (pid: 42) failed with -1',
      'Error (criu/cr-dump.c:2128): Dumping FAILED.',
    ].join('\n');
    const root = makeRoot(t, { 'usr/sbin/criu': fake('', 1, `${log}\n`) });
    t.match(criuCanary(envFor(root)), {
      status: 'unsupported',
      message: "/usr/sbin/criu dump failed (exit 1): Can't lookup mount=61 for fd=0 path=/dev/null",
    });
  },
);

t.test(
  'a dump that leaves the canary alive is unknown, and the canary is still killed',
  { skip: NOT_ROOT, timeout: 30_000 },
  async (t) => {
    const root = makeRoot(t, { 'usr/sbin/criu': fake('') });
    const before = traces();
    t.match(criuCanary(envFor(root)), {
      status: 'unknown',
      reason: 'UnexpectedResult',
      message: /^the dumped canary did not end: \d+ of its processes still run$/,
    });
    t.same(traces(), before);
  },
);

t.test(
  'a restore that says 0 but brings nothing back is unsupported',
  { skip: NOT_ROOT, timeout: 30_000 },
  async (t) => {
    const root = makeRoot(t, { 'usr/sbin/criu': { script: '[ "$1" = dump ] && kill -9 "-$3"; exit 0' } });
    const before = traces();
    t.match(criuCanary(envFor(root)), {
      status: 'unsupported',
      reason: 'UnexpectedResult',
      message: 'criu restore exited 0 but the canary is not running',
    });
    t.same(traces(), before);
  },
);

t.test('a restore that fails names its log', { skip: NOT_ROOT, timeout: 30_000 }, async (t) => {
  const root = makeRoot(t, {
    'usr/sbin/criu': {
      script:
        'if [ "$1" = dump ]; then kill -9 "-$3"; exit 0; fi\necho "Error (criu/cr-restore.c:1): Can\'t fork for 42: File exists" > "$4/$6"\nexit 1',
    },
  });
  const outcome = criuCanary(envFor(root));
  t.match(outcome, {
    status: 'unsupported',
    reason: 'UnexpectedResult',
    message: /restore failed \(exit 1\): Can't fork for 42: File exists/,
  });
});

t.test('no criu: the canary says it needs one', { skip: NOT_ROOT }, async (t) => {
  t.match(criuCanary(envFor(makeRoot(t))), {
    status: 'unsupported',
    reason: 'MissingDependency',
    message: 'needs criu, which is not installed (see criu_binary)',
  });
});

t.test(
  "a criu dump that hangs is cut within the canary's 7 s: unknown, Timeout; nothing left behind",
  { skip: NOT_ROOT, timeout: 40_000 },
  async (t) => {
    const root = makeRoot(t, { 'usr/sbin/criu': { script: 'exec sleep 60' } });
    const before = traces();
    t.match(criuCanary(envFor(root)), {
      status: 'unknown',
      reason: 'Timeout',
      message: /dump did not finish within [1-7](\.\d)? s$/,
    });
    t.same(traces(), before);
    t.notOk(existsSync('/proc/self/fd/999999'));
  },
);

t.test(
  "a restore that hangs gets what is left of the canary's 7 s, so the whole stays within the engine's 10 s probe limit",
  { skip: NOT_ROOT, timeout: 40_000 },
  async (t) => {
    const root = makeRoot(t, {
      'usr/sbin/criu': { script: 'if [ "$1" = dump ]; then kill -9 "-$3"; sleep 1; exit 0; fi\nexec sleep 60' },
    });
    const before = traces();
    const outcome = criuCanary(envFor(root));
    t.match(outcome, { status: 'unknown', reason: 'Timeout', message: /restore did not finish within [\d.]+ s$/ });
    const seconds = Number(/within ([\d.]+) s$/.exec(outcome.message)?.[1]);
    t.ok(seconds > 0 && seconds < 7, `restore's bound ${seconds} s is the rest of the 7 s after a 1 s dump`);
    t.same(traces(), before);
  },
);

const CANARY_MODULE = fileURLToPath(new URL('../src/probes/runtime/canary.ts', import.meta.url));
const CRIU_MODULE = fileURLToPath(new URL('../src/probes/runtime/criu.ts', import.meta.url));

t.test(
  "from a container's view of the host (another mount namespace, the host's / at a host root), the host's criu runs in the host's mount namespace when CRIU_READINESS_HOST_MOUNT_NS names it",
  { skip: ('skip' in WORKING && WORKING.skip) || NOT_ROOT, timeout: 120_000 },
  async (t) => {
    if ('skip' in WORKING) return;
    const criuDir = dirname(WORKING.criu);
    const hostRoot = mkdtempSync(join(privateTmp, 'host-'));
    // The child stands for the pod: its own mount namespace, where the host's / is at hostRoot
    // and criu's directory is hidden, so that criu can only run in this process's namespace (the host's).
    const script = `import { criuCanary } from ${JSON.stringify(CANARY_MODULE)};
import { criuRuns } from ${JSON.stringify(CRIU_MODULE)};
const pod = { root: ${JSON.stringify(hostRoot)}, path: ${JSON.stringify(criuDir)}, foreignRoot: true };
const host = { ...pod, hostMountNs: '/proc/${process.pid}/ns/mnt' };
const own = { ...pod, hostMountNs: '/proc/self/ns/mnt' };
console.log(JSON.stringify([criuCanary(host), criuRuns(host), criuCanary(pod), criuCanary(own)]));`;
    const r = inOwnMountNamespace('mount --bind / "$0" && mount -t tmpfs none "$1"', [hostRoot, criuDir], script);
    t.equal(r.status, 0, r.stderr);
    const [canary, runs, withoutNs, ownNs] = JSON.parse(r.stdout) as ProbeOutcome[];
    if (canary.reason === 'Timeout') t.comment(`SKIP: ${canary.message} (a busy machine); the bound held`);
    else
      t.match(canary, {
        status: 'supported',
        message: new RegExp(`^${WORKING.criu} dumped a canary process tree and restored it: it runs again$`),
      });
    t.not(runs.message, /cannot run the host's criu/, `criu_runs ran the host's criu: ${runs.message}`);
    t.match(withoutNs, {
      status: 'unknown',
      reason: 'PermissionDenied',
      message: /^cannot run the host's criu from a container: /,
    });
    t.match(ownNs, {
      status: 'unknown',
      reason: 'PermissionDenied',
      message: /is this process's own mount namespace, not the host's \(no hostPID\?\)$/,
    });
    t.same(
      readdirSync(privateTmp).filter((n) => n.startsWith('criu-readiness-canary-')),
      [],
      'no image directory left',
    );
  },
);
