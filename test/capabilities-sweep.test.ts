// Root with one capability taken away (setpriv, as a user would), and with
// all of them: a missing privilege is never a missing kernel feature, and
// each answer that changes is one the catalogue's `needs` foretells.
import t from 'tap';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { CAPABILITIES } from '../src/native/constants.js';
import { findFeature } from '../src/catalogue.js';
import type { Verdict } from '../src/model.js';
import { runAll, runOnce, RUN_BOUND_MS, type SweepRun } from './helpers/sweep.js';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const CHECK = ['check', '--all', '--json'];

function setprivAvailable(): boolean {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = !existsSync(built)
  ? 'dist/cli.js is not built (npm test builds it first)'
  : process.getuid?.() !== 0
    ? 'not root: there is no capability to take away'
    : !setprivAvailable()
      ? 'setpriv (util-linux) is not installed'
      : false;

t.setTimeout(20 * 60_000);

/** The kernel's names of the capabilities this kernel knows (cap_last_cap), as setpriv spells them. */
const LAST_CAP = existsSync('/proc/sys/kernel/cap_last_cap')
  ? Number(execFileSync('cat', ['/proc/sys/kernel/cap_last_cap']).toString())
  : 40;
const capabilities = Object.entries(CAPABILITIES)
  .filter(([, n]) => n <= LAST_CAP)
  .map(([name]) => name);

function without(caps: string, label: string): Promise<SweepRun> {
  return runOnce(label, 'setpriv', [
    `--inh-caps=-${caps}`,
    `--bounding-set=-${caps}`,
    '--',
    process.execPath,
    built,
    ...CHECK,
  ]);
}

const setprivName = (cap: string) => cap.replace(/^CAP_/, '').toLowerCase();

t.test('each capability taken away alone, then all of them', { skip, timeout: 20 * RUN_BOUND_MS }, async (t) => {
  const asRoot = await runOnce('root', process.execPath, [built, ...CHECK]);
  t.ok(asRoot.verdict, 'as root the check prints its JSON');
  if (!asRoot.verdict) return;
  const rootSays = new Map(asRoot.verdict.features.map((v) => [v.name, v]));
  const jobs = [...capabilities.map((cap) => () => without(setprivName(cap), cap)), () => without('all', 'all')];
  const runs = await runAll(jobs, 4);
  for (const run of runs) {
    t.test(
      `without ${run.label}: nothing root has is unsupported, and what changes is the catalogue's needs`,
      async (t) => {
        t.ok(run.verdict, `prints its JSON (exit ${run.code}): ${run.stderr.slice(0, 300)}`);
        const problems: string[] = [];
        for (const v of run.verdict?.features ?? []) {
          const root: Verdict | undefined = rootSays.get(v.name);
          if (root?.status !== 'supported' || v.status === 'supported') continue;
          if (v.status === 'unsupported') problems.push(`${v.name}: unsupported, root's supported: ${v.message}`);
          const needs = findFeature(v.name)?.needs ?? '';
          if (run.label !== 'all' && !needs.includes(run.label))
            problems.push(
              `${v.name}: changed (${v.reason}: ${v.message}), its needs do not name ${run.label}: "${needs}"`,
            );
          if (run.label !== 'all' && !/needs /.test(v.hint))
            problems.push(`${v.name}: its hint does not say what it needs: ${v.hint}`);
        }
        t.same(problems, []);
      },
    );
  }
});
