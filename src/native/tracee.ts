// A sacrificial traced process, and code execution inside it by ptrace alone
// (as CRIU's parasite injection does). The tracee is a posix_spawn'ed copy of
// node, seized and stopped at once (usually still on its way out of execve,
// before its first instruction): it never resumes its own code, only what we
// place in it, and it is always killed and reaped before the probe returns.
import { closeSync, openSync, readSync } from 'node:fs';
import * as libc from './libc.js';
import {
  errno as E,
  O_CLOEXEC,
  PTRACE_CONT,
  PTRACE_SEIZE,
  PTRACE_INTERRUPT,
  PTRACE_O_EXITKILL,
  WNOHANG,
  __WALL,
  SIGTRAP,
  SYS,
  REGISTER_NAMES,
  USER_REGS_SIZE,
  SYSCALL64_ARG_REGISTERS,
  PTRACE_PEEKDATA,
  PTRACE_POKEDATA,
  PTRACE_GETREGS,
  PTRACE_SETREGS,
  PTRACE_EVENT_STOP,
  MAX_ERRNO,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  PROT_EXEC,
  MAP_PRIVATE,
  MAP_ANONYMOUS,
  type RegisterName,
} from './constants.js';
import { childReaped, childSpawned } from './children.js';
import { procMaps, procVmFlags, threadCount, type Mapping } from './procfs.js';

/** argv[0] of every tracee, so a leftover one is recognisable in /proc/PID/cmdline. */
export const TRACEE_ARGV0 = 'criu-readiness-tracee';
/**
 * The tracee is this node binary's ELF interpreter (ld.so), asked to load a
 * program from its stdin, which is an empty pipe whose write end we hold: it
 * blocks in its first read, single-threaded, before it has loaded anything,
 * however long the runner is descheduled. So it is always there to be seized.
 */
const TRACEE_PROGRAM_ARG = '/proc/self/fd/0';

/** Elf64_Ehdr (<elf.h>): its size, and where the program header table's offset, entry size and entry count sit. */
const ELF64_EHDR_SIZE = 64;
const E_PHOFF_OFFSET = 32;
const E_PHENTSIZE_OFFSET = 54;
const E_PHNUM_OFFSET = 56;
/** Elf64_Phdr: where the segment's type, file offset and size in the file sit. */
const P_TYPE_OFFSET = 0;
const P_OFFSET_OFFSET = 8;
const P_FILESZ_OFFSET = 32;
/** p_type of the segment that names the program's interpreter. */
const PT_INTERP = 3;

/** How many children to try before giving up on stopping one before it runs. */
const SPAWN_ATTEMPTS = 5;

/** How long a tracee may take to reach a stop before it counts as hung. */
const DEFAULT_STOP_TIMEOUT_MS = 2000;

/** Scratch memory mapped in the tracee: one code page (r-x), then data and stack pages (rw-). */
const SCRATCH_CODE_PAGES = 1;
const SCRATCH_DATA_PAGES = 1;
/** Room for a signal frame with a large xsave area. */
const SCRATCH_STACK_PAGES = 4;
const STACK_ALIGNMENT = 16n;

export type Registers = Record<RegisterName, bigint>;

/** How a wait for the tracee ended. */
export type TraceeState = libc.WaitState;

/** A ptrace or wait failure, or the tracee doing something it should not have. */
export class TraceeError extends Error {
  constructor(
    readonly operation: string,
    /** The errno of the failed call; 0 when the failure was not a call's. */
    readonly errno: number,
    detail: string,
  ) {
    super(`${operation}: ${detail}`);
    this.name = 'TraceeError';
  }
}

/** The result of a system call run inside the tracee: rax, and the errno it means. */
export interface InjectedResult {
  ret: bigint;
  errno: number;
}

export function describeState(state: TraceeState): string {
  switch (state.kind) {
    case 'exited':
      return `exited with ${state.code}`;
    case 'killed':
      return `killed by signal ${state.signal}`;
    case 'stopped':
      return `stopped by signal ${state.signal}${state.event ? ` (event ${state.event})` : ''}`;
  }
}

