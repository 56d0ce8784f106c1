// The x86-64 ptrace ABI the tracee module and the ptrace probes use: request
// numbers, struct layouts, system call numbers for code run inside a tracee,
// and the machine code that code is made of. Values are from the kernel's
// uapi headers (linux/ptrace.h, asm/ptrace-abi.h, sys/user.h) and
// arch/x86/entry/syscalls/syscall_{64,32}.tbl.
import { SYS } from './constants.js';
export { PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, MAP_PRIVATE, MAP_ANONYMOUS, MREMAP_MAYMOVE, MREMAP_FIXED } from './constants.js';

/** ptrace(2) requests not in constants.ts. */
export const PTRACE_PEEKDATA = 2;
export const PTRACE_POKEDATA = 5;
export const PTRACE_POKEUSER = 6;
export const PTRACE_GETREGS = 12;
export const PTRACE_SETREGS = 13;
export const PTRACE_GETSIGINFO = 0x4202;
export const PTRACE_SECCOMP_GET_FILTER = 0x420c;
export const PTRACE_GET_RSEQ_CONFIGURATION = 0x420f;

/** PTRACE_SETOPTIONS flags. */
export const PTRACE_O_SUSPEND_SECCOMP = 0x200000;

/** The event in bits 16..23 of a wait status after PTRACE_INTERRUPT. */
export const PTRACE_EVENT_STOP = 128;

/** struct ptrace_peeksiginfo_args: u64 off, u32 flags, s32 nr. */
export const PEEKSIGINFO_ARGS_SIZE = 16;
export const PEEKSIGINFO_OFF_OFFSET = 0;
export const PEEKSIGINFO_FLAGS_OFFSET = 8;
export const PEEKSIGINFO_NR_OFFSET = 12;
/** si_signo is the first int of siginfo_t. */
export const SIGINFO_SIGNO_OFFSET = 0;

/** struct ptrace_rseq_configuration: u64 pointer, u32 size, u32 signature, u32 flags, u32 pad. */
export const RSEQ_CONFIGURATION_SIZE = 24;
export const RSEQ_CONF_POINTER_OFFSET = 0;
export const RSEQ_CONF_SIZE_OFFSET = 8;
export const RSEQ_CONF_SIGNATURE_OFFSET = 12;
export const RSEQ_CONF_FLAGS_OFFSET = 16;

/** The 27 fields of struct user_regs_struct, in order, 8 bytes each. */
export const REGISTER_NAMES = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8',
  'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss',
  'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;
export type RegisterName = (typeof REGISTER_NAMES)[number];
export const USER_REGS_SIZE = REGISTER_NAMES.length * 8;

/** Registers that carry a system call's number and arguments, by ABI. */
export const SYSCALL64_ARG_REGISTERS: readonly RegisterName[] = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'];
export const INT80_ARG_REGISTERS: readonly RegisterName[] = ['rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp'];

/**
 * offsetof(struct user, u_debugreg): regs (216), u_fpvalid + pad (8),
 * i387 (512), u_tsize/u_dsize/u_ssize (24), start_code/start_stack (16),
 * signal (8), reserved + pad (8), u_ar0 (8), u_fpstate (8), magic (8), u_comm (32).
 */
export const USER_DEBUGREG_OFFSET = 848;
/** Each u_debugreg slot is one u64. */
export const USER_DEBUGREG_SIZE = 8;
export const DR_FIRSTADDR = 0;
export const DR_CONTROL = 7;
/** DR7: local enable of breakpoint 0; its R/W and LEN bits left 0 = break on instruction execution. */
export const DR7_LOCAL_ENABLE_DR0 = 1;
/** si_code of a SIGTRAP raised by a hardware breakpoint. */
export const TRAP_HWBKPT = 4;

/** x86-64 system call numbers for code injected into a tracee. */
export const NR = {
  mmap: 9,
  mprotect: 10,
  munmap: 11,
  rt_sigaction: 13,
  rt_sigprocmask: 14,
  rt_sigreturn: 15,
  getpid: 39,
  kill: 62,
  ptrace: 101,
  getppid: 110,
  prctl: SYS.prctl,
  exit_group: 231,
  tgkill: 234,
  seccomp: 317,
  mremap: SYS.mremap,
  arch_prctl: SYS.arch_prctl,
} as const;

/** i386 system call numbers, for int 0x80. */
export const NR32 = {
  mmap2: 192,
} as const;

