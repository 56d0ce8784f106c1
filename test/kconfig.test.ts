import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { HOST_ROOT_ENV } from '../src/native/procfs.js';
import {
  CONFIG_PATHS,
  MODULE_OF,
  cachedKernelConfig,
  configCandidates,
  forget,
  kconfigHint,
  kconfigValues,
  readKernelConfig,
} from '../src/service/kconfig.js';
import { CATALOGUE } from '../src/catalogue.js';

const SAMPLE = [
  '#',
  '# Automatically generated file; DO NOT EDIT.',
  '#',
  'CONFIG_CC_VERSION_TEXT="gcc (GCC) 15.3.0 \\"quoted\\""',
  'CONFIG_CHECKPOINT_RESTORE=y',
  'CONFIG_INET_DIAG=m',
  'CONFIG_LOG_BUF_SHIFT=17',
  'CONFIG_LOCALVERSION=""',
  '# CONFIG_MEM_SOFT_DIRTY is not set',
  'CONFIG_OLD_STYLE_OFF=n',
  'CONFIG_LAST_LINE=y',
].join('\n'); // no trailing newline: the last line must still count

/** A temporary directory, removed when the test ends. */
function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kconfig-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeConfig(dir: string, name: string, text: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

t.test('parses y, m, string, number, empty string and not-set values', async (t) => {
  const path = writeConfig(tempDir(t), 'config', SAMPLE);
  const config = readKernelConfig({ candidates: [path] });
  t.ok(config);
  t.equal(config?.source, path);
  t.equal(config?.get('CONFIG_CHECKPOINT_RESTORE'), 'y');
  t.equal(config?.get('CONFIG_INET_DIAG'), 'm');
  t.equal(config?.get('CONFIG_CC_VERSION_TEXT'), 'gcc (GCC) 15.3.0 "quoted"');
  t.equal(config?.get('CONFIG_LOG_BUF_SHIFT'), '17');
  t.equal(config?.get('CONFIG_LOCALVERSION'), '');
  t.equal(config?.get('CONFIG_MEM_SOFT_DIRTY'), 'not set');
  t.equal(config?.get('CONFIG_OLD_STYLE_OFF'), 'not set');
  t.equal(config?.get('CONFIG_LAST_LINE'), 'y');
});

t.test('an option absent from a readable config is not set', async (t) => {
  const config = readKernelConfig({ candidates: [writeConfig(tempDir(t), 'config', SAMPLE)] });
  t.equal(config?.get('CONFIG_NOWHERE'), 'not set');
  // A prefix of a present option is not that option.
  t.equal(config?.get('CONFIG_CHECKPOINT'), 'not set');
  // Nor is an option that appears only inside a comment or value.
  t.equal(config?.get('CONFIG_OLD_STYLE'), 'not set');
});

t.test('the first readable candidate wins', async (t) => {
  const dir = tempDir(t);
  const first = writeConfig(dir, 'first', 'CONFIG_CHECKPOINT_RESTORE=y\n');
  const second = writeConfig(dir, 'second', '# CONFIG_CHECKPOINT_RESTORE is not set\n');
  const config = readKernelConfig({ candidates: [join(dir, 'missing'), first, second] });
  t.equal(config?.source, first);
  t.equal(config?.get('CONFIG_CHECKPOINT_RESTORE'), 'y');
});

t.test('a file that is not a kernel config is skipped', async (t) => {
  const dir = tempDir(t);
  const notConfig = writeConfig(dir, 'notes', '# just some text\nFOO=bar\n');
  const config = writeConfig(dir, 'config', '# CONFIG_MEM_SOFT_DIRTY is not set\n');
  // A directory cannot be read as a file: skipped too.
  const found = readKernelConfig({ candidates: [notConfig, dir, config] });
  t.equal(found?.source, config);
  t.equal(found?.get('CONFIG_MEM_SOFT_DIRTY'), 'not set');
});

t.test('a gzip-compressed config is decompressed', async (t) => {
  const dir = tempDir(t);
  const path = writeConfig(dir, 'config.gz', gzipSync(SAMPLE));
  const config = readKernelConfig({ candidates: [path] });
  t.equal(config?.source, path);
  t.equal(config?.get('CONFIG_INET_DIAG'), 'm');
});

t.test('a corrupt gzip file is skipped', async (t) => {
  const dir = tempDir(t);
  const corrupt = writeConfig(dir, 'config.gz', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]));
  const plain = writeConfig(dir, 'config', SAMPLE);
  t.equal(readKernelConfig({ candidates: [corrupt, plain] })?.source, plain);
});

t.test('undefined when no candidate is a readable config', async (t) => {
  const dir = tempDir(t);
  t.equal(readKernelConfig({ candidates: [join(dir, 'a'), writeConfig(dir, 'empty', '')] }), undefined);
  t.equal(readKernelConfig({ candidates: [] }), undefined);
});

t.test('candidates follow CONFIG_PATHS with the release filled in', async (t) => {
  const candidates = configCandidates('6.1.0-test');
  t.equal(candidates.length, CONFIG_PATHS.length);
  t.same(candidates.slice(0, 3), ['/proc/config.gz', '/boot/config-6.1.0-test', '/lib/modules/6.1.0-test/config']);
  t.notOk(candidates.some((path) => path.includes('RELEASE')));
});

