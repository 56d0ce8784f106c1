import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { kill } from 'node:process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { runProbes } from './helpers/probe.js';
import { underRefusals } from './helpers/refusals.js';
import { ProbeEngine, type ProbeResult } from '../src/engine/engine.js';
import type { ProbeOutcome } from '../src/model.js';
import { Tracee, TraceeError, withTracee, TRACEE_ARGV0, CODE } from '../src/native/tracee.js';
import { SYS, PAGE_SIZE, errno as E } from '../src/native/constants.js';
import * as ptrace from '../src/probes/ptrace.js';
import { traced } from '../src/probes/resources.js';
import { assertSameAsRoot, kernelAtLeast, minKernelOf } from './helpers/kernel-answers.js';
import { callProbe } from './helpers/direct.js';

const PROBES = [
  'ptrace_peeksiginfo',
  'special_mapping_mremap',
  'seccomp_suspend',
  'seccomp_filters',
  'get_rseq_conf',
  'can_map_vdso',
  'compat_cr',
  'breakpoints',
];
/** PTRACE_O_SUSPEND_SECCOMP and PTRACE_SECCOMP_GET_FILTER need CAP_SYS_ADMIN. */
const NEED_CAP_SYS_ADMIN = ['seccomp_suspend', 'seccomp_filters'];
const PROBE_FUNCTIONS = [
  ptrace.ptracePeeksiginfo,
  ptrace.specialMappingMremap,
  ptrace.seccompSuspend,
  ptrace.seccompFilters,
  ptrace.getRseqConf,
  ptrace.canMapVdso,
  ptrace.compatCr,
  ptrace.breakpoints,
];

function byName(results: ProbeResult[]): Map<string, ProbeOutcome> {
  return new Map(results.map((r) => [r.name, r.outcome]));
}

const rootResults = runProbes(PROBES);
const asRoot = byName(rootResults);
const asNobody = byName(runProbes(PROBES, { unprivileged: true }));