/**
 * x86-64 machine code run inside a tracee. Each sequence ends in a trap
 * (int3) so the tracer gets the tracee back in a SIGTRAP stop.
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
  /** mov eax, SYS.rt_sigreturn; syscall: the signal restorer. */
  RT_SIGRETURN: Buffer.from([0xb8, SYS.rt_sigreturn, 0x00, 0x00, 0x00, 0x0f, 0x05]),
  /**
   * For clone_parent_vs_pid: a clone whose child exits at once with 0
   * (CRIU's clone_cb does exit(0)), while the caller jumps over that to an
   * int3 that hands it back to the tracer.
   *   syscall; test rax, rax; jnz +9; mov eax, SYS.exit; xor edi, edi; syscall; int3
   */
  CLONE_CHILD_EXITS: Buffer.from([
    0x0f,
    0x05,
    0x48,
    0x85,
    0xc0,
    0x75,
    0x09,
    0xb8,
    SYS.exit,
    0x00,
    0x00,
    0x00,
    0x31,
    0xff,
    0x0f,
    0x05,
    0xcc,
  ]),
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

/** A system call's raw return value, classified. */
export function asResult(rax: bigint): InjectedResult {
  const ret = BigInt.asIntN(64, rax);
  return { ret, errno: ret < 0n && ret >= -BigInt(MAX_ERRNO) ? Number(-ret) : 0 };
}

interface Scratch {
  code: bigint;
  data: bigint;
  stackTop: bigint;
  codeUsed: number;
  dataUsed: number;
}

export class Tracee {
  private reaped = false;
  /** The registers at the first stop: every run starts from them. */
  private readonly entry: Registers;
  private scratchArea: Scratch | undefined;
  /** While the scratch pages are being mapped: the stopped instruction, overwritten with `syscall; int3`. */
  private bootstrapSite: bigint | undefined;

  private constructor(readonly pid: number) {
    try {
      this.entry = this.getRegs();
    } catch (err) {
      killAndReap(pid);
      throw err;
    }
  }

  /**
   * Spawn, seize and stop a tracee. Throws TraceeError; never leaves a process behind.
   * A child that ran ahead of us (its runner was descheduled long enough for it to exit
   * or start threads) is discarded and another one spawned.
   */
  static spawn(): Tracee {
    let why = '';
    for (let attempt = 1; attempt <= SPAWN_ATTEMPTS; attempt++) {
      const made = seizeNewChild();
      if (typeof made === 'number') return new Tracee(made);
      why = made.ranAway;
    }
    throw new TraceeError(
      'spawn',
      0,
      `the child ran on before it could be stopped, ${SPAWN_ATTEMPTS} times (last: ${why})`,
    );
  }

  get alive(): boolean {
    return !this.reaped;
  }

  /** A raw ptrace(2) request on this tracee; data is a buffer (its address) or a number. */
  request(request: number, addr: number | bigint, data: Buffer | number | bigint | null): libc.SysResult {
    return libc.ptrace(request, this.pid, addr, data);
  }

  /** A request that must succeed: TraceeError otherwise. */
  private must(request: number, name: string, addr: number | bigint, data: Buffer | number | bigint | null): number {
    const res = this.request(request, addr, data);
    // No pid in these messages: they become probe messages, which must not change from run to run.
    if (res.ret < 0) throw new TraceeError(name, res.errno, 'failed on the tracee');
    return res.ret;
  }

  getRegs(): Registers {
    const raw = Buffer.alloc(USER_REGS_SIZE);
    this.must(PTRACE_GETREGS, 'PTRACE_GETREGS', 0, raw);
    const regs = {} as Registers;
    REGISTER_NAMES.forEach((name, i) => (regs[name] = raw.readBigUInt64LE(i * 8)));
    return regs;
  }

  setRegs(regs: Registers): void {
    const raw = Buffer.alloc(USER_REGS_SIZE);
    REGISTER_NAMES.forEach((name, i) => raw.writeBigUInt64LE(BigInt.asUintN(64, regs[name]), i * 8));
    this.must(PTRACE_SETREGS, 'PTRACE_SETREGS', 0, raw);
  }

  peek(addr: bigint): bigint {
    const word = Buffer.alloc(8);
    this.must(PTRACE_PEEKDATA, 'PTRACE_PEEKDATA', addr, word);
    return word.readBigUInt64LE();
  }

  poke(addr: bigint, word: bigint): void {
    this.must(PTRACE_POKEDATA, 'PTRACE_POKEDATA', addr, BigInt.asIntN(64, word));
  }

