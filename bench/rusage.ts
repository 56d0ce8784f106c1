// CPU time of whole process trees: getrusage(RUSAGE_CHILDREN) counts every
// child this process has waited for, with the children those waited for in
// turn (a CLI's runner, criu's helpers). Read before and after one
// spawnSync, with nothing else of ours running, the difference is that
// command's tree: user and system time together.
import koffi from 'koffi';

const RUSAGE_CHILDREN = -1;
/** struct rusage on x86-64: two timevals (user, system) of two longs each, then fourteen longs. */
const RUSAGE_SIZE = 144;

const getrusage = koffi.load('libc.so.6').func('int getrusage(int who, _Out_ uint8_t *usage)') as (
  who: number,
  usage: Buffer,
) => number;

/** User plus system time, in milliseconds, of every child reaped so far. */
export function childrenCpuMs(): number {
  const usage = Buffer.alloc(RUSAGE_SIZE);
  if (getrusage(RUSAGE_CHILDREN, usage) !== 0) throw new Error('getrusage(RUSAGE_CHILDREN) failed');
  const timeval = (offset: number) =>
    Number(usage.readBigInt64LE(offset)) * 1000 + Number(usage.readBigInt64LE(offset + 8)) / 1000;
  return timeval(0) + timeval(16);
}
