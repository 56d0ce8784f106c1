import t from 'tap';
import {
  HOST_ROOT_ENV,
  hostPath,
  hostRoot,
  parseMaps,
  parseMountInfo,
  parseStat,
  statusField,
  vmFlagsAt,
  procStat,
  ownChildren,
} from '../src/native/procfs.js';

t.test('parseStat reads ppid and pgrp after a command name that holds spaces and parentheses', async (t) => {
  const stat = parseStat('4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100');
  t.equal(stat.ppid, 17);
  t.equal(stat.pgrp, 4242);
  t.equal(stat.fields[0], 'S');
});

t.test("procStat of this process names this process's parent", async (t) => {
  t.equal(procStat('self')?.ppid, process.ppid);
  t.equal(procStat(2 ** 22 + 1), undefined, 'a pid that cannot exist has no stat');
});

t.test('statusField finds a field by its whole name, not by a prefix', async (t) => {
  const status = 'Name:\tnode\nSeccomp:\t2\nSeccomp_filters:\t1\nCapEff:\t000001ffffffffff\n';
  t.equal(statusField(status, 'Seccomp'), '2');
  t.equal(statusField(status, 'CapEff'), '000001ffffffffff');
  t.equal(statusField(status, 'NSpid'), undefined);
});

t.test('parseMaps reads range, device, inode and name, and anonymous mappings have an empty name', async (t) => {
  const maps = parseMaps(
    [
      '7f0000000000-7f0000002000 rw-s 00000000 00:2a 12345                      /tmp/a file',
      '7f0000003000-7f0000004000 rw-p 00000000 00:00 0 ',
      '',
    ].join('\n'),
  );
  t.same(maps[0], {
    start: 0x7f0000000000n,
    end: 0x7f0000002000n,
    perms: 'rw-s',
    major: 0,
    minor: 0x2a,
    inode: 12345n,
    name: '/tmp/a file',
  });
  t.equal(maps[1].name, '');
  t.equal(maps.length, 2);
});

t.test('parseMountInfo undoes octal escapes and keeps optional fields as tags', async (t) => {
  const [m] = parseMountInfo(
    '36 35 98:0 / /mnt/a\\040b rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n',
  );
  t.equal(m.mountPoint, '/mnt/a b');
  t.same(m.tags, ['master:1', 'shared:7']);
  t.equal(m.fsType, 'ext3');
  t.equal(m.superOptions, 'rw,errors=continue');
});

t.test('hostPath tries the path under the host root first, and only the path without one', async (t) => {
  t.same(hostPath('/boot/config-6.1', '/host'), ['/host/boot/config-6.1', '/boot/config-6.1']);
  t.same(hostPath('/boot/config-6.1', undefined), ['/boot/config-6.1']);
});

t.test(`${HOST_ROOT_ENV} is the host root, without its trailing slashes; empty means none`, async (t) => {
  const saved = process.env[HOST_ROOT_ENV];
  t.teardown(() => {
    if (saved === undefined) delete process.env[HOST_ROOT_ENV];
    else process.env[HOST_ROOT_ENV] = saved;
  });
  process.env[HOST_ROOT_ENV] = '/host//';
  t.equal(hostRoot(), '/host');
  process.env[HOST_ROOT_ENV] = '';
  t.equal(hostRoot(), undefined);
});

t.test('ownChildren lists a child this process started', async (t) => {
  const { spawn } = await import('node:child_process');
  const child = spawn('sleep', ['5']);
  t.teardown(() => child.kill('SIGKILL'));
  t.ok(ownChildren().includes(child.pid as number));
});

t.test("vmFlagsAt reads the VmFlags of the mapping that starts at the address, not a neighbour's", async (t) => {
  const smaps = [
    '7ffc1000-7ffc3000 r--p 00000000 00:00 0                          [vvar]',
    'Size:                  8 kB',
    'VmFlags: rd mr pf io de dd sl',
    '7ffc3000-7ffc5000 r-xp 00000000 00:00 0                          [vdso]',
    'Size:                  8 kB',
    'VmFlags: rd ex mr mw me de',
    '',
  ].join('\n');
  t.same(vmFlagsAt(smaps, 0x7ffc3000n), ['rd', 'ex', 'mr', 'mw', 'me', 'de']);
  t.ok(vmFlagsAt(smaps, 0x7ffc1000n).includes('sl'));
  t.same(vmFlagsAt(smaps, 0x1000n), []);
});
