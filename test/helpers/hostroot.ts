// Fixture host roots for the runtime checks: a temporary tree standing for
// the host's /, with configuration files and fake programs, removed after the
// test. And Debian's real criu, runc, crun, containerd, unpacked (never
// installed) by scripts/debian-criu.sh, for behaviour that is theirs.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, runtimeEnv, type RuntimeEnv } from '../../src/probes/runtime/host.js';
import { TS_LOADER } from './node.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(here, '..', 'fixtures', 'hostroots');
const REPO = join(here, '..', '..');

interface Teardown {
  teardown(fn: () => void): void;
}

/** A file's content; `script` files are made executable. */
export type Tree = Record<string, string | { script: string }>;

/** A temporary host root holding `tree` (and, first, the fixture directory `fixture`), removed at teardown. */
export function makeRoot(t: Teardown, tree: Tree = {}, fixture?: string): string {
  const root = mkdtempSync(join(tmpdir(), 'criu-readiness-hostroot-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  if (fixture) cpSync(join(FIXTURES, fixture), root, { recursive: true });
  addFiles(root, tree);
  return root;
}

export function addFiles(root: string, tree: Tree): void {
  for (const [path, content] of Object.entries(tree)) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    if (typeof content === 'string') {
      writeFileSync(file, content);
    } else {
      writeFileSync(file, `#!/bin/sh\n${content.script}\n`);
      chmodSync(file, 0o755);
    }
  }
}

/** A fake program printing `stdout` (and `stderr`) and exiting with `code`. */
export function fake(stdout: string, code = 0, stderr = ''): { script: string } {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return { script: `printf '%s' ${quote(stdout)}${stderr ? `\nprintf '%s' ${quote(stderr)} >&2` : ''}\nexit ${code}` };
}

/** The checks' environment for a fixture root: no PATH of ours, so only the root's system directories count. */
export function envFor(root: string, extra: Partial<RuntimeEnv> = {}): RuntimeEnv {
  return { root, path: '', ...extra };
}

/** Unpack Debian's package (scripts/debian-criu.sh): its directory, or why not (to skip with). */
export function debianPackage(pkg: string): { dir: string } | { skip: string } {
  if (process.geteuid?.() !== 0)
    return { skip: `needs root to fetch Debian's ${pkg} with apt-get (scripts/debian-criu.sh)` };
  try {
    const out = execFileSync(join(REPO, 'scripts', 'debian-criu.sh'), [pkg], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    const dir = out.trim().split('\n').at(-1)?.split(' ')[1];
    return dir ? { dir } : { skip: `scripts/debian-criu.sh ${pkg} printed no directory` };
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err)
      .trim()
      .split('\n')
      .slice(-1)[0];
    return { skip: `Debian's ${pkg} could not be fetched (apt unreachable?): ${stderr}` };
  }
}

/**
 * A criu that can start on this kernel, for the real dump and restore: $CRIU
 * (taken as given: a CRIU that fails is a failure), else the first criu on
 * PATH or in the system directories when its `criu check` gets past criu's
 * start; or why there is none (to skip with).
 */
export function workingCriu(): { criu: string } | { skip: string } {
  if (process.env.CRIU) return { criu: process.env.CRIU };
  const found = findExecutable('criu', runtimeEnv({ PATH: process.env.PATH }));
  const ask = 'set CRIU=/path/to/a/criu that works on this kernel to run the real dump and restore';
  if (!found) return { skip: `no criu on PATH nor in the system directories: ${ask}` };
  const r = spawnSync(found.localPath, ['check'], { encoding: 'utf8', timeout: 60_000 });
  if (/Could not initialize kernel features detection/.test(`${r.stdout}${r.stderr}`))
    return { skip: `${found.hostPath} cannot start on this kernel: ${ask}` };
  return { criu: found.localPath };
}

/**
 * Node running `script` (an ES module, tap's TypeScript loader) in a mount
 * namespace of its own, after the shell commands `setup` (with `args` as $0,
 * $1, ...): what it mounts ends with it.
 */
export function inOwnMountNamespace(setup: string, args: string[], script: string) {
  return spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      `mount --make-rprivate / && ${setup} && shift ${args.length - 1} && exec "$@"`,
      ...args,
      process.execPath,
      ...TS_LOADER,
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8', timeout: 100_000 },
  );
}
