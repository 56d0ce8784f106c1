// Checks of what CRIU needs to lock the network and keep firewall rules:
// libnftables with set concatenations, and a legacy iptables-save.
import { accessSync, constants as fsConstants, realpathSync, statSync } from 'node:fs';
import * as libc from '../native/libc.js';
import { AF_NETLINK, NETLINK_NETFILTER, SOCK_CLOEXEC, SOCK_RAW, errno as E } from '../native/constants.js';
import { loadNftables, NftContext, LIBNFTABLES } from '../native/nftables.js';
import { runProgram, startAhead } from '../native/program.js';
import { stop, supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { errnoName, fromErrno, fromFsError } from './outcome.js';
import { inPrivateNamespace } from './resources.js';
import { namespaceFailed } from './netlink.js';
import { ipv6Enabled } from '../native/procfs.js';

export function nftables(): ProbeOutcome {
  const nft = loadNftables();
  if ('error' in nft) {
    // The library is userspace, not kernel: where it is missing (an image
    // without it) the node may still have it, so this is no verdict.
    return unknown(
      'MissingDependency',
      `${LIBNFTABLES} is not installed - nftables rules will not be preserved during C/R (${nft.error})`,
    );
  }
  return supported(`${LIBNFTABLES} loads`);
}

/** CRIU's test: an inet table with a set keyed by address . port (a concatenation). */
const CREATE_TABLE = 'create table inet CRIU';
const ADD_CONCAT_SET = 'add set inet CRIU conn { type ipv4_addr . inet_service ;}';

/**
 * nft reports the kernel's answer in words, not an errno: only the words of
 * a kernel without the feature (no nf_tables, no inet family, no
 * concatenations) make it unsupported; a refusal is a permission problem; any
 * other failure (a refused sendmsg, a libnftables error of its own) says
 * nothing of the kernel.
 */
/** libnftables' words for a kernel without what was asked. */
const KERNEL_LACKS = new RegExp(
  [
    'Operation not supported',
    'not supported by protocol',
    'Protocol not supported',
    'Invalid argument',
    'No such file or directory',
  ].join('|'),
  'i',
);

export function classifyNftError(error: string, message: string): ProbeOutcome {
  if (/Operation not permitted|Permission denied/i.test(error)) return unknown('PermissionDenied', message);
  if (KERNEL_LACKS.test(error)) {
    return unsupported(message);
  }
  return unknown('UnexpectedResult', message);
}

/**
 * Can nfnetlink be talked to here? Asked ourselves, because libnftables calls
 * exit() when it cannot open this socket, which would end the runner.
 */
function nfnetlinkProblem(): ProbeOutcome | undefined {
  const sock = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (sock.ret >= 0) {
    libc.close(sock.ret);
    return undefined;
  }
  if (sock.errno === E.EPROTONOSUPPORT)
    return unsupported('Nftables based locking needs nfnetlink: EPROTONOSUPPORT (CONFIG_NETFILTER_NETLINK is off)');
  return fromErrno(sock.errno, "Can't open a NETLINK_NETFILTER socket");
}

export function networkLockNftables(): ProbeOutcome {
  const nft = loadNftables();
  if ('error' in nft) return unknown('MissingDependency', `Nftables based locking requires libnftables: ${nft.error}`);
  // A private namespace, as CRIU: no clash with the host's tables or another check.
  // A kernel without network namespaces is no verdict on nftables.
  const noNamespace = (code: number) =>
    code === E.EINVAL
      ? unknown('NotApplicable', 'No network namespace to test nftables in: EINVAL (CONFIG_NET_NS is off)')
      : namespaceFailed(code);
  return inPrivateNamespace({ kind: 'net', onError: noNamespace }, () => {
    const nfnetlink = nfnetlinkProblem();
    if (nfnetlink) return nfnetlink;
    const ctx = NftContext.create(nft);
    if (!ctx) return unknown('UnexpectedResult', 'nft_ctx_new failed');
    try {
      // One atomic batch; the table goes away with the namespace. Only when
      // it fails is the table made alone, to tell which half the kernel refused.
      const both = ctx.run(`${CREATE_TABLE}; ${ADD_CONCAT_SET}`);
      if (both.status === 0) return supported();
      const table = ctx.run(CREATE_TABLE);
      if (table.status !== 0) return classifyNftError(table.error, `Can't create nftables table: ${table.error}`);
      return classifyNftError(
        both.error,
        `Nftables based locking requires libnftables and set concatenations support: ${both.error}`,
      );
    } finally {
      ctx.free();
    }
  });
}

// ---------------------------------------------------------------- iptables

/** Where iptables lives when PATH (of nobody, of a service) does not say. */
const PROGRAM_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];
/** `-V` prints one line at once; anything slower is not an answer. */
const VERSION_TIMEOUT_MS = 2000;