/** An i386 system call's arguments and result are the low 32 bits of a register. */
export const I386_WORD_BITS = 32n;
export const I386_WORD_MASK = 0xffffffffn;
/** 2^32: a 32-bit result above I386_WORD_RANGE - MAX_ERRNO - 1 is a negative errno. */
export const I386_WORD_RANGE = 0x100000000n;
/** -1 as a 32-bit argument (the fd of an anonymous mmap2). */
export const I386_MINUS_ONE = 0xffffffffn;

/** Errors come back from a system call as -4095..-1. */
export const MAX_ERRNO = 4095;


/** rt_sigaction(2) with the kernel's struct sigaction: handler, flags, restorer, mask (8 bytes each). */
export const KERNEL_SIGACTION_SIZE = 32;
export const KERNEL_SIGACTION_HANDLER_OFFSET = 0;
export const KERNEL_SIGACTION_FLAGS_OFFSET = 8;
export const KERNEL_SIGACTION_RESTORER_OFFSET = 16;
export const SA_RESTORER = 0x04000000;
export const SIG_SETMASK = 2;

/** arch_prctl(2): map the 32-bit vDSO (CONFIG_IA32_EMULATION). */
export const ARCH_MAP_VDSO_32 = 0x2002;

/** prctl(2) and seccomp(2). */
export const PR_SET_NO_NEW_PRIVS = 38;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ERRNO = 0x00050000;
/** offsetof(struct seccomp_data, nr). */
export const SECCOMP_DATA_NR_OFFSET = 0;
/** Classic BPF opcodes (linux/bpf_common.h). */
export const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
export const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
export const BPF_RET_K = 0x06; // BPF_RET | BPF_K
/** struct sock_filter: u16 code, u8 jt, u8 jf, u32 k. struct sock_fprog: u16 len, pad, pointer. */
export const SOCK_FILTER_SIZE = 8;
export const SOCK_FILTER_CODE_OFFSET = 0;
export const SOCK_FILTER_JT_OFFSET = 2;
export const SOCK_FILTER_JF_OFFSET = 3;
export const SOCK_FILTER_K_OFFSET = 4;
export const SOCK_FPROG_SIZE = 16;
export const SOCK_FPROG_LEN_OFFSET = 0;
export const SOCK_FPROG_FILTER_OFFSET = 8;

/**
 * Machine code run inside a tracee. Each sequence ends in a trap (int3) so
 * the tracer gets the tracee back in a SIGTRAP stop.
 */
export const CODE = {
  /** syscall; int3 */
  SYSCALL_TRAP: Buffer.from([0x0f, 0x05, 0xcc]),
  /** int 0x80 (the i386 system call gate); int3 */
  INT80_TRAP: Buffer.from([0xcd, 0x80, 0xcc]),
  /** nop; nop; int3: the second nop is where a hardware breakpoint goes. */
  NOP_NOP_TRAP: Buffer.from([0x90, 0x90, 0xcc]),
  /** jmp . (a tight loop that never traps) */
  SPIN: Buffer.from([0xeb, 0xfe]),
  /** mov eax, 15 (rt_sigreturn); syscall: the signal restorer. */
  RT_SIGRETURN: Buffer.from([0xb8, NR.rt_sigreturn, 0x00, 0x00, 0x00, 0x0f, 0x05]),
} as const;

/** Where in CODE.NOP_NOP_TRAP the hardware breakpoint goes: the second nop. */
export const BREAKPOINT_TARGET_OFFSET = 1n;

/** The length of countingHandler's code: inc qword [rip + disp32] (7 bytes), ret (1). */
export const COUNTING_HANDLER_SIZE = 8;
/** The qword countingHandler increments. */
export const COUNTER_SIZE = 8;

/** inc qword [rip + disp32]; ret: a signal handler that counts its calls in the qword at `counter`. */
export function countingHandler(handlerAddress: bigint, counter: bigint): Buffer {
  const INC_QWORD_RIP_LENGTH = 7; // 48 ff 05 + disp32
  const code = Buffer.from([0x48, 0xff, 0x05, 0, 0, 0, 0, 0xc3]);
  code.writeInt32LE(Number(counter - (handlerAddress + BigInt(INC_QWORD_RIP_LENGTH))), 3);
  return code;
}

/** Signals not in constants.ts. */
export const SIGSEGV = 11;
/** What a seccomp filter's SECCOMP_RET_TRAP (or KILL_PROCESS, as seen in the wait status) delivers. */
export const SIGSYS = 31;