/** The running kernel's config, where /proc/config.gz exposes it. */
function kernelConfig(): Map<string, string> | undefined {
  if (!existsSync('/proc/config.gz')) return undefined;
  const text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  return new Map([...text.matchAll(/^(CONFIG_\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}

/** What a kernel with these options must support, per CRIU's own requirements. */
function expectedSupported(): string[] {
  const config = kernelConfig();
  if (!config || !kernelAtLeast(minKernelOf('get_rseq_conf'))) return ['ptrace_peeksiginfo', 'special_mapping_mremap'];
  const on = (option: string) => config.get(option) === 'y';
  const cmdline = readFileSync('/proc/cmdline', 'latin1');
  const ia32 =
    on('CONFIG_IA32_EMULATION') &&
    !on('CONFIG_IA32_EMULATION_DEFAULT_DISABLED') &&
    !/ia32_emulation=(0|off|n)/.test(cmdline);
  return [
    'ptrace_peeksiginfo',
    'special_mapping_mremap',
    ...(on('CONFIG_CHECKPOINT_RESTORE') && on('CONFIG_SECCOMP_FILTER') ? ['seccomp_suspend', 'seccomp_filters'] : []),
    ...(on('CONFIG_RSEQ') ? ['get_rseq_conf'] : []),
    ...(on('CONFIG_IA32_EMULATION') ? ['can_map_vdso'] : []),
    ...(ia32 ? ['compat_cr'] : []),
  ];
}

/** Processes in /proc: pid, state letter, parent, command name and argv[0] (empty for a zombie). */
function processes(): { pid: number; state: string; ppid: number; comm: string; argv0: string }[] {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argv0 = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0')[0];
      found.push({ pid: Number(entry), state, ppid: Number(ppid), comm, argv0 });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** A tracee's command name: its executable's, as the kernel keeps it (15 characters). */
const TRACEE_COMM = basename(process.execPath).slice(0, 15);

/**
 * Tracees anywhere, and our own node children that are zombies or stopped (a
 * zombie has no argv left; other children, such as tsx's esbuild service left
 * by a killed runner, are not the probes' business).
 */
function leftovers(): string[] {
  return processes()
    .filter(
      (p) => p.argv0 === TRACEE_ARGV0 || (p.ppid === process.pid && /^[Zt]/.test(p.state) && p.comm === TRACEE_COMM),
    )
    .map((p) => `${p.pid} ${p.state} ${p.comm} ${p.argv0}`);
}

/** The process with this pid is gone, or is no longer our tracee. */
function traceeGone(pid: number): boolean {
  const p = processes().find((q) => q.pid === pid);
  return !p || (p.argv0 !== TRACEE_ARGV0 && p.ppid !== process.pid);
}

t.test('as root each ptrace probe gets a kernel answer, with a reason that matches it', async (t) => {
  for (const name of PROBES) {
    const outcome = asRoot.get(name);
    t.ok(outcome, `${name} ran`);
    if (!outcome) continue;
    t.comment(`${name}: ${outcome.status} (${outcome.reason}) ${outcome.message}`);
    t.not(outcome.status, 'unknown', `${name} is known as root: ${outcome.message}`);
    t.equal(outcome.reason, outcome.status === 'supported' ? 'Supported' : 'NotInKernel', name);
    t.notMatch(outcome.message, /PLACEHOLDER/, name);
  }
});

t.test('as root the features this kernel has are supported', async (t) => {
  const expected = expectedSupported();
  t.comment(`expected supported here: ${expected.join(', ')}`);
  for (const name of expected) t.equal(asRoot.get(name)?.status, 'supported', `${name}: ${asRoot.get(name)?.message}`);
});

t.test('as nobody the CAP_SYS_ADMIN probes answer unknown/PermissionDenied', async (t) => {
  for (const name of NEED_CAP_SYS_ADMIN) {
    const outcome = asNobody.get(name);
    t.equal(outcome?.status, 'unknown', `${name}: ${outcome?.message}`);
    t.equal(outcome?.reason, 'PermissionDenied', name);
    t.match(outcome?.message, /CAP_SYS_ADMIN|seccomp mode/, name);
  }
});

t.test("as nobody the probes that need only ptrace of an own child give root's answer", async (t) => {
  assertSameAsRoot(
    t,
    asNobody,
    asRoot,
    PROBES.filter((n) => !NEED_CAP_SYS_ADMIN.includes(n)),
  );
});

t.test('each ptrace probe takes a few milliseconds', async (t) => {
  for (const r of rootResults) {
    t.comment(`${r.name}: ${r.durationMs.toFixed(1)} ms`);
    // Generous: CI machines are shared; a probe stuck on a hung tracee would take the 2 s stop timeout.
    t.ok(r.durationMs < 1000, `${r.name} took ${r.durationMs} ms`);
  }
});

t.test('a tracee runs an injected getpid and gets its own pid', async (t) => {
  let pid = 0;
  const got = withTracee((tracee) => {
    pid = tracee.pid;
    return tracee.injectSyscall(SYS.getpid);
  });
  t.equal(got.errno, 0);
  t.equal(got.ret, BigInt(pid));
  t.ok(traceeGone(pid), `tracee ${pid} was killed and reaped`);
});

t.test('a tracee is stopped and traced by this process while in use', async (t) => {
  withTracee((tracee) => {
    const status = readFileSync(`/proc/${tracee.pid}/status`, 'latin1');
    t.match(status, /^State:\s+t/m);
    t.match(status, new RegExp(`^TracerPid:\\s+${process.pid}$`, 'm'));
    t.equal(readdirSync(`/proc/${tracee.pid}/task`).length, 1, 'a single thread');
  });
});

t.test('an injected system call that fails reports its errno', async (t) => {
  // munmap of an unaligned address is EINVAL.
  const got = withTracee((tracee) => tracee.injectSyscall(SYS.munmap, [1, PAGE_SIZE]));
  t.equal(got.errno, E.EINVAL);
  t.equal(got.ret, BigInt(-E.EINVAL));
});

t.test('tracee memory reads back what was written', async (t) => {
  withTracee((tracee) => {
    const bytes = Buffer.from('criu-readiness!');
    const at = tracee.placeData(bytes);
    t.same(tracee.read(at, bytes.length), bytes);
    t.same(tracee.read(at + 3n, 5), bytes.subarray(3, 8), 'unaligned read');
  });
});

t.test('withTracee kills and reaps the tracee when the test throws', async (t) => {
  let pid = 0;
  t.throws(() =>
    withTracee((tracee) => {
      pid = tracee.pid;
      throw new Error('test failure');
    }),
  );
  t.ok(pid > 0);
  t.ok(traceeGone(pid), `tracee ${pid} was killed and reaped`);
});

t.test('a tracee that never reaches its trap times out, and is still reaped', async (t) => {
  let pid = 0;
  let error: unknown;
  const started = performance.now();
  try {
    withTracee((tracee) => {
      pid = tracee.pid;
      tracee.run(tracee.placeCode(CODE.SPIN), {}, 50);
    });
  } catch (err) {
    error = err;
  }
  t.ok(error instanceof TraceeError && error.errno === E.ETIMEDOUT, `timed out: ${String(error)}`);
  t.ok(performance.now() - started < 1000, 'the deadline held');
  t.ok(traceeGone(pid), `tracee ${pid} was killed and reaped`);
});

t.test('a tracee that exits is reaped by the wait that sees it, and close does nothing more', async (t) => {
  const tracee = Tracee.spawn();
  const state = tracee.run(tracee.placeCode(CODE.SYSCALL_TRAP), { rax: BigInt(SYS.exit_group), rdi: 7n });
  t.same(state, { kind: 'exited', code: 7 });
  t.notOk(tracee.alive);
  tracee.close();
  t.ok(traceeGone(tracee.pid));
});

t.test('no process is left stopped or a zombie after every ptrace probe ran here', async (t) => {
  for (const probe of PROBE_FUNCTIONS) callProbe(probe);
  t.same(leftovers(), []);
});

t.test('no tracee outlives a runner that dies or hangs holding one', async (t) => {
  const engine = new ProbeEngine({
    probeModule: fileURLToPath(new URL('./fixtures/tracee-probes.ts', import.meta.url)),
    probeTimeoutMs: 1500,
  });
  const results = await engine.run(['dies_holding_tracee', 'hangs_holding_tracee']);
  await engine.close();
  t.same(
    results.map((r) => r.outcome.reason),
    ['ProbeCrashed', 'Timeout'],
  );
  t.same(leftovers(), []);
});

t.test('a failure of the tracing itself is unknown, never unsupported', async (t) => {
  const failing = (errno: number) =>
    traced(() => {
      throw new TraceeError('PTRACE_SEIZE', errno, 'Unable to ptrace the child');
    });
  t.match(failing(E.EPERM), { status: 'unknown', reason: 'PermissionDenied', message: /PTRACE_SEIZE.*EPERM/ });
  t.match(failing(E.ETIMEDOUT), { status: 'unknown', reason: 'Timeout' });
  t.match(failing(E.EINVAL), { status: 'unknown', reason: 'UnexpectedResult' });
  t.match(failing(0), { status: 'unknown', reason: 'UnexpectedResult' });
  t.throws(
    () =>
      traced(() => {
        throw new RangeError('a bug in the probe');
      }),
    RangeError,
    'other errors reach the runner, which reports ProbeError',
  );
});

t.test('a tracing failure names no pid: the message must not change from run to run', async (t) => {
  let pid = 0;
  const outcome = traced((tracee) => {
    pid = tracee.pid;
    // Killed, it is no longer in a ptrace stop: the next request fails.
    kill(tracee.pid, 'SIGKILL');
    tracee.getRegs();
    return { status: 'supported', reason: 'Supported', message: 'not reached' };
  });
  t.same(outcome, {
    status: 'unknown',
    reason: 'UnexpectedResult',
    message: 'PTRACE_GETREGS: failed on the tracee: ESRCH',
  });
  t.ok(pid > 0, 'the tracee was there');
});

t.test(
  'compat_cr: a seccomp filter that traps 32-bit system calls (SIGSYS) is named, not taken for a kernel without ia32 emulation',
  async (t) => {
    const refused = underRefusals(['compat_cr=SIGSYS']);
    t.match(refused.get('compat_cr'), {
      status: 'unknown',
      reason: 'PermissionDenied',
      message: /seccomp filter refused the 32-bit system call/,
    });
  },
);

t.test(
  'special_mapping_mremap: a child that cannot signal itself (a filter refuses kill) says nothing of mremap: unknown',
  async (t) => {
    const refused = underRefusals(['special_mapping_mremap', '+breakpoints']);
    t.match(refused.get('special_mapping_mremap'), {
      status: 'unknown',
      reason: 'PermissionDenied',
      message: /could not signal itself/,
    });
    t.match(refused.get('breakpoints'), { status: 'supported' }, 'the filter refuses nothing else');
  },
);
