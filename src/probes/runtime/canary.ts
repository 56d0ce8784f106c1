// criu_canary: the proof. The installed criu dumps a tiny process tree of our
// own and restores it; the restored tree runs with its old pids. Everything
// is killed, reaped and removed afterwards.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childReaped, childSpawned } from '../../native/children.js';
import { PR_SET_CHILD_SUBREAPER, SIGKILL, __WALL } from '../../native/constants.js';
import * as libc from '../../native/libc.js';
import { spawnProgram } from '../../native/program.js';
import { supported, unknown, unsupported } from '../../model.js';
import type { ProbeOutcome } from '../../model.js';
import {
  criuLaunch,
  failedRun,
  locateCriu,
  notFound,
  outOfReach,
  parseCriuLines,
  startFailure,
  type CriuLine,
} from './criu.js';
import { PROGRAM_ENV, hostLauncher, lines, run, runtimeEnv, type Launch, type RuntimeEnv } from './host.js';

/** prctl(2) PR_GET_CHILD_SUBREAPER (<linux/prctl.h>); not in native/constants.ts. */
const PR_GET_CHILD_SUBREAPER = 37;
/** CAP_SYS_ADMIN's bit in /proc/self/status CapEff. */
const CAP_SYS_ADMIN = 21;
/**
 * The canary's dump, reaping and restore stay within this, and its cleanup
 * within REAP_MS more: past the engine's probe limit (10 s) the runner is
 * killed, and the cleanup with it (the image directory would stay behind).
 */
const CANARY_BUDGET_MS = 7_000;
/** The cleanup waits this long at most for the killed canary to be reaped. */
const REAP_MS = 2_000;
/** The canary: a shell with a child that comes and goes. */
// Its descriptors are opened by the shell itself: one inherited from us would
// be a file of our mount namespace, which a criu in the host's cannot dump.
const CANARY_ARGV = ['sh', '-c', 'exec </dev/null >/dev/null 2>&1; while :; do sleep 0.1; done'];
/** criu's closing lines, which say that it failed but not why. */
const SUMMARY = /^(Dumping FAILED\.|Restoring FAILED\.|.* failed with -?\d+)$/;

/** May this process checkpoint others: root, or CAP_SYS_ADMIN in its effective set. */
export function mayCheckpoint(
  status = readFileSync('/proc/self/status', 'latin1'),
  euid = process.geteuid?.() ?? -1,
): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return euid === 0 || (eff !== undefined && ((BigInt(`0x${eff}`) >> BigInt(CAP_SYS_ADMIN)) & 1n) === 1n);
}

/** Our children, alive or zombie, from every thread's view. */
export function ownChildren(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** State letter of a process (R, S, Z, ...) and its parent, or null when it is gone. */
export function processState(pid: number): { state: string; ppid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return '';
  }
}

/**
 * Reap every child of ours not in `keep`, within `timeoutMs`: the canary's, dumped or restored. Returns those still
 * there.
 */
function reapNew(keep: Set<number>, timeoutMs: number): number[] {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = ownChildren().filter((pid) => !keep.has(pid));
    for (const pid of left) {
      const state = libc.waitWithDeadline(pid, __WALL, 0);
      if (state.kind === 'exited' || state.kind === 'killed') childReaped(pid);
    }
    const still = ownChildren().filter((pid) => !keep.has(pid));
    if (still.length === 0 || performance.now() > deadline) return still;
    libc.sleepMs(5);
  }
}

/** What criu logged: its log file (-o), then its stderr. */
function logged(logFile: string, stderr: string): CriuLine[] {
  let log = '';
  try {
    log = readFileSync(logFile, 'latin1');
  } catch {
    // no log: criu did not get that far
  }
  return parseCriuLines(`${log}\n${stderr}`);
}

/** The image directory: here, and as criu names it (through /proc/PID/root when criu runs in the host's namespace). */
interface Images {
  dir: string;
  forCriu: string;
}

