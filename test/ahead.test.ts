// The catalogue's `ahead`: the programs a probe will run, started at the
// beginning of a run, are the very ones it runs (collected, not run twice).
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOGUE } from '../src/catalogue.js';
import { endAhead } from '../src/native/program.js';
import { HOST_ROOT_ENV } from '../src/native/procfs.js';
import { addFiles, fake, makeRoot } from './helpers/hostroot.js';

const EARLY = CATALOGUE.filter((f) => f.ahead);

/** A fake program that notes each run of it in `log`, then prints `stdout`. */
function noted(name: string, log: string, stdout: string): { script: string } {
  return { script: `echo ${name} >> '${log}'\n${fake(stdout).script}` };
}

/** How many times each program ran, from the log. */
function runs(log: string): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!existsSync(log)) return counts;
  for (const name of readFileSync(log, 'latin1').split('\n').filter(Boolean)) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

function setEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/**
 * A host root holding every program the early probes run, each noting its
 * runs, made the probes' host (CRIU_READINESS_HOST_ROOT; PATH under it, for
 * has_ipt_legacy) until the test ends. Its log.
 */
function host(t: Test): string {
  const root = makeRoot(t);
  const log = join(root, 'runs.log');
  addFiles(root, {
    'usr/sbin/iptables-legacy-save': noted('iptables-legacy-save', log, 'iptables-save v1.8.9 (legacy)\n'),
    'usr/sbin/criu': noted('criu', log, 'Version: 4.2\n'),
    'usr/sbin/runc': noted('runc', log, 'runc version 1.1.5+ds1\n'),
    'usr/bin/crun': noted('crun', log, 'crun version 1.8.1\n+SYSTEMD +SECCOMP\n'),
    'usr/bin/containerd': noted('containerd', log, 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20\n'),
    'usr/bin/crio': noted('crio', log, 'crio version 1.36.0\n'),
    'usr/bin/kubelet': noted('kubelet', log, 'Kubernetes v1.31.0\n'),
  });
  const saved = [HOST_ROOT_ENV, 'PATH', 'CRIU'].map((name) => [name, process.env[name]] as const);
  t.teardown(() => saved.forEach(([name, value]) => setEnv(name, value)));
  process.env[HOST_ROOT_ENV] = root;
  process.env.PATH = join(root, 'usr/sbin');
  delete process.env.CRIU;
  return log;
}

async function probeAll(): Promise<void> {
  for (const f of EARLY) await f.probe();
  endAhead();
}

t.test('the probes that start programs ahead: the runtime chain and has_ipt_legacy', async (t) => {
  t.same(
    EARLY.map((f) => f.name),
    ['has_ipt_legacy', 'criu_version', 'oci_runtime', 'cri_checkpoint', 'kubelet_checkpoint'],
  );
});

t.test('each program started ahead is one its probe runs, collected by it: no run is added', async (t) => {
  let alone: Record<string, number> = {};
  await t.test('the probes alone', async (t) => {
    const log = host(t);
    await probeAll();
    alone = runs(log);
  });
  await t.test('the same probes with their programs started ahead', async (t) => {
    const log = host(t);
    for (const f of EARLY) f.ahead?.();
    // Every early run is let finish, so that a second run could not be the first one cut short.
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.same(
      runs(log),
      { 'iptables-legacy-save': 1, criu: 1, runc: 1, crun: 1, containerd: 1, crio: 1, kubelet: 1 },
      'each started ahead',
    );
    await probeAll();
    t.same(runs(log), alone, 'as many runs as the probes alone make');
  });
});
