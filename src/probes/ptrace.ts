// Checks that need a traced child. Each spawns its own tracee (src/native/tracee.ts),
// does what CRIU does in a forked child by running code inside the tracee
// through ptrace, and kills and reaps the tracee on every path.
import * as libc from '../native/libc.js';
import {
  errno as E,
  PTRACE_SETOPTIONS,
  PTRACE_PEEKSIGINFO,
  PTRACE_GETSIGMASK,
  PTRACE_O_EXITKILL,
  SIGINFO_SIZE,
  SIGSET_SIZE,
  SIGINFO_CODE_OFFSET,
  SIGUSR1,
  SIGTRAP,
  SYS,
  SYS32,
  INT80_ARG_REGISTERS,
  PTRACE_GETSIGINFO,
  PTRACE_POKEUSER,
  PTRACE_SECCOMP_GET_FILTER,
  PTRACE_GET_RSEQ_CONFIGURATION,
  PTRACE_O_SUSPEND_SECCOMP,
  PEEKSIGINFO_ARGS_SIZE,
  PEEKSIGINFO_OFF_OFFSET,
  PEEKSIGINFO_FLAGS_OFFSET,
  PEEKSIGINFO_NR_OFFSET,
  SIGINFO_SIGNO_OFFSET,
  RSEQ_CONFIGURATION_SIZE,
  RSEQ_CONF_SIZE_OFFSET,
  RSEQ_CONF_SIGNATURE_OFFSET,
  RSEQ_CONF_FLAGS_OFFSET,
  USER_DEBUGREG_OFFSET,
  USER_DEBUGREG_SIZE,
  DR_FIRSTADDR,
  DR_CONTROL,
  DR7_LOCAL_ENABLE_DR0,
  TRAP_HWBKPT,
  MAX_ERRNO,
  I386_WORD_BITS,
  I386_WORD_MASK,
  I386_WORD_RANGE,
  I386_MINUS_ONE,
  PAGE_SIZE,
  PROT_NONE,
  MAP_PRIVATE,
  MAP_ANONYMOUS,
  MREMAP_MAYMOVE,
  MREMAP_FIXED,
  KERNEL_SIGACTION_SIZE,
  KERNEL_SIGACTION_HANDLER_OFFSET,
  KERNEL_SIGACTION_FLAGS_OFFSET,
  KERNEL_SIGACTION_RESTORER_OFFSET,
  SA_RESTORER,
  SIG_SETMASK,
  ARCH_MAP_VDSO_32,
  PR_SET_NO_NEW_PRIVS,
  SECCOMP_SET_MODE_FILTER,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_DATA_NR_OFFSET,
  BPF_LD_W_ABS,
  BPF_JEQ_K,
  BPF_RET_K,
  SOCK_FILTER_SIZE,
  SOCK_FILTER_CODE_OFFSET,
  SOCK_FILTER_JT_OFFSET,
  SOCK_FILTER_JF_OFFSET,
  SOCK_FILTER_K_OFFSET,
  SOCK_FPROG_SIZE,
  SOCK_FPROG_LEN_OFFSET,
  SOCK_FPROG_FILTER_OFFSET,
  SIGSEGV,
  SIGSYS,
} from '../native/constants.js';
import {
  CODE,
  BREAKPOINT_TARGET_OFFSET,
  countingHandler,
  COUNTING_HANDLER_SIZE,
  COUNTER_SIZE,
  Tracee,
  asResult,
  describeState,
  type Registers,
} from '../native/tracee.js';
import { stop, supported, unsupported, unknown, type ProbeOutcome } from '../model.js';
import { fromErrno, errnoName } from './outcome.js';
import { kernelCommandLine, seccompMode } from '../native/procfs.js';
import { traced } from './resources.js';

/** A failed ptrace request: EIO is what the kernel answers to a request it does not know. */
function requestFailed(errno: number, what: string): ProbeOutcome {
  if (errno === E.EIO) return unsupported(`${what}: EIO (the kernel does not know this ptrace request)`);
  return fromErrno(errno, what);
}

/**
 * The Seccomp: line of /proc/self/status: the kernel refuses the seccomp ptrace requests to a tracer that is itself
 * filtered.
 */
