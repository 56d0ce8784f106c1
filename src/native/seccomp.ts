// Seccomp filters: classic BPF programs that answer chosen system calls with
// an error (or SIGSYS) and let the rest through. The service's HTTP process
// installs one so that it cannot make the calls it never needs; tests install
// others to make the kernel refuse a call as an older kernel would.
import * as libc from './libc.js';
import {
  AUDIT_ARCH_X86_64,
  BPF_JEQ_K,
  BPF_JGE_K,
  BPF_JSET_K,
  BPF_LD_W_ABS,
  BPF_RET_K,
  PR_SET_NO_NEW_PRIVS,
  SECCOMP_DATA_ARCH_OFFSET,
  SECCOMP_DATA_NR_OFFSET,
  SECCOMP_FILTER_FLAG_TSYNC,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_TRAP,
  SECCOMP_SET_MODE_FILTER,
  SOCK_FILTER_SIZE,
  SOCK_FPROG_SIZE,
  SYS,
  X32_SYSCALL_BIT,
  errno as E,
  seccompArgOffset,
} from './constants.js';

/** One system call the filter refuses. */
export interface Refusal {
  nr: number;
  /** Deliver SIGSYS (SECCOMP_RET_TRAP) instead of failing with `errno`. */
  trap?: boolean;
  /** Refuse only when each of these arguments equals `equals` (or has any bit of `anyBit`). */
  args?: { index: number; equals?: number; anyBit?: number }[];
  errno: number;
}

export interface ProgramOptions {
  /**
   * Refuse (EPERM) every call that is not the x86-64 ABI's: i386 calls
   * (int 0x80) and x32 ones have other numbers, which a list of x86-64
   * numbers would let through.
   */
  nativeOnly?: boolean;
}

function instruction(code: number, jt: number, jf: number, k: number): Buffer {
  const insn = Buffer.alloc(SOCK_FILTER_SIZE);
  insn.writeUInt16LE(code, 0);
  insn.writeUInt8(jt, 2);
  insn.writeUInt8(jf, 3);
  insn.writeUInt32LE(k >>> 0, 4);
  return insn;
}

/** A filter program: each refusal in turn, then allow. */
export function program(refusals: readonly Refusal[], options: ProgramOptions = {}): Buffer {
  const insns: Buffer[] = [];
  if (options.nativeOnly) {
    const deny = instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | E.EPERM);
    insns.push(instruction(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH_OFFSET));
    insns.push(instruction(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64), deny);
    insns.push(instruction(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR_OFFSET));
    insns.push(instruction(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), deny);
  }
  for (const refusal of refusals) {
    insns.push(instruction(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR_OFFSET));
    const ret = instruction(BPF_RET_K, 0, 0, refusal.trap ? SECCOMP_RET_TRAP : SECCOMP_RET_ERRNO | refusal.errno);
    const args = refusal.args ?? [];
    // Each failed test jumps past the rest of this block (two instructions per argument, then the RET).
    insns.push(instruction(BPF_JEQ_K, 0, 2 * args.length + 1, refusal.nr));
    args.forEach(({ index, equals, anyBit }, i) => {
      const skip = 2 * (args.length - 1 - i) + 1;
      insns.push(instruction(BPF_LD_W_ABS, 0, 0, seccompArgOffset(index)));
      insns.push(
        anyBit !== undefined ? instruction(BPF_JSET_K, 0, skip, anyBit) : instruction(BPF_JEQ_K, 0, skip, equals ?? 0),
      );
    });
    insns.push(ret);
  }
  insns.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
  return Buffer.concat(insns);
}

/**
 * Install `filter` on every thread of this process (TSYNC): Node runs
 * several, and a filter on the calling thread alone would leave the others
 * free. Sets no_new_privs first, which a process without CAP_SYS_ADMIN needs.
 * The errno of the call that failed, or 0.
 */
export function installFilter(filter: Buffer): number {
  const fprog = Buffer.alloc(SOCK_FPROG_SIZE);
  fprog.writeUInt16LE(filter.length / SOCK_FILTER_SIZE, 0);
  fprog.writeBigUInt64LE(libc.addressOf(filter), 8);
  const noNewPrivs = libc.prctl(PR_SET_NO_NEW_PRIVS, ['long', 1]);
  if (noNewPrivs.ret !== 0) return noNewPrivs.errno;
  const installed = libc.syscall(
    SYS.seccomp,
    ['int', SECCOMP_SET_MODE_FILTER],
    ['int', SECCOMP_FILTER_FLAG_TSYNC],
    ['void *', fprog],
  );
  // TSYNC answers with the id of a thread it could not synchronise (a positive number).
  if (installed.ret > 0) return E.EBUSY;
  return installed.ret === 0 ? 0 : installed.errno;
}