  /** Read tracee memory word by word. */
  read(addr: bigint, length: number): Buffer {
    const start = addr & ~7n;
    const words = Math.ceil((Number(addr - start) + length) / 8);
    const buf = Buffer.alloc(words * 8);
    for (let i = 0; i < words; i++) buf.writeBigUInt64LE(this.peek(start + BigInt(i * 8)), i * 8);
    return buf.subarray(Number(addr - start), Number(addr - start) + length);
  }

  /** Write tracee memory (also read-only text: ptrace writes through, copy-on-write). */
  write(addr: bigint, bytes: Buffer): void {
    const start = addr & ~7n;
    const offset = Number(addr - start);
    const words = Math.ceil((offset + bytes.length) / 8);
    const buf = Buffer.alloc(words * 8);
    // Keep the bytes around the edges that are not ours.
    buf.writeBigUInt64LE(this.peek(start), 0);
    if (words > 1) buf.writeBigUInt64LE(this.peek(start + BigInt((words - 1) * 8)), (words - 1) * 8);
    bytes.copy(buf, offset);
    for (let i = 0; i < words; i++) this.poke(start + BigInt(i * 8), buf.readBigUInt64LE(i * 8));
  }

  /** PTRACE_CONT, delivering `signal` (0: none). */
  resume(signal = 0): void {
    this.must(PTRACE_CONT, 'PTRACE_CONT', 0, signal);
  }

  /** Wait for the next stop or the end; an end means the tracee is reaped. */
  wait(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): TraceeState {
    const state = waitFor(this.pid, timeoutMs);
    if (state.kind !== 'stopped') this.markReaped();
    return state;
  }

  /**
   * Run from `at` with the entry registers changed by `set` (the stack is the
   * scratch stack once mapped) until the next stop or the end.
   */
  run(at: bigint, set: Partial<Registers> = {}, timeoutMs = DEFAULT_STOP_TIMEOUT_MS): TraceeState {
    const stackTop = this.scratchArea?.stackTop ?? this.entry.rsp;
    // orig_rax -1: the kernel must not treat this as the return from an interrupted syscall and restart it.
    this.setRegs({ ...this.entry, orig_rax: -1n, rsp: stackTop, ...set, rip: at });
    this.resume();
    return this.wait(timeoutMs);
  }

  /** Run a system call inside the tracee with the 64-bit ABI. */
  injectSyscall(nr: number, args: readonly (number | bigint)[] = []): InjectedResult {
    const set: Partial<Registers> = { rax: BigInt(nr) };
    args.forEach((arg, i) => (set[SYSCALL64_ARG_REGISTERS[i]] = BigInt(arg)));
    const state = this.run(this.syscallSite(), set);
    return asResult(this.expectTrap(state, `system call ${nr}`).rax);
  }

  /** After run(): the registers at the int3 that ends placed code, or TraceeError for any other stop. */
  expectTrap(state: TraceeState, what: string): Registers {
    if (state.kind !== 'stopped' || state.signal !== SIGTRAP) {
      throw new TraceeError(what, 0, `the tracee ${describeState(state)} instead of reaching its trap`);
    }
    return this.getRegs();
  }

  /** Copy code into the scratch code page; returns its address. */
  placeCode(bytes: Buffer): bigint {
    const scratch = this.scratch();
    const at = scratch.code + BigInt(scratch.codeUsed);
    if (scratch.codeUsed + bytes.length > SCRATCH_CODE_PAGES * PAGE_SIZE)
      throw new TraceeError('placeCode', 0, 'scratch code page full');
    this.write(at, bytes);
    scratch.codeUsed += bytes.length;
    return at;
  }

  /** Copy data into the scratch data page (8-byte aligned); returns its address. */
  placeData(bytes: Buffer): bigint {
    const scratch = this.scratch();
    const at = scratch.data + BigInt(scratch.dataUsed);
    if (scratch.dataUsed + bytes.length > SCRATCH_DATA_PAGES * PAGE_SIZE)
      throw new TraceeError('placeData', 0, 'scratch data page full');
    this.write(at, bytes);
    scratch.dataUsed += Math.ceil(bytes.length / 8) * 8;
    return at;
  }

  /** The tracee's mappings (/proc/PID/maps), with their names ('' for anonymous ones). */
  mappings(): Mapping[] {
    return procMaps(this.pid);
  }