function seccompRefused(errno: number, what: string): ProbeOutcome {
  const mode = seccompMode();
  if ((errno === E.EPERM || errno === E.EACCES) && mode !== '0') {
    return unknown(
      'PermissionDenied',
      `${what}: ${errnoName(errno)} (this process runs under ` +
        `seccomp mode ${mode}, and the kernel refuses a filtered tracer)`,
    );
  }
  if (errno === E.EPERM || errno === E.EACCES)
    return unknown('PermissionDenied', `${what}: ${errnoName(errno)} (needs CAP_SYS_ADMIN)`);
  return requestFailed(errno, what);
}

export function ptracePeeksiginfo(): ProbeOutcome {
  return traced((tracee) => {
    // A signal queued to the stopped tracee stays pending: PEEKSIGINFO must show it.
    const queued = libc.syscall(SYS.tgkill, ['int', tracee.pid], ['int', tracee.pid], ['int', SIGUSR1]);
    if (queued.ret < 0) return fromErrno(queued.errno, 'Unable to queue a signal to the child');
    const args = Buffer.alloc(PEEKSIGINFO_ARGS_SIZE);
    args.writeBigUInt64LE(0n, PEEKSIGINFO_OFF_OFFSET);
    args.writeUInt32LE(0, PEEKSIGINFO_FLAGS_OFFSET); // the thread's own queue
    args.writeInt32LE(1, PEEKSIGINFO_NR_OFFSET);
    const siginfo = Buffer.alloc(SIGINFO_SIZE);
    const peeked = tracee.request(PTRACE_PEEKSIGINFO, libc.addressOf(args), siginfo);
    if (peeked.ret < 0) return requestFailed(peeked.errno, 'Unable to dump pending signals');
    const signo = siginfo.readInt32LE(SIGINFO_SIGNO_OFFSET);
    if (peeked.ret !== 1 || signo !== SIGUSR1) {
      return unknown(
        'UnexpectedResult',
        `Unable to dump pending signals: got ${peeked.ret} signal(s), first ${signo}, expected signal ${SIGUSR1}`,
      );
    }
    const mask = Buffer.alloc(SIGSET_SIZE);
    const got = tracee.request(PTRACE_GETSIGMASK, SIGSET_SIZE, mask);
    if (got.ret < 0) return requestFailed(got.errno, 'Unable to dump signal blocking mask');
    return supported('PTRACE_PEEKSIGINFO showed the pending signal; PTRACE_GETSIGMASK answered');
  });
}

/**
 * Names of the special mappings CRIU moves; [vvar_vclock] is the vvar's second part since 6.13 (CRIU's vdso.c moves it
 * too).
 */
const SPECIAL_MAPPINGS = ['[vvar]', '[vvar_vclock]', '[vdso]', '[sigpage]'];
/** smaps' VmFlags code of a sealed mapping (mseal). */
const VM_SEALED = 'sl';

