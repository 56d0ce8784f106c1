// The built runner (scripts/bundle.mjs) must hold one copy of each module: a
// probe's stop() throws model.ts's ProbeStop, and the runner recognizes only
// its own copy; a second copy turns every stop into unknown/ProbeError.
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { SUPERVISOR_OPTIONS_ENV } from '../src/engine/supervisor.js';
import { ROOT, filesUnder } from './helpers/deploy.js';

/** dist/, built now if older than src/. */
function built(file: string): string {
  const path = join(ROOT, 'dist', file);
  const newestSource = Math.max(...filesUnder(join(ROOT, 'src'), ['.ts']).map((f) => statSync(f).mtimeMs));
  if (!existsSync(path) || statSync(path).mtimeMs < newestSource)
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
  return readFileSync(path, 'utf8');
}

t.test('the built runner defines ProbeStop once: the class its probes throw is the one it catches', async (t) => {
  const runner = built('engine/runner-main.cjs');
  t.equal([...runner.matchAll(/this\.name = "ProbeStop"/g)].length, 1);
});

/**
 * `env` and its arguments to run a built file with a fixture preloaded, without tap's hooks in NODE_OPTIONS (they
 * load modules of their own). env execs Node: the process keeps env's pid, a child of this one.
 */
function preloaded(fixture: string, file: string): [string, string[]] {
  const preload = fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url));
  return ['env', ['-u', 'NODE_OPTIONS', process.execPath, '-r', preload, join(ROOT, 'dist', file)]];
}

/** Node's modules that a runner's start does without: every `check` waits for that start. */
const NOT_FOR_A_RUNNER = ['stream', 'net', 'readline', 'crypto', 'zlib'];

t.test(
  "the built runner starts, reads its commands and ends without Node's streams, net, readline, crypto or zlib",
  async (t) => {
    built('engine/runner-main.cjs');
    // stdin a pipe, as the engine gives it.
    const run = spawnSync(...preloaded('builtins-at-exit.cjs', 'engine/runner-main.cjs'), {
      input: '',
      encoding: 'utf8',
    });
    t.equal(run.status, 0, run.stderr);
    const loaded = JSON.parse(run.stderr.trim().split('\n').at(-1) ?? '[]') as string[];
    t.ok(loaded.includes('fs'), 'the list is of what it loaded');
    t.same(
      loaded.filter((m) => NOT_FOR_A_RUNNER.includes(m)),
      [],
    );
  },
);

t.test(
  'the built supervisor starts its first runner before it loads koffi: the runner boots while it loads',
  async (t) => {
    built('engine/supervisor-main.cjs');
    // Its parent is this process: the pid its options name.
    const supervisor = spawn(...preloaded('spawn-before-koffi.cjs', 'engine/supervisor-main.cjs'), {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, [SUPERVISOR_OPTIONS_ENV]: JSON.stringify({ parentPid: process.pid }) },
    });
    let stderr = '';
    supervisor.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => supervisor.on('close', resolve));
    // Its channel ends at once: it stops, and prints what it did first.
    (supervisor.stdio[3] as Writable).end();
    t.equal(await exited, 0, stderr);
    t.same(JSON.parse(stderr.trim().split('\n').at(-1) ?? '[]'), ['spawn', 'koffi']);
  },
);

t.test('the built catalogue defines ProbeStop once', async (t) => {
  t.equal([...built('catalogue.js').matchAll(/this\.name = "ProbeStop"/g)].length, 1);
});

t.test(
  'the built service imports no package but the swagger ones (koffi is required where used): the rest is bundled',
  async (t) => {
    built('http/serve.js');
    const dir = join(ROOT, 'dist', 'http');
    const files = ['serve.js', 'serve-http.cjs', ...readdirSync(dir).filter((f) => /^chunk-.*\.js$/.test(f))];
    const imported = new Set<string>();
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'utf8');
      const specifiers = [
        ...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"/gm),
        ...text.matchAll(/\bimport\("([^"]+)"\)/g),
        // Not in a string or template: ajv writes code that requires its runtime.
        ...text.matchAll(/(?<![`'"])\b(?:__)?require(?:Package)?\("([^"]+)"\)/g),
      ].map((m) => m[1]);
      for (const name of specifiers) if (!name.startsWith('.') && !isBuiltin(name)) imported.add(name);
    }
    t.same([...imported].sort(), ['@fastify/swagger', '@fastify/swagger-ui']);
  },
);

t.test(
  'the built CLI is one file: of our code it imports only the catalogue and the service, each a file of its own',
  async (t) => {
    const cli = built('cli.js');
    const imported = [...cli.matchAll(/(?:from|import\()\s*"([^"]+)"/g)].map((m) => m[1]);
    t.same([...new Set(imported.filter((name) => !isBuiltin(name)))].sort(), ['./catalogue.js', './http/serve.js']);
    t.ok(cli.startsWith('#!/usr/bin/env node\n'), 'still run by its #! line');
  },
);

t.test(
  "a package's require of HTTPS or HTTP/2 in the HTTP side gets the module on first use, and the module works",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-on-first-use-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'bundle.cjs');
    // Bundled with the plugin as scripts/bundle.mjs uses it.
    const bundleIt = `import { build } from 'esbuild';
import { builtinsOnFirstUse } from './scripts/on-first-use.mjs';
await build({
  stdin: { contents: "module.exports = { https: require('node:https'), http2: require('http2') };", resolveDir: '.' },
  bundle: true, platform: 'node', format: 'cjs', outfile: ${JSON.stringify(out)}, plugins: [builtinsOnFirstUse],
});`;
    execFileSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', bundleIt], { cwd: ROOT });
    const useIt = `const loaded = (name) => process.moduleLoadList.includes('NativeModule ' + name);
const m = require(${JSON.stringify(out)});
const before = [loaded('https'), loaded('http2')];
const used = [typeof m.https.request, 'Agent' in m.https, typeof m.http2.connect];
console.log(JSON.stringify({ before, used, after: [loaded('https'), loaded('http2')] }));`;
    const seen = JSON.parse(
      execFileSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', useIt], { encoding: 'utf8' }),
    ) as unknown;
    t.same(seen, { before: [false, false], used: ['function', true, 'function'], after: [true, true] });
  },
);
