// The running kernel's build configuration, cross-checked against each
// feature's related CONFIG_ options, so a verdict can say which option (or
// module) explains a missing feature.
import { readFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { gunzipSync } from 'node:zlib';
import type { KconfigValue } from '../model.js';
import { hostPath, hostRoot } from '../native/procfs.js';

/** Value of an option that is absent from the config or marked "is not set". */
const NOT_SET = 'not set';
/** Value of every option when no config could be read. */
const UNKNOWN = 'unknown';

/**
 * Where distributions keep the running kernel's config, most trusted first;
 * RELEASE stands for `uname -r`. /proc/config.gz (CONFIG_IKCONFIG_PROC) is the
 * kernel's own copy, so it cannot belong to another kernel.
 */
export const CONFIG_PATHS: readonly string[] = [
  '/proc/config.gz',
  '/boot/config-RELEASE',
  '/lib/modules/RELEASE/config',
  '/usr/lib/modules/RELEASE/config',
  '/usr/src/linux-RELEASE/.config',
  '/usr/src/linux/.config',
  '/lib/modules/RELEASE/build/.config',
];

/**
 * The files to try, in order. With a host root, each path is tried under it
 * first: in a container, the host's /boot describes the kernel that runs,
 * the image's own /boot does not.
 */
export function configCandidates(release: string, root?: string): string[] {
  // '' rather than undefined: no root given means none, not hostPath's default from the environment.
  const trimmed = root?.replace(/\/+$/, '') ?? '';
  return CONFIG_PATHS.flatMap((pattern) => hostPath(pattern.replaceAll('RELEASE', release), trimmed));
}

export interface KernelConfig {
  /** The file the config was read from. */
  source: string;
  /** y, m, a literal value (strings unquoted), or 'not set'. */
  get(option: string): string;
}

/** A quoted Kconfig string, with its escapes undone; other values as written. */
function literal(raw: string): string {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) return raw.slice(1, -1).replace(/\\(.)/g, '$1');
  return raw;
}

// Any `CONFIG_X=value` or `# CONFIG_X is not set` line marks a kernel config.
const CONFIG_LINE = /^(?:CONFIG_\w+=|# CONFIG_\w+ is not set$)/m;

/**
 * Looks options up in a config text: undefined when the text has no CONFIG_
 * line (not a kernel config). `# CONFIG_X is not set` and an absent option
 * both read 'not set'. Options are found on demand and remembered, not parsed
 * up front: verdicts need some 50 of 4000 lines, and looking those up costs
 * less than parsing them all.
 */
function kernelConfigLookup(text: string): ((option: string) => string) | undefined {
  if (!CONFIG_LINE.test(text)) return undefined;
  // Newlines around the text let every line, the first and last too, be found as "\n<line>\n".
  const lines = `\n${text}\n`;
  const found = new Map<string, string>();
  return (option) => {
    let value = found.get(option);
    if (value !== undefined) return value;
    // A generated config has one line per option: the first found is the one.
    // (indexOf, not lastIndexOf: V8 searches forwards ten times faster.)
    const setAt = lines.indexOf(`\n${option}=`);
    if (setAt < 0) {
      value = NOT_SET;
    } else {
      const start = setAt + option.length + 2;
      value = literal(lines.slice(start, lines.indexOf('\n', start)).trimEnd());
      // `=n` is how a few tools write an unset option.
      if (value === 'n') value = NOT_SET;
    }
    found.set(option, value);
    return value;
  };
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** The text of one candidate, or undefined when it is missing, unreadable or corrupt. */
function readConfigText(path: string): string | undefined {
  try {
    const raw = readFileSync(path);
    const gzipped = raw.length >= 2 && raw[0] === GZIP_MAGIC[0] && raw[1] === GZIP_MAGIC[1];
    return (gzipped ? gunzipSync(raw) : raw).toString('latin1');
  } catch {
    return undefined;
  }
}

/**
 * Reads the first candidate that is a kernel config. Missing or unreadable
 * files, and files without CONFIG_ lines, are skipped; undefined when none is
 * left. Pure: reads the files every call (see cachedKernelConfig).
 */
export function readKernelConfig(
  opts: { release?: string; candidates?: string[]; hostRoot?: string } = {},
): KernelConfig | undefined {
  const candidates = opts.candidates ?? configCandidates(opts.release ?? osRelease(), opts.hostRoot ?? hostRoot());
  for (const source of candidates) {
    const text = readConfigText(source);
    if (text === undefined) continue;
    const get = kernelConfigLookup(text);
    if (get) return { source, get };
  }
  return undefined;
}

// undefined: not read yet; null: read, and no config was found.
let cached: KernelConfig | null | undefined;

/** The running kernel's config, read once per process: it changes only with a reboot. */
export function cachedKernelConfig(): KernelConfig | undefined {
  if (cached === undefined) cached = readKernelConfig() ?? null;
  return cached ?? undefined;
}

/** Drops the cached config, so the next cachedKernelConfig() reads the files again. */
export function forget(): void {
  cached = undefined;
}

/** Each option with its value in the config; 'unknown' for all without one. */
export function kconfigValues(config: KernelConfig | undefined, options: readonly string[]): KconfigValue[] {
  return options.map((option) => ({ option, value: config ? config.get(option) : UNKNOWN }));
}

/**
 * The module each tristate option of the catalogue builds, for the modprobe
 * advice when it is =m. Names are those modprobe accepts on old and new kernels.
 */
export const MODULE_OF: Readonly<Record<string, string>> = {
  CONFIG_UNIX: 'unix',
  CONFIG_UNIX_DIAG: 'unix_diag',
  CONFIG_INET_DIAG: 'inet_diag',
  CONFIG_INET_TCP_DIAG: 'tcp_diag',
  CONFIG_INET_UDP_DIAG: 'udp_diag',
  CONFIG_INET_RAW_DIAG: 'raw_diag',
  CONFIG_PACKET_DIAG: 'packet_diag',
  CONFIG_NETLINK_DIAG: 'netlink_diag',
  CONFIG_IPV6: 'ipv6',
  CONFIG_TUN: 'tun',
  CONFIG_VETH: 'veth',
  CONFIG_AUTOFS_FS: 'autofs4',
  CONFIG_OVERLAY_FS: 'overlay',
  CONFIG_NF_TABLES: 'nf_tables',
  CONFIG_NF_TABLES_INET: 'nf_tables_inet',
  CONFIG_IP_NF_IPTABLES: 'ip_tables',
};

/** What to change for one option, or undefined when its value explains nothing. */
function adviceFor({ option, value }: KconfigValue): string | undefined {
  if (value === NOT_SET) return `${option} is not set in this kernel's config: rebuild with ${option}=y`;
  if (value === 'm') {
    const module = MODULE_OF[option];
    return module ? `${option}=m: load the module (modprobe ${module})` : `${option}=m: load its module`;
  }
  return undefined;
}

/**
 * For an unsupported feature: a sentence naming the options to change, or
 * undefined when every option is built in (or unknown) and so explains nothing.
 */
export function kconfigHint(values: readonly KconfigValue[]): string | undefined {
  const advice = values.map(adviceFor).filter((line): line is string => line !== undefined);
  return advice.length > 0 ? advice.join('; ') : undefined;
}