export function specialMappingMremap(): ProbeOutcome {
  return traced((tracee) => {
    const specials = tracee.mappings().filter((m) => SPECIAL_MAPPINGS.includes(m.name));
    if (specials.length === 0)
      return unknown('NotApplicable', 'The child has no [vdso] or [vvar] to move (vdso=0 on the kernel command line?)');
    // Move them as one block, so the vdso still finds its data at the same distance.
    const low = specials.reduce((a, m) => (m.start < a ? m.start : a), specials[0].start);
    const high = specials.reduce((a, m) => (m.end > a ? m.end : a), specials[0].end);
    const parking = tracee.injectSyscall(SYS.mmap, [0, high - low, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0]);
    if (parking.errno) return fromErrno(parking.errno, "Can't mmap a parking lot for the special mappings");
    for (const m of specials) {
      const target = parking.ret + (m.start - low);
      const moved = tracee.injectSyscall(SYS.mremap, [
        m.start,
        m.end - m.start,
        m.end - m.start,
        MREMAP_MAYMOVE | MREMAP_FIXED,
        target,
      ]);
      if (moved.errno === E.EPERM && tracee.vmFlags(m.start).includes(VM_SEALED)) {
        // Sealed by the kernel at exec (CONFIG_MSEAL_SYSTEM_MAPPINGS): no restore can move them, whatever the
        // privilege.
        return unsupported(
          `Can't mremap ${m.name}: EPERM, the system mappings are sealed (CONFIG_MSEAL_SYSTEM_MAPPINGS)`,
        );
      }
      if (moved.errno) return fromErrno(moved.errno, `Can't mremap ${m.name}`);
      if (moved.ret !== target) return unknown('UnexpectedResult', `mremap of ${m.name} went elsewhere than asked`);
    }

    // A SIGUSR1 handler (with our own restorer, as x86-64 requires) that counts its calls.
    const counter = tracee.placeData(Buffer.alloc(COUNTER_SIZE));
    const restorer = tracee.placeCode(CODE.RT_SIGRETURN);
    // Reserve the room first, then write the handler with the right displacement.
    const handlerAt = tracee.placeCode(Buffer.alloc(COUNTING_HANDLER_SIZE));
    tracee.write(handlerAt, countingHandler(handlerAt, counter));
    const action = Buffer.alloc(KERNEL_SIGACTION_SIZE);
    action.writeBigUInt64LE(handlerAt, KERNEL_SIGACTION_HANDLER_OFFSET);
    action.writeBigUInt64LE(BigInt(SA_RESTORER), KERNEL_SIGACTION_FLAGS_OFFSET);
    action.writeBigUInt64LE(restorer, KERNEL_SIGACTION_RESTORER_OFFSET);
    const installed = tracee.injectSyscall(SYS.rt_sigaction, [SIGUSR1, tracee.placeData(action), 0, SIGSET_SIZE]);
    if (installed.errno) return fromErrno(installed.errno, 'signal() failed');
    const unblocked = tracee.injectSyscall(SYS.rt_sigprocmask, [
      SIG_SETMASK,
      tracee.placeData(Buffer.alloc(SIGSET_SIZE)),
      0,
      SIGSET_SIZE,
    ]);
    if (unblocked.errno) return fromErrno(unblocked.errno, 'Can not unblock signals');

    // The tracee signals itself; we see the signal first (a signal-delivery stop) and pass it on.
    const site = tracee.placeCode(CODE.SYSCALL_TRAP);
    let state = tracee.run(site, { rax: BigInt(SYS.kill), rdi: BigInt(tracee.pid), rsi: BigInt(SIGUSR1) });
    if (state.kind === 'stopped' && state.signal === SIGTRAP) {
      // At the trap without a signal stop: the kill itself failed (a filter), which says nothing of mremap.
      const sent = asResult(tracee.getRegs().rax);
      if (sent.errno) return fromErrno(sent.errno, 'The child could not signal itself (kill)');
    }
    if (state.kind === 'stopped' && state.signal === SIGUSR1) {
      tracee.resume(SIGUSR1);
      state = tracee.wait();
    }
    if (state.kind !== 'stopped' || state.signal !== SIGTRAP) {
      return unsupported(
        `Child ${describeState(state)} after its special mappings moved. Your ` +
          `kernel probably lacks the support for mremapping special mappings`,
      );
    }
    const calls = tracee.peek(counter);
    if (calls !== 1n)
      return unsupported(`The signal handler ran ${calls} times, not once, after the special mappings moved`);

    state = tracee.run(site, { rax: BigInt(SYS.exit_group), rdi: 0n });
    if (state.kind === 'exited' && state.code === 0)
      return supported('the child moved its vdso, took a signal and exited 0');
    return unsupported(`Child ${describeState(state)}`);
  });
}

