// Seccomp filters for tests: a classic BPF program that refuses chosen
// system calls (optionally only for chosen arguments) and allows the rest,
// and its installation on this process, which every child inherits.
import * as libc from '../../src/native/libc.js';
import {
  BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_SET_MODE_FILTER,
  SECCOMP_DATA_NR_OFFSET, PR_SET_NO_NEW_PRIVS, SOCK_FILTER_SIZE, SOCK_FPROG_SIZE, SYS,
} from '../../src/native/constants.js';

/** BPF_JMP | BPF_JSET | BPF_K: jump if any of the bits is set. */
const BPF_JSET_K = 0x45;
/** Apply the filter to every thread of this process, not only the calling one. */
const SECCOMP_FILTER_FLAG_TSYNC = 1;
/** A seccomp filter's answer that sends SIGSYS. */
const SECCOMP_RET_TRAP = 0x00030000;
/** offsetof(struct seccomp_data, args[i]): the low 32 bits of argument i. */
const argOffset = (index: number): number => 16 + 8 * index;

export interface Refusal {
  nr: number;
  /** Deliver SIGSYS (SECCOMP_RET_TRAP) instead of failing with `errno`. */
  trap?: boolean;
  /** Refuse only when each of these arguments equals `equals` (or has any bit of `anyBit`). */
  args?: { index: number; equals?: number; anyBit?: number }[];
  errno: number;
}

function instruction(code: number, jt: number, jf: number, k: number): Buffer {
  const insn = Buffer.alloc(SOCK_FILTER_SIZE);
  insn.writeUInt16LE(code, 0);
  insn.writeUInt8(jt, 2);
  insn.writeUInt8(jf, 3);
  insn.writeUInt32LE(k >>> 0, 4);
  return insn;
}

/** The filter: each refusal in turn, then allow. */
export function program(refusals: readonly Refusal[]): Buffer {
  const insns: Buffer[] = [];
  for (const refusal of refusals) {
    insns.push(instruction(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR_OFFSET));
    const ret = instruction(BPF_RET_K, 0, 0, refusal.trap ? SECCOMP_RET_TRAP : SECCOMP_RET_ERRNO | refusal.errno);
    const args = refusal.args ?? [];
    // Each failed test jumps past the rest of this block (two instructions per argument, then the RET).
    insns.push(instruction(BPF_JEQ_K, 0, 2 * args.length + 1, refusal.nr));
    args.forEach(({ index, equals, anyBit }, i) => {
      const skip = 2 * (args.length - 1 - i) + 1;
      insns.push(instruction(BPF_LD_W_ABS, 0, 0, argOffset(index)));
      insns.push(anyBit !== undefined ? instruction(BPF_JSET_K, 0, skip, anyBit) : instruction(BPF_JEQ_K, 0, skip, equals ?? 0));
    });
    insns.push(ret);
  }
  insns.push(instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
  return Buffer.concat(insns);
}

/** Install the filter on every thread of this process; throws when the kernel refuses it. */
export function installFilter(refusals: readonly Refusal[]): void {
  const filter = program(refusals);
  const fprog = Buffer.alloc(SOCK_FPROG_SIZE);
  fprog.writeUInt16LE(filter.length / SOCK_FILTER_SIZE, 0);
  fprog.writeBigUInt64LE(libc.addressOf(filter), 8);
  const noNewPrivs = libc.prctl(PR_SET_NO_NEW_PRIVS, ['long', 1]);
  const installed = libc.syscall(SYS.seccomp, ['int', SECCOMP_SET_MODE_FILTER], ['int', SECCOMP_FILTER_FLAG_TSYNC], ['void *', fprog]);
  if (noNewPrivs.ret !== 0 || installed.ret !== 0) throw new Error(`cannot install the seccomp filter: ${installed.errno}`);
}
