// criu_canary: a real dump and restore of a canary tree with a working criu
// ($CRIU), Debian's criu 3.17.1 failing, fake criu for the odd endings; and
// every time, nothing left behind: no process, no directory, no mount, and
// this process no longer a subreaper.
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criuCanary, mayCheckpoint, ownChildren, processState } from '../src/probes/runtime/canary.js';
import * as libc from '../src/native/libc.js';
import { debianPackage, envFor, fake, makeRoot } from './helpers/hostroot.js';

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
    canaries: readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'latin1') === 'sh\0-c\0while :; do sleep 0.1; done\0';
        } catch {
          return false;
        }
      }),
    subreaper: subreaper(),
  };
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

const CRIU = process.env.CRIU;
t.test(
  'a working criu dumps the canary and restores it with its pid; nothing is left behind',
  {
    skip: !CRIU
      ? 'no working criu given: set CRIU=/path/to/criu (e.g. CRIU=/opt/criu-4.2/criu) to run the real dump and restore'
      : NOT_ROOT,
    timeout: 60_000,
  },
  async (t) => {
    const before = traces();
    const outcome = criuCanary(envFor('/', { criu: CRIU }));
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
  'a criu that hangs is cut at 10 s: unknown, Timeout; nothing left behind',
  { skip: NOT_ROOT, timeout: 40_000 },
  async (t) => {
    const root = makeRoot(t, { 'usr/sbin/criu': { script: 'exec sleep 60' } });
    const before = traces();
    t.match(criuCanary(envFor(root)), {
      status: 'unknown',
      reason: 'Timeout',
      message: /dump did not finish within 10 s/,
    });
    t.same(traces(), before);
    t.notOk(existsSync('/proc/self/fd/999999'));
  },
);
