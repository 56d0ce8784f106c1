// The bench's memory cgroup: which hierarchy it is made in, how the charge
// is split, that what runs in it is charged, and that removing it leaves
// nothing behind. No timing: the bench's figures are never asserted here.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeMemoryCgroup, mountPoint, ownCgroup, parseBreakdown } from '../bench/cgroup.js';

const HYBRID = ['4:memory:/jobs/this', '1:cpu:/', '0::/'].join('\n');
const UNIFIED = '0::/system.slice/bench.service\n';

t.test("v1's memory line wins over the unified line on a hybrid host", async (t) => {
  t.same(ownCgroup(HYBRID), { version: 'v1', path: '/jobs/this' });
});

t.test('a controller listed with others on one v1 line is found', async (t) => {
  t.same(ownCgroup('3:cpu,memory:/a\n0::/'), { version: 'v1', path: '/a' });
});

t.test('cgroup v2 alone gives the unified path', async (t) => {
  t.same(ownCgroup(UNIFIED), { version: 'v2', path: '/system.slice/bench.service' });
});

t.test('no memory line and no unified line is no cgroup', async (t) => {
  t.equal(ownCgroup('1:cpu:/\n'), undefined);
});

const MOUNTINFO = [
  '30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
  '34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '35 30 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

t.test('the v1 hierarchy found is the one mounted with the memory controller', async (t) => {
  t.equal(mountPoint(MOUNTINFO, 'v1'), '/sys/fs/cgroup/memory');
});

t.test('the cgroup2 mount is found wherever it is', async (t) => {
  t.equal(mountPoint(MOUNTINFO, 'v2'), '/sys/fs/cgroup/unified');
});

t.test('a mount of part of a hierarchy is not taken for the whole', async (t) => {
  t.equal(mountPoint('40 30 0:36 /sub /mnt/cg rw - cgroup2 cgroup2 rw', 'v2'), undefined);
});

t.test("v1's breakdown: hierarchical anon and cache, the rest of the charge is the kernel's", async (t) => {
  const stat = 'rss 1\ncache 2\ntotal_rss 1000\ntotal_cache 300\ntotal_inactive_file 100\n';
  t.same(parseBreakdown(stat, 'v1', 1500), { anon: 1000, file: 300, kernel: 200 });
});

t.test("v2's breakdown: its own anon, file and kernel counters", async (t) => {
  t.same(parseBreakdown('anon 1000\nfile 300\nkernel 150\nsock 0\n', 'v2', 1500), {
    anon: 1000,
    file: 300,
    kernel: 150,
  });
});

t.test('a process put in the cgroup is charged there, and removing it leaves nothing', async (t) => {
  const cgroup = makeMemoryCgroup(`criu-readiness-test-${process.pid}`);
  if (typeof cgroup === 'string') {
    t.comment(`skipped: no memory cgroup can be made here: ${cgroup}`);
    t.pass('nothing to check without a memory cgroup');
    return;
  }
  // A shell that joins the cgroup, then a Node that touches 32 MiB of anonymous memory, says so and waits.
  const child = spawn(
    'sh',
    [
      '-c',
      'echo $$ > "$0" && exec node -e "globalThis.b = Buffer.alloc(32 << 20, 1); console.log(1); setInterval(() => {}, 1000)"',
      join(cgroup.path, 'cgroup.procs'),
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    await new Promise((resolve) => child.stdout.once('data', resolve));
    t.same(cgroup.pids(), [child.pid], 'the process is in it');
    t.ok(cgroup.current() >= 32 << 20, 'its memory is charged to it');
    t.ok(cgroup.breakdown().anon >= 32 << 20, 'as anonymous memory');
  } finally {
    await cgroup.remove();
  }
  t.notOk(existsSync(cgroup.path), 'the cgroup is gone');
  t.notOk(readFileSync(`/proc/${process.pid}/cgroup`, 'utf8').includes('criu-readiness-test'), 'we were never in it');
});