  /** The VmFlags (two-letter codes, /proc/PID/smaps) of the mapping that starts at `start`. */
  vmFlags(start: bigint): string[] {
    return procVmFlags(start, this.pid);
  }

  /** Kill and reap. Safe to call twice. */
  close(): void {
    if (this.reaped) return;
    killAndReap(this.pid);
    this.reaped = true;
  }

  private markReaped(): void {
    this.reaped = true;
    childReaped(this.pid);
  }

  /** Where injected system calls run: the start of the scratch code page (mapped on first use). */
  private syscallSite(): bigint {
    return this.bootstrapSite ?? this.scratch().code;
  }

  /** Map the scratch pages, using a `syscall; int3` written over the stopped instruction (then put back). */
  private scratch(): Scratch {
    if (this.scratchArea) return this.scratchArea;
    const site = this.entry.rip;
    const original = this.peek(site);
    this.write(site, CODE.SYSCALL_TRAP);
    this.bootstrapSite = site;
    const pages = SCRATCH_CODE_PAGES + SCRATCH_DATA_PAGES + SCRATCH_STACK_PAGES;
    let code: bigint;
    try {
      const mapped = this.injectSyscall(SYS.mmap, [
        0,
        pages * PAGE_SIZE,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
      ]);
      if (mapped.errno) throw new TraceeError('mmap in the tracee', mapped.errno, 'cannot map scratch memory');
      code = BigInt.asUintN(64, mapped.ret);
      const sealed = this.injectSyscall(SYS.mprotect, [code, SCRATCH_CODE_PAGES * PAGE_SIZE, PROT_READ | PROT_EXEC]);
      if (sealed.errno)
        throw new TraceeError('mprotect in the tracee', sealed.errno, 'cannot make scratch code executable');
    } finally {
      this.bootstrapSite = undefined;
    }
    this.poke(site, original);
    const data = code + BigInt(SCRATCH_CODE_PAGES * PAGE_SIZE);
    const end = code + BigInt(pages * PAGE_SIZE);
    this.scratchArea = { code, data, stackTop: end - STACK_ALIGNMENT, codeUsed: 0, dataUsed: 0 };
    // The first thing in the code page: the site for every later injected syscall.
    this.placeCode(CODE.SYSCALL_TRAP);
    return this.scratchArea;
  }
}

/**
 * Start a child and stop it: its pid, stopped, single-threaded and traced; or why
 * it got away (it is then reaped). Throws TraceeError when the kernel refuses.
 */
function seizeNewChild(): number | { ranAway: string } {
  const loader = elfInterpreter(process.execPath);
  const pipe = [-1, -1];
  const piped = libc.pipe2(pipe, O_CLOEXEC);
  if (piped.ret < 0) throw new TraceeError('pipe2', piped.errno, 'cannot make the tracee its pipe');
  let spawned: { pid: number; error: number };
  try {
    spawned = loader
      ? libc.spawn(loader, [TRACEE_ARGV0, TRACEE_PROGRAM_ARG], { stdin: pipe[0] })
      : libc.spawn(process.execPath, [TRACEE_ARGV0, '--version']); // a static node: a race we retry
  } catch (err) {
    libc.close(pipe[1]);
    throw err;
  } finally {
    // The tracee holds its own copy of the read end; once it is stopped, the
    // write end no longer matters (it is killed, never resumed to read on).
    libc.close(pipe[0]);
  }
  const writeEnd = pipe[1];
  if (spawned.error !== 0) {
    libc.close(writeEnd);
    throw new TraceeError('posix_spawn', spawned.error, `cannot start ${loader ?? process.execPath}`);
  }
  try {
    return seizeSpawned(spawned.pid);
  } finally {
    libc.close(writeEnd);
  }
}

let interpreterCache: { path: string; interpreter: string | undefined } | undefined;