/** A filter that makes getppid fail with EPERM and allows everything else: its effect is visible. */
function denyGetppidFilter(): Buffer {
  const program: [code: number, jt: number, jf: number, k: number][] = [
    [BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR_OFFSET], // A = seccomp_data.nr
    [BPF_JEQ_K, 0, 1, SYS.getppid], // A == getppid ? next : skip one
    [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | E.EPERM],
    [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
  ];
  const filter = Buffer.alloc(program.length * SOCK_FILTER_SIZE);
  program.forEach(([code, jt, jf, k], i) => {
    filter.writeUInt16LE(code, i * SOCK_FILTER_SIZE + SOCK_FILTER_CODE_OFFSET);
    filter.writeUInt8(jt, i * SOCK_FILTER_SIZE + SOCK_FILTER_JT_OFFSET);
    filter.writeUInt8(jf, i * SOCK_FILTER_SIZE + SOCK_FILTER_JF_OFFSET);
    filter.writeUInt32LE(k, i * SOCK_FILTER_SIZE + SOCK_FILTER_K_OFFSET);
  });
  return filter;
}

/**
 * Make the tracee install `filter` itself (no_new_privs first, so no privilege
 * is needed) and show it applies: getppid fails with EPERM. An outcome when it could not.
 */
function installFilter(tracee: Tracee, filter: Buffer): ProbeOutcome | undefined {
  const program = Buffer.alloc(SOCK_FPROG_SIZE);
  program.writeUInt16LE(filter.length / SOCK_FILTER_SIZE, SOCK_FPROG_LEN_OFFSET);
  program.writeBigUInt64LE(tracee.placeData(filter), SOCK_FPROG_FILTER_OFFSET);
  const nnp = tracee.injectSyscall(SYS.prctl, [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0]);
  if (nnp.errno) return fromErrno(nnp.errno, "Can't set no_new_privs in the child");
  const set = tracee.injectSyscall(SYS.seccomp, [SECCOMP_SET_MODE_FILTER, 0, tracee.placeData(program)]);
  if (set.errno) return fromErrno(set.errno, "Can't install a seccomp filter in the child");
  const denied = tracee.injectSyscall(SYS.getppid);
  if (denied.errno !== E.EPERM)
    return unknown('UnexpectedResult', `The child's seccomp filter did not apply: getppid gave ${denied.ret}`);
  return undefined;
}

export function seccompSuspend(): ProbeOutcome {
  return traced((tracee) => {
    // A filter in the child first, so that suspending it has a visible effect.
    const noFilter = installFilter(tracee, denyGetppidFilter());
    const set = tracee.request(PTRACE_SETOPTIONS, 0, PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP);
    if (set.ret < 0) {
      if (set.errno === E.EINVAL) return unsupported("Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP");
      return seccompRefused(set.errno, "couldn't suspend seccomp");
    }
    // No filter to suspend (CONFIG_SECCOMP_FILTER off): the option was accepted, which is all CRIU checks.
    if (noFilter) return supported(`PTRACE_O_SUSPEND_SECCOMP accepted (not exercised: ${noFilter.message})`);
    const parent = tracee.injectSyscall(SYS.getppid);
    if (parent.ret === BigInt(process.pid))
      return supported('PTRACE_O_SUSPEND_SECCOMP accepted, and the child ran past its own filter');
    return unsupported(
      `PTRACE_O_SUSPEND_SECCOMP was accepted but the child's filter still applied (getppid gave ${parent.ret})`,
    );
  });
}

export function seccompFilters(): ProbeOutcome {
  return traced((tracee) => {
    const filter = denyGetppidFilter();
    const failed = installFilter(tracee, filter);
    if (failed) return failed;
    const count = tracee.request(PTRACE_SECCOMP_GET_FILTER, 0, null);
    if (count.ret < 0) return seccompRefused(count.errno, 'Dumping seccomp filters not supported');
    const dumped = Buffer.alloc(count.ret * SOCK_FILTER_SIZE);
    const got = tracee.request(PTRACE_SECCOMP_GET_FILTER, 0, dumped);
    if (got.ret < 0) return seccompRefused(got.errno, 'Dumping seccomp filters not supported');
    if (!dumped.equals(filter))
      return unknown(
        'UnexpectedResult',
        'PTRACE_SECCOMP_GET_FILTER returned a different program than the child installed',
      );
    return supported(`PTRACE_SECCOMP_GET_FILTER returned the child's ${count.ret}-instruction filter`);
  });
}

export function getRseqConf(): ProbeOutcome {
  return traced((tracee) => {
    const conf = Buffer.alloc(RSEQ_CONFIGURATION_SIZE);
    const got = tracee.request(PTRACE_GET_RSEQ_CONFIGURATION, RSEQ_CONFIGURATION_SIZE, conf);
    const warning =
      "ptrace(PTRACE_GET_RSEQ_CONFIGURATION) isn't supported. C/R of " + "processes which are using rseq() won't work.";
    if (got.ret < 0) return requestFailed(got.errno, warning);
    if (got.ret < RSEQ_CONFIGURATION_SIZE)
      return unknown('UnexpectedResult', `${warning} (it returned ${got.ret} bytes)`);
    const flags = conf.readUInt32LE(RSEQ_CONF_FLAGS_OFFSET);
    // CRIU refuses non-zero flags: a kernel that sets them has semantics CRIU does not know.
    if (flags !== 0)
      return unsupported(`ptrace(PTRACE_GET_RSEQ_CONFIGURATION): rseq.flags != 0 (0x${flags.toString(16)})`);
    const size = conf.readUInt32LE(RSEQ_CONF_SIZE_OFFSET);
    const signature = conf.readUInt32LE(RSEQ_CONF_SIGNATURE_OFFSET);
    // Not the rseq area's address: it changes from run to run.
    return supported(
      `PTRACE_GET_RSEQ_CONFIGURATION returned ${got.ret} bytes (rseq size ${size}, ` +
        `signature 0x${signature.toString(16)})`,
    );
  });
}

export function canMapVdso(): ProbeOutcome {
  return traced((tracee) => {
    // In the tracee, never in the runner: a successful call would map a vDSO into the caller.
    const mapped = tracee.injectSyscall(SYS.arch_prctl, [ARCH_MAP_VDSO_32, 0]);
    // EEXIST: the API exists and refuses a second vDSO, which is what CRIU counts on.
    if (!mapped.errno || mapped.errno === E.EEXIST)
      return supported(
        mapped.errno ? 'ARCH_MAP_VDSO_32: EEXIST (a vDSO is already mapped)' : 'ARCH_MAP_VDSO_32 mapped a vDSO',
      );
    return fromErrno(mapped.errno, 'Do not have API to map vDSO - will use mremap() to restore vDSO');
  });
}

/** What the kernel command line says about ia32 emulation, for messages. */
function ia32BootHint(): string {
  const cmdline = kernelCommandLine();
  return /(^|\s)ia32_emulation=(0|off|n)/.test(cmdline)
    ? ' (ia32_emulation is disabled on the kernel command line)'
    : '';
}

/** A 32-bit mmap2 through int 0x80 inside the tracee: the mapped address; a failure ends the probe. */
function mmap32(tracee: Tracee, site: bigint): bigint {
  const args = [
    0n,
    BigInt(PAGE_SIZE),
    BigInt(PROT_NONE),
    BigInt(MAP_PRIVATE | MAP_ANONYMOUS),
    I386_MINUS_ONE /* fd -1 */,
    0n,
  ];
  const set: Partial<Registers> = { rax: BigInt(SYS32.mmap2) };
  args.forEach((arg, i) => (set[INT80_ARG_REGISTERS[i]] = arg));
  const state = tracee.run(site, set);
  const refusedBySeccomp = (state.kind === 'stopped' || state.kind === 'killed') && state.signal === SIGSYS;
  if (refusedBySeccomp) {
    // A filter that allows only the native architecture (systemd's SystemCallArchitectures=native) answers with SIGSYS.
    stop(
      unknown(
        'PermissionDenied',
        `a seccomp filter refused the 32-bit system call ` +
          `(${describeState(state)}): the filter, not the kernel, answered`,
      ),
    );
  }
  if (state.kind !== 'stopped' || state.signal !== SIGTRAP) {
    const why = state.kind === 'stopped' && state.signal === SIGSEGV ? 'int 0x80 raised SIGSEGV' : describeState(state);
    stop(unsupported(`32-bit syscalls do not work: ${why}${ia32BootHint()}`));
  }
  const rax = tracee.getRegs().rax;
  // A 32-bit result: an error is -4095..-1 in the low 32 bits.
  const low = rax & I386_WORD_MASK;
  if (low > I386_WORD_RANGE - BigInt(MAX_ERRNO) - 1n)
    stop(fromErrno(Number(I386_WORD_RANGE - low), 'ia32 mmap() failed'));
  if (rax % BigInt(PAGE_SIZE) !== 0n || rax >> I386_WORD_BITS !== 0n)
    stop(unsupported('ia32 mmap() returned no 32-bit page address (the pre-4.12 32-bit mmap bug)'));
  return rax;
}

export function compatCr(): ProbeOutcome {
  return traced((tracee) => {
    // CRIU's 32-bit mmap bug test: map, unmap, map again; a kernel without the fix hands out a different address.
    const site = tracee.placeCode(CODE.INT80_TRAP);
    const first = mmap32(tracee, site);
    const unmapped = tracee.injectSyscall(SYS.munmap, [first, PAGE_SIZE]);
    if (unmapped.errno) return fromErrno(unmapped.errno, 'Failed to unmap() 32-bit mapping');
    const second = mmap32(tracee, site);
    if (second !== first)
      return unsupported(
        'compat_cr is not supported. Requires kernel >= v4.12 (32-bit mmap does not reuse the freed address)',
      );

    // Map a 32-bit vDSO for real, as CRIU's restorer does: the 64-bit one must go first.
    for (const m of tracee.mappings().filter((m) => SPECIAL_MAPPINGS.includes(m.name))) {
      const gone = tracee.injectSyscall(SYS.munmap, [m.start, m.end - m.start]);
      if (gone.errno) return fromErrno(gone.errno, `Can't unmap ${m.name}`);
    }
    const mapped = tracee.injectSyscall(SYS.arch_prctl, [ARCH_MAP_VDSO_32, 0]);
    if (mapped.errno) return fromErrno(mapped.errno, 'compat_cr is not supported: ARCH_MAP_VDSO_32 failed');
    if (!tracee.mappings().some((m) => m.name === '[vdso]'))
      return unknown('UnexpectedResult', 'ARCH_MAP_VDSO_32 succeeded but no [vdso] appeared');
    return supported(`int 0x80 mmap2 works and a ${mapped.ret}-byte 32-bit vDSO was mapped`);
  });
}

export function breakpoints(): ProbeOutcome {
  return traced((tracee) => {
    const code = tracee.placeCode(CODE.NOP_NOP_TRAP);
    const target = code + BREAKPOINT_TARGET_OFFSET; // the second nop
    const debugReg = (index: number) => USER_DEBUGREG_OFFSET + index * USER_DEBUGREG_SIZE;
    for (const [index, value, what] of [
      [DR_FIRSTADDR, target, 'Unable to setup a breakpoint'],
      [DR_CONTROL, BigInt(DR7_LOCAL_ENABLE_DR0), 'Unable to enable the breakpoint'],
    ] as const) {
      const poked = tracee.request(PTRACE_POKEUSER, debugReg(index), value);
      if (poked.ret < 0) {
        if (poked.errno === E.EINVAL || poked.errno === E.ENODEV) {
          return unsupported(`Hardware breakpoints don't seem to work: ${what}: ${errnoName(poked.errno)}`);
        }
        // Every debug register taken (perf, another debugger): busy now, not missing.
        if (poked.errno === E.ENOSPC)
          return unknown('UnexpectedResult', `${what}: ENOSPC (every hardware breakpoint slot is in use)`);
        return fromErrno(poked.errno, what);
      }
    }
    const state = tracee.run(code);
    if (state.kind !== 'stopped' || state.signal !== SIGTRAP)
      return unsupported(`Hardware breakpoints don't seem to work (the child ${describeState(state)})`);
    const rip = tracee.getRegs().rip;
    const siginfo = Buffer.alloc(SIGINFO_SIZE);
    const info = tracee.request(PTRACE_GETSIGINFO, 0, siginfo);
    if (info.ret < 0) return fromErrno(info.errno, "Can't get the child's siginfo");
    const siCode = siginfo.readInt32LE(SIGINFO_CODE_OFFSET);
    if (rip === target && siCode === TRAP_HWBKPT)
      return supported('a hardware breakpoint stopped the child with SIGTRAP');
    return unsupported(
      `Hardware breakpoints don't seem to work (the child stopped away from the breakpoint, si_code ${siCode})`,
    );
  });
}