/** One criu call in the image directory, bounded by `deadline`; an outcome when it failed. */
function criuStep(
  criu: string | Launch,
  args: string[],
  images: Images,
  log: string,
  what: string,
  deadline: number,
): ProbeOutcome | null {
  const { dir } = images;
  const timeoutMs = Math.round(deadline - performance.now());
  if (timeoutMs <= 0)
    return unknown('Timeout', `${what} was not started: the canary's ${CANARY_BUDGET_MS / 1000} s had passed`);
  const result = run(criu, [...args, '-D', images.forCriu, '-o', log], timeoutMs, dir);
  if (result.kind !== 'exited') return failedRun(result, what, timeoutMs);
  if (result.code === 0) return null;
  const nsenter = lines(result.stderr).find((l) => l.startsWith('nsenter: '));
  if (nsenter)
    return unknown('PermissionDenied', `${what}: the host's mount namespace could not be entered: ${nsenter}`);
  const said = logged(join(dir, log), result.stderr);
  const failed = startFailure(result.stdout, said);
  if (failed) return failed;
  // The cause is the last error before criu's closing lines; earlier errors may
  // have been survived (as "rlimit: Can't setup RLIMIT_NOFILE" without CAP_SYS_RESOURCE).
  const errors = said.filter((l) => l.level === 'error');
  const cause =
    (errors.filter((l) => !SUMMARY.test(l.text)).at(-1) ?? errors[0] ?? said.find((l) => l.level === 'warn'))?.text ??
    lines(result.stdout)[0] ??
    'no error logged';
  return unsupported(`${what} failed (exit ${result.code}): ${cause}`, 'UnexpectedResult');
}

/**
 * criu_canary: dump a canary tree into a private directory and restore it.
 * This process is a child subreaper meanwhile, so that the dumped tree's
 * orphans are reaped before restore (a zombie holding a pid makes restore
 * fail: "Can't fork for PID: File exists") and the restored tree is ours.
 */
export function criuCanary(env: RuntimeEnv = runtimeEnv()): ProbeOutcome {
  const away = outOfReach(env);
  if (away) return away;
  if (!mayCheckpoint()) return unknown('PermissionDenied', 'the canary checkpoint needs root or CAP_SYS_ADMIN');
  const found = locateCriu(env);
  if (!found) return notFound(env);
  const flag = Buffer.alloc(4);
  libc.prctl(PR_GET_CHILD_SUBREAPER, ['void *', flag]);
  const wasSubreaper = flag.readInt32LE(0) !== 0;
  if (!wasSubreaper) libc.prctl(PR_SET_CHILD_SUBREAPER, ['long', 1]);
  const keep = new Set(ownChildren());
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-canary-'));
  const criu = criuLaunch(found, env);
  // In the host's mount namespace (criuLaunch entered it), the canary runs
  // there too, and criu reaches our directory through our /proc entry.
  const host = typeof criu === 'string' ? null : hostLauncher(env);
  const images = { dir, forCriu: host ? `/proc/${process.pid}/root${dir}` : dir };
  const canary = host && 'launch' in host ? host.launch(CANARY_ARGV[0]) : { path: '/bin/sh', prefix: [CANARY_ARGV[0]] };
  const deadline = performance.now() + CANARY_BUDGET_MS;
  let leader = -1;
  try {
    const spawned = spawnProgram(canary.path, [...canary.prefix, ...CANARY_ARGV.slice(1)], {
      env: PROGRAM_ENV,
      cwd: '/',
      setsid: true,
    });
    if (spawned.error !== 0) return unknown('ProbeError', `the canary could not be started: errno ${spawned.error}`);
    leader = spawned.pid;
    libc.sleepMs(50); // let sh start its loop: a tree of two
    const dumped = criuStep(
      criu,
      ['dump', '-t', String(leader)],
      images,
      'dump.log',
      `${found.hostPath} dump`,
      deadline,
    );
    if (dumped) return dumped;
    // criu dump killed the tree: reap it, so that its pids are free again.
    const left = reapNew(keep, Math.max(0, Math.min(REAP_MS, deadline - performance.now())));
    if (left.length > 0)
      return unknown('UnexpectedResult', `the dumped canary did not end: ${left.length} of its processes still run`);
    const restored = criuStep(criu, ['restore', '-d'], images, 'restore.log', `${found.hostPath} restore`, deadline);
    if (restored) return restored;
    childSpawned(leader);
    const seen = processState(leader);
    if (seen === null || seen.state === 'Z') {
      return unsupported(
        `criu restore exited 0 but the canary is ${seen ? 'a zombie' : 'not running'}`,
        'UnexpectedResult',
      );
    }
    if (readCmdline(leader) !== `${CANARY_ARGV.join('\0')}\0`) {
      return unsupported('criu restore exited 0 but its pid is not the canary', 'UnexpectedResult');
    }
    return supported(
      // No pid in the message: it changes at every run, and the message is part of the cached body.
      `${found.hostPath} dumped a canary process tree and restored it: it runs again`,
    );
  } finally {
    if (leader > 0) {
      libc.kill(-leader, SIGKILL); // the whole session's group: the canary and its sleep
      libc.kill(leader, SIGKILL);
      reapNew(keep, REAP_MS);
    }
    rmSync(dir, { recursive: true, force: true });
    if (!wasSubreaper) libc.prctl(PR_SET_CHILD_SUBREAPER, ['long', 0]);
  }
}