/** The PT_INTERP path of an ELF executable (its dynamic loader), or undefined for a static one. */
function elfInterpreter(path: string): string | undefined {
  if (interpreterCache?.path === path) return interpreterCache.interpreter;
  let interpreter: string | undefined;
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(ELF64_EHDR_SIZE);
    readSync(fd, header, 0, ELF64_EHDR_SIZE, 0);
    const phoff = Number(header.readBigUInt64LE(E_PHOFF_OFFSET));
    const phentsize = header.readUInt16LE(E_PHENTSIZE_OFFSET);
    const phnum = header.readUInt16LE(E_PHNUM_OFFSET);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const entry = table.subarray(i * phentsize);
      if (entry.readUInt32LE(P_TYPE_OFFSET) !== PT_INTERP) continue;
      const name = Buffer.alloc(Number(entry.readBigUInt64LE(P_FILESZ_OFFSET)));
      readSync(fd, name, 0, name.length, Number(entry.readBigUInt64LE(P_OFFSET_OFFSET)));
      interpreter = name.toString('latin1').replace(/\0.*$/s, '');
    }
  } finally {
    closeSync(fd);
  }
  interpreterCache = { path, interpreter };
  return interpreter;
}

/** Seize and stop a child just spawned: see seizeNewChild. */
function seizeSpawned(pid: number): number | { ranAway: string } {
  childSpawned(pid);
  /** Whether the child is still ours to kill and reap when this function ends. */
  let mustKill = true;
  try {
    // EXITKILL: if the runner dies, the kernel kills the tracee.
    const seized = libc.ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL);
    if (seized.ret < 0) {
      // A child that already exited is a zombie, and seizing a zombie fails with EPERM: not a privilege problem.
      const gone = reapIfGone(pid);
      if (gone) {
        mustKill = false;
        return { ranAway: describeState(gone) };
      }
      throw new TraceeError('PTRACE_SEIZE', seized.errno, 'Unable to ptrace the child');
    }
    const interrupted = libc.ptrace(PTRACE_INTERRUPT, pid, 0, 0);
    if (interrupted.ret < 0) throw new TraceeError('PTRACE_INTERRUPT', interrupted.errno, 'Unable to stop the child');
    // An exiting child ignores the interrupt and is reported exited instead (and is reaped by that wait).
    const state = waitFor(pid, DEFAULT_STOP_TIMEOUT_MS);
    if (state.kind !== 'stopped') {
      mustKill = false;
      childReaped(pid);
      return { ranAway: describeState(state) };
    }
    if (state.event !== PTRACE_EVENT_STOP)
      throw new TraceeError('PTRACE_INTERRUPT', 0, `the child ${describeState(state)} instead of stopping`);
    // Only the thread we seized is stopped: a thread started before the seize would run on.
    const threads = threadCount(pid);
    if (threads !== 1) return { ranAway: `it had started ${threads} threads` };
    mustKill = false; // handed over: the Tracee owns it now
    return pid;
  } finally {
    if (mustKill) killAndReap(pid);
  }
}

/** If the child has ended, reap it and say how it ended. */
function reapIfGone(pid: number): TraceeState | undefined {
  const status = [0];
  const res = libc.waitpid(pid, status, __WALL | WNOHANG);
  if (res.ret !== pid) return undefined;
  childReaped(pid);
  return libc.decodeWaitStatus(status[0]);
}

/** waitpid with a deadline, so a hung tracee cannot hang the runner. */
function waitFor(pid: number, timeoutMs: number): TraceeState {
  const state = libc.waitWithDeadline(pid, __WALL, timeoutMs);
  if (state.kind === 'failed') throw new TraceeError('waitpid', state.errno, 'cannot wait for the tracee');
  if (state.kind === 'timeout')
    throw new TraceeError('waitpid', E.ETIMEDOUT, `the tracee did not stop within ${timeoutMs} ms`);
  return state;
}

/**
 * SIGKILL ends a traced process from any stop; wait until it is gone and
 * reaped. A kill that was refused (a seccomp filter on this process) is
 * thrown rather than waited for: the engine kills what it was told of.
 */
function killAndReap(pid: number): void {
  const ended = libc.killAndWait(pid, DEFAULT_STOP_TIMEOUT_MS);
  if (!ended.gone)
    throw new TraceeError(
      'kill',
      ended.killErrno,
      `the tracee could not be killed (${ended.killErrno}) and did not exit within ${DEFAULT_STOP_TIMEOUT_MS} ms`,
    );
  childReaped(pid);
}

/** Run `test` on a fresh tracee; the tracee is killed and reaped however `test` ends. */
export function withTracee<T>(test: (tracee: Tracee) => T): T {
  const tracee = Tracee.spawn();
  try {
    return test(tracee);
  } finally {
    tracee.close();
  }
}