t.test("with a host root, each path is tried under it before the container's own", async (t) => {
  const candidates = configCandidates('6.1.0-test', '/host/');
  t.equal(candidates.length, 2 * CONFIG_PATHS.length);
  t.same(candidates.slice(0, 4), [
    '/host/proc/config.gz',
    '/proc/config.gz',
    '/host/boot/config-6.1.0-test',
    '/boot/config-6.1.0-test',
  ]);
});

t.test(`${HOST_ROOT_ENV} points the search at the host's files first`, async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'proc'));
  // Under the host root the first candidate is <root>/proc/config.gz, ahead of this machine's own.
  const hostConfig = writeConfig(join(root, 'proc'), 'config.gz', gzipSync('CONFIG_HOST_ONLY=y\n'));
  const saved = process.env[HOST_ROOT_ENV];
  t.teardown(() => {
    if (saved === undefined) delete process.env[HOST_ROOT_ENV];
    else process.env[HOST_ROOT_ENV] = saved;
  });
  process.env[HOST_ROOT_ENV] = root;
  const found = readKernelConfig();
  t.equal(found?.source, hostConfig);
  t.equal(found?.get('CONFIG_HOST_ONLY'), 'y');
  delete process.env[HOST_ROOT_ENV];
  t.not(readKernelConfig()?.source, hostConfig, 'without the variable the host root is not searched');
});

t.test('values are unknown for every option without a config', async (t) => {
  t.same(kconfigValues(undefined, ['CONFIG_A', 'CONFIG_B']), [
    { option: 'CONFIG_A', value: 'unknown' },
    { option: 'CONFIG_B', value: 'unknown' },
  ]);
});

t.test('values are read from the config, in the order asked', async (t) => {
  const config = readKernelConfig({ candidates: [writeConfig(tempDir(t), 'config', SAMPLE)] });
  t.same(kconfigValues(config, ['CONFIG_MEM_SOFT_DIRTY', 'CONFIG_CHECKPOINT_RESTORE', 'CONFIG_INET_DIAG']), [
    { option: 'CONFIG_MEM_SOFT_DIRTY', value: 'not set' },
    { option: 'CONFIG_CHECKPOINT_RESTORE', value: 'y' },
    { option: 'CONFIG_INET_DIAG', value: 'm' },
  ]);
});

t.test('the hint for a not-set option says to rebuild with it', async (t) => {
  t.equal(
    kconfigHint([{ option: 'CONFIG_MEM_SOFT_DIRTY', value: 'not set' }]),
    "CONFIG_MEM_SOFT_DIRTY is not set in this kernel's config: rebuild with CONFIG_MEM_SOFT_DIRTY=y",
  );
});

t.test('the hint for a module option names the module to load', async (t) => {
  t.equal(
    kconfigHint([{ option: 'CONFIG_INET_RAW_DIAG', value: 'm' }]),
    'CONFIG_INET_RAW_DIAG=m: load the module (modprobe raw_diag)',
  );
  t.equal(kconfigHint([{ option: 'CONFIG_SOMETHING', value: 'm' }]), 'CONFIG_SOMETHING=m: load its module');
});

t.test('the hint joins the advice for every option that explains it, and only those', async (t) => {
  t.equal(
    kconfigHint([
      { option: 'CONFIG_INET_DIAG', value: 'y' },
      { option: 'CONFIG_INET_RAW_DIAG', value: 'not set' },
      { option: 'CONFIG_TUN', value: 'm' },
    ]),
    "CONFIG_INET_RAW_DIAG is not set in this kernel's config: rebuild with CONFIG_INET_RAW_DIAG=y; CONFIG_TUN=m: load the module (modprobe tun)",
  );
});

t.test('no hint when nothing in the config explains it', async (t) => {
  t.equal(kconfigHint([]), undefined);
  t.equal(
    kconfigHint([
      { option: 'CONFIG_CHECKPOINT_RESTORE', value: 'y' },
      { option: 'CONFIG_LOG_BUF_SHIFT', value: '17' },
    ]),
    undefined,
  );
  t.equal(kconfigHint([{ option: 'CONFIG_CHECKPOINT_RESTORE', value: 'unknown' }]), undefined);
});

t.test('every MODULE_OF option is one the catalogue lists', async (t) => {
  const listed = new Set(CATALOGUE.flatMap((feature) => feature.kconfig));
  const strays = Object.keys(MODULE_OF).filter((option) => !listed.has(option));
  t.same(strays, []);
});

t.test('the cached config is read once, until forgotten', async (t) => {
  t.teardown(forget);
  forget();
  const first = cachedKernelConfig();
  t.equal(cachedKernelConfig(), first, 'the same object without re-reading');
  forget();
  const again = cachedKernelConfig();
  if (first) t.not(again, first, 'forget() makes the next call read again');
  t.equal(again?.source, first?.source);
});

const procConfig = '/proc/config.gz';
t.test(
  "on this machine the running kernel's config is found and has CHECKPOINT_RESTORE",
  { skip: existsSync(procConfig) ? false : `${procConfig} is missing (kernel built without CONFIG_IKCONFIG_PROC)` },
  async (t) => {
    const config = readKernelConfig();
    t.equal(config?.source, procConfig);
    t.equal(config?.get('CONFIG_CHECKPOINT_RESTORE'), 'y');
  },
);
