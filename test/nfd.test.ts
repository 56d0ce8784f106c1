// The NFD feature file: its content follows NFD's rules, and it is replaced
// atomically, never left half-written.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATALOGUE } from '../src/catalogue.js';
import type { Report } from '../src/service/check.js';
import type { Status, Verdict } from '../src/model.js';
import { LEVELS } from '../src/service/levels.js';
import {
  DEFAULT_NFD_TTL_MS,
  NFD_MAX_FILE_BYTES,
  NFD_NAMESPACE,
  nfdFeatureText,
  prepareNfdDirectory,
  writeNfdFeatures,
} from '../src/nfd.js';

const FINISHED = new Date('2026-03-04T05:06:07.890Z');

function verdict(name: string, status: Status): Verdict {
  const feature = CATALOGUE.find((f) => f.name === name);
  if (!feature) throw new Error(`no feature ${name}`);
  const reason = status === 'supported' ? 'Supported' : status === 'unsupported' ? 'NotInKernel' : 'PermissionDenied';
  return { name, category: feature.category, status, reason, message: '', hint: '', kconfig: [], durationMs: 1 };
}

/** Every catalogue feature supported, except the given ones. */
function report(exceptions: Record<string, Status> = {}): Report {
  const verdicts = CATALOGUE.map((f) => verdict(f.name, exceptions[f.name] ?? 'supported'));
  return { verdicts, finishedAt: FINISHED, durationMs: 12 };
}

/** NFD's local source: `key[=value]` lines, `#` comments, value `true` by default. */
function parseFeatureFile(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    labels.set(at < 0 ? line : line.slice(0, at), at < 0 ? 'true' : line.slice(at + 1));
  }
  return labels;
}

const REQUIRED = CATALOGUE.find((f) => f.category === 'required')!.name;
const EXTRA = CATALOGUE.find((f) => f.category === 'extra')!.name;
const EXPERIMENTAL = CATALOGUE.find((f) => f.category === 'experimental')!.name;

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'criu-readiness-nfd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('every key and value is one NFD and the API server accept as a node label', async (t) => {
  const labels = parseFeatureFile(nfdFeatureText(report({ [EXTRA]: 'unknown' })));
  // k8s.io/apimachinery IsQualifiedName / IsValidLabelValue, and NFD's own
  // rule: the namespace must be feature.node.kubernetes.io or under it.
  const name = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
  t.match(NFD_NAMESPACE, /\.feature\.node\.kubernetes\.io$/);
  for (const [key, value] of labels) {
    const [prefix, local, ...rest] = key.split('/');
    t.equal(rest.length, 0, `${key} has one slash`);
    t.equal(prefix, NFD_NAMESPACE);
    t.ok(local.length <= 63 && name.test(local), `${local} is a label name`);
    t.ok(value.length <= 63 && (value === '' || name.test(value)), `${value} is a label value`);
  }
});

t.test('one line per feature with its state, one per level', async (t) => {
  const labels = parseFeatureFile(nfdFeatureText(report({ [EXTRA]: 'unsupported', [EXPERIMENTAL]: 'unknown' })));
  t.equal(labels.size, CATALOGUE.length + LEVELS.length);
  t.equal(labels.get(`${NFD_NAMESPACE}/${REQUIRED}`), 'supported');
  t.equal(labels.get(`${NFD_NAMESPACE}/${EXTRA}`), 'unsupported');
  t.equal(labels.get(`${NFD_NAMESPACE}/${EXPERIMENTAL}`), 'unknown');
  t.equal(labels.get(`${NFD_NAMESPACE}/ready.required`), 'true');
  t.equal(labels.get(`${NFD_NAMESPACE}/ready.extra`), 'false', 'a missing extra feature fails the extra level');
  t.equal(
    labels.get(`${NFD_NAMESPACE}/ready.experimental`),
    'false',
    'an unknown experimental feature fails the experimental level',
  );
  t.equal(labels.get(`${NFD_NAMESPACE}/ready.all`), 'false');
});

t.test('a required feature that is missing or unknown makes every level false', async (t) => {
  for (const status of ['unsupported', 'unknown'] as const) {
    const labels = parseFeatureFile(nfdFeatureText(report({ [REQUIRED]: status })));
    for (const level of ['required', 'extra', 'experimental', 'all']) {
      t.equal(labels.get(`${NFD_NAMESPACE}/ready.${level}`), 'false', `${status}: ${level}`);
    }
  }
});

t.test('advisory features are labelled but never decide a level', async (t) => {
  const advisory = CATALOGUE.find((f) => f.category === 'advisory')!.name;
  const labels = parseFeatureFile(nfdFeatureText(report({ [advisory]: 'unsupported' })));
  t.equal(labels.get(`${NFD_NAMESPACE}/${advisory}`), 'unsupported');
  t.equal(labels.get(`${NFD_NAMESPACE}/ready.all`), 'true');
});

