import t from 'tap';
import { splitDev } from '../src/native/constants.js';

/** glibc's gnu_dev_makedev: how a (major, minor) pair is packed into a dev_t. */
function makedev(major: bigint, minor: bigint): bigint {
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
}

t.test("splitDev undoes glibc's makedev, for small and large majors and minors", async (t) => {
  for (const [major, minor] of [
    [8n, 1n],
    [0n, 42n],
    [259n, 0x12345n],
    [0x12345n, 7n],
    [0xfffffn, 0xfffffn],
  ]) {
    t.same(splitDev(makedev(major, minor)), { major: Number(major), minor: Number(minor) }, `${major}:${minor}`);
  }
});
