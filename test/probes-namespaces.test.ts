import t from 'tap';
import * as namespaces from '../src/probes/namespaces.js';
import { callProbe } from './helpers/direct.js';

t.test('timens and cgroupns: their /proc files are there on this kernel', async (t) => {
  t.match(callProbe(namespaces.timens), { status: 'supported' });
  t.match(callProbe(namespaces.cgroupns), { status: 'supported' });
});

t.test("ns_pid: this process's status shows NSpid", async (t) => {
  t.match(callProbe(namespaces.nsPid), { status: 'supported' });
});

t.test('external_net_ns: supported whatever the kernel, for it needs nothing of it', async (t) => {
  t.match(callProbe(namespaces.externalNetNs), { status: 'supported', message: 'no kernel dependency' });
});