t.test('the expiry directive is the run time plus the TTL, in RFC 3339', async (t) => {
  const defaultText = nfdFeatureText(report());
  t.match(
    defaultText,
    new RegExp(
      `^# \\+expiry-time=${new Date(FINISHED.getTime() + DEFAULT_NFD_TTL_MS).toISOString().slice(0, 19)}Z$`,
      'm',
    ),
  );
  const text = nfdFeatureText(report(), { ttlMs: 3_600_000 });
  t.match(text, /^# \+expiry-time=2026-03-04T06:06:07Z$/m);
  // The directive must come before every feature line: NFD applies it to the lines after it.
  const lines = text.split('\n');
  t.ok(lines.findIndex((l) => l.startsWith('# +expiry-time=')) < lines.findIndex((l) => l.startsWith(NFD_NAMESPACE)));
});

t.test('the same verdicts give the same file', async (t) => {
  t.equal(nfdFeatureText(report({ [EXTRA]: 'unknown' })), nfdFeatureText(report({ [EXTRA]: 'unknown' })));
});

t.test("the whole catalogue stays far below NFD's 64 KiB limit", async (t) => {
  t.ok(Buffer.byteLength(nfdFeatureText(report())) < NFD_MAX_FILE_BYTES / 4);
});

t.test('a name that cannot be a label is refused before anything is written', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'criu-readiness');
  await writeFile(path, 'old\n');
  const bad = report();
  bad.verdicts.push({ ...bad.verdicts[0], name: 'not a label name' });
  await t.rejects(writeNfdFeatures(path, bad), /cannot be an NFD label name/);
  t.equal(await readFile(path, 'utf8'), 'old\n');
  t.same(await readdir(dir), ['criu-readiness']);
});

t.test('writing replaces the file by rename and leaves no temporary file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'criu-readiness');
  await writeFile(path, 'old\n');
  const before = await stat(path);
  await writeNfdFeatures(path, report());
  t.equal(await readFile(path, 'utf8'), nfdFeatureText(report()));
  t.not((await stat(path)).ino, before.ino, 'a new inode: renamed over, not rewritten in place');
  t.equal((await stat(path)).mode & 0o777, 0o644, 'readable by nfd-worker');
  t.same(await readdir(dir), ['criu-readiness']);
});

t.test('a reader never sees a partial file while it is rewritten', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'criu-readiness');
  const texts = [report(), report({ [EXTRA]: 'unsupported' })].map((r) => nfdFeatureText(r));
  await writeFile(path, texts[0]);
  let writing = true;
  const reads: string[] = [];
  const reader = (async () => {
    while (writing) reads.push(await readFile(path, 'utf8'));
  })();
  for (let i = 0; i < 200; i++) await writeNfdFeatures(path, i % 2 ? report() : report({ [EXTRA]: 'unsupported' }));
  writing = false;
  await reader;
  t.ok(reads.length > 10, `${reads.length} reads`);
  t.ok(
    reads.every((r) => texts.includes(r)),
    'every read was one whole version',
  );
});

t.test('a failed rename removes the temporary file', async (t) => {
  const dir = await tempDir(t);
  // The target is a non-empty directory: the rename fails after the write succeeded.
  const path = join(dir, 'criu-readiness');
  await mkdir(path);
  await writeFile(join(path, 'keep'), 'x');
  await t.rejects(writeNfdFeatures(path, report()), { code: /^(EISDIR|ENOTEMPTY|EEXIST)$/ });
  t.same(await readdir(dir), ['criu-readiness']);
  t.same(await readdir(path), ['keep']);
});

const NOT_ROOT = process.getuid?.() !== 0 && 'needs root to mount a one-page tmpfs';

t.test('a write that runs out of space keeps the old file and leaves no dot-file', { skip: NOT_ROOT }, async (t) => {
  const dir = await tempDir(t);
  // One page: the old file fills it, so the new file's first write fails with ENOSPC.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k,nr_inodes=16', 'criu-readiness-test', dir]);
  t.teardown(() => execFileSync('umount', [dir]));
  const path = join(dir, 'criu-readiness');
  await writeFile(path, 'old\n');
  await t.rejects(writeNfdFeatures(path, report()), { code: 'ENOSPC' });
  t.equal(await readFile(path, 'utf8'), 'old\n');
  t.same(await readdir(dir), ['criu-readiness']);
});

t.test('start-up creates a missing feature-file directory, and leaves nothing in it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nfd-prepare-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const nested = join(dir, 'features.d', 'deeper');
  await prepareNfdDirectory(join(nested, 'criu-readiness'));
  t.ok((await stat(nested)).isDirectory());
  t.same(await readdir(nested), []);
});

t.test('a feature-file directory that cannot be made or written is refused with the reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nfd-prepare-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'a-file'), '');
  await t.rejects(prepareNfdDirectory(join(dir, 'a-file', 'criu-readiness')), {
    message: new RegExp(`^cannot write the NFD feature file in ${dir}/a-file: .*(ENOTDIR|EEXIST)`),
  });
});