function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), ...PROGRAM_DIRS];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      accessSync(path, fsConstants.X_OK);
      return path;
    } catch (err) {
      // Not here, or not executable; any other error (a refused access()) is no answer.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EACCES' && code !== 'ENOTDIR')
        stop(fromFsError(err, `Can't look for ${name} in ${dir}`));
    }
  }
  return undefined;
}

/**
 * What `-V` said, by program and the file it runs: a warm runner need not
 * start the same unchanged binary again on every refresh. A switched
 * alternative or an upgraded package is a different key.
 */
const versionAnswers = new Map<string, boolean>();

/**
 * iptables' multi-call binaries: every name of one (iptables-legacy-save,
 * ip6tables-legacy-save) uses the API the binary was built for, so one
 * answer serves them all, and has_ipt_legacy starts it once.
 */
const MULTI_CALL = /^xtables-(legacy|nft)-multi$/;

function programIdentity(path: string): string | undefined {
  try {
    const real = realpathSync(path);
    const target = statSync(path);
    const name = MULTI_CALL.test(real.slice(real.lastIndexOf('/') + 1)) ? '' : path;
    return [name, real, target.ino, target.mtimeMs, target.size].join('\0');
  } catch {
    return undefined;
  }
}

/** `<path> -V`, as has_ipt_legacy runs it (and starts it ahead). */
function versionArgv(path: string): string[] {
  return [path, '-V'];
}

/** The program's identity, and what its `-V` answered before in this runner, if it did. */
function knownAnswer(path: string): { identity: string | undefined; known: boolean | undefined } {
  const identity = programIdentity(path);
  return { identity, known: identity === undefined ? undefined : versionAnswers.get(identity) };
}

/**
 * Does `<path> -V` run and not say nf_tables (CRIU's is_iptables_nft)? A run
 * that timed out is no answer: the caller must not take it for "not legacy".
 */
function usesLegacyApi(path: string): boolean | 'timeout' | { failed: string } {
  const { identity, known } = knownAnswer(path);
  if (known !== undefined) return known;
  const run = runProgram(path, versionArgv(path), VERSION_TIMEOUT_MS);
  if (run.kind === 'timeout') return 'timeout';
  const answered = run.kind === 'exited' && run.code === 0;
  // A program that is there but does not answer (it cannot run here) says nothing of its API.
  if (!answered)
    return {
      failed: run.kind === 'exited' ? `exit ${run.code}` : run.kind === 'failed' ? errnoName(run.errno) : run.kind,
    };
  const legacy = !run.stdout.includes('nf_tables');
  // A failure to run may be passing: only answers are kept.
  if (identity !== undefined && answered) versionAnswers.set(identity, legacy);
  return legacy;
}

/**
 * CRIU's get_legacy_iptables_bin: `X-save` or `X-legacy-save`, whichever
 * says legacy. CRIU tries `X-save` first; we try `X-legacy-save` first,
 * which gives the same verdict and, where `X-save` is the nf_tables one
 * (the usual case), spares starting it. Unknown when a candidate did not
 * answer in time; none found ends the probe.
 */
function legacySave(tool: 'iptables' | 'ip6tables'): string {
  const missing = unsupported(`Couldn't find ${tool} version which is using iptables legacy API`, 'MissingDependency');
  for (const name of [`${tool}-legacy-save`, `${tool}-save`]) {
    const path = findProgram(name);
    const legacy = path === undefined ? false : usesLegacyApi(path);
    if (legacy === 'timeout') stop(unknown('Timeout', `${path} -V did not answer within ${VERSION_TIMEOUT_MS} ms`));
    if (typeof legacy === 'object') stop(unknown('UnexpectedResult', `${path} -V did not run here (${legacy.failed})`));
    if (legacy) return path as string;
  }
  return stop(missing);
}

/**
 * Start `iptables-legacy-save -V`, the program has_ipt_legacy usually runs
 * first, ahead of it (program.ts startAhead), unless its answer is known.
 */
export function hasIptLegacyAhead(): void {
  const path = findProgram('iptables-legacy-save');
  if (path !== undefined && knownAnswer(path).known === undefined) startAhead(path, versionArgv(path));
}

export function hasIptLegacy(): ProbeOutcome {
  const ipt = legacySave('iptables');
  if (!ipv6Enabled()) return supported(`iptables cmd: ${ipt}`);
  const ip6t = legacySave('ip6tables');
  return supported(`iptables cmd: ${ipt}, ip6tables cmd: ${ip6t}`);
}
