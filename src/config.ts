// The service's settings, from flags or the environment (a flag wins),
// each checked by its own parser so a bad one stops start-up with a message
// that names it and says what is allowed. Plain functions, not zod: the
// service's first image reads them before it starts the probes, and zod
// alone would take longer to load than the rest of that image.
import { isIPv4, isIPv6 } from 'node:net';
import { DEFAULT_PROBE_TIMEOUT_MS, DEFAULT_RUN_TIMEOUT_MS } from './model.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenAddress {
  host: string;
  port: number;
}

export interface Settings {
  listen: ListenAddress;
  refreshIntervalMs: number;
  minRefreshIntervalMs: number;
  probeTimeoutMs: number;
  runTimeoutMs: number;
  logLevel: LogLevel;
  /** The level request lines are logged at; silent for none. */
  requestLogLevel: LogLevel;
  /** Where to write the node-feature-discovery feature file after each refresh. */
  nfdFeaturesFile?: string;
  /**
   * Host header names answered besides the defaults (IP literals, localhost, the host name, Service names); `*` for
   * any.
   */
  allowedHosts: string[];
  /** Keep the probe runner between refreshes (faster refreshes, more memory at idle). */
  keepRunner: boolean;
}

/** A setting that cannot be used; the message names it and says what is allowed. */
export class ConfigError extends Error {}

/** Wants help rather than a service. */
export class HelpRequested extends Error {}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const LISTEN_ALLOWED =
  'HOST:PORT with an IPv4 address, a host name or a bracketed IPv6 ' +
  'address and a port from 0 to 65535 (e.g. 0.0.0.0:9870, [::1]:9870)';

/** A value its setting cannot take; the message says what is allowed. */
class Invalid extends Error {}

/** A setting's rule: its value from the text given, or Invalid. */
type Parse<T> = (value: string) => T;

const listen: Parse<ListenAddress> = (value) => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  // Digits and dots are an IPv4 address or nothing (999.1.1.1 is not a host name either).
  const numeric = host !== undefined && /^[\d.]+$/.test(host);
  const hostOk =
    match?.[1] !== undefined
      ? isIPv6(match[1])
      : host !== undefined && (isIPv4(host) || (!numeric && HOSTNAME.test(host)));
  if (!match || !host || !hostOk || port > 65535) throw new Invalid(`must be ${LISTEN_ALLOWED}`);
  return { host, port };
};

/** A decimal number within [min, max], scaled to milliseconds. */
function number(unit: 'seconds' | 'milliseconds', min: number, max: number): Parse<number> {
  const scale = unit === 'seconds' ? 1000 : 1;
  const message = `must be a number of ${unit} from ${min} to ${max}`;
  return (value) => {
    const n = Number(value);
    if (!/^\d+(?:\.\d+)?$/.test(value) || n < min || n > max) throw new Invalid(message);
    return Math.round(n * scale);
  };
}

const boolean: Parse<boolean> = (value) => {
  if (value !== 'true' && value !== 'false') throw new Invalid('must be true or false');
  return value === 'true';
};

const logLevel: Parse<LogLevel> = (value) => {
  const level = LOG_LEVELS.find((l) => l === value);
  if (level === undefined) throw new Invalid(`must be one of ${LOG_LEVELS.join(', ')}`);
  return level;
};

const path: Parse<string> = (value) => {
  if (value === '' || value.includes('\0')) throw new Invalid('must be a file path');
  return value;
};

const HOST_ENTRY = /^(?:\*|\.?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9.])?)$/i;
const hostList: Parse<string[]> = (value) => {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (!entries.every((entry) => HOST_ENTRY.test(entry)))
    throw new Invalid('must be host names separated by commas (.suffix for every name under it, * for any)');
  return entries;
};

interface Option<K extends keyof Settings> {
  key: K;
  flag: string;
  env: string;
  /** How the value is written in the help text. */
  arg: string;
  defaultValue?: string;
  help: string;
  parse: Parse<Settings[K]>;
}

function option<K extends keyof Settings>(o: Option<K>): Option<K> {
  return o;
}

/** Every setting: its flag, environment variable, default and rule. */
export const OPTIONS = [
  option({
    key: 'listen',
    flag: '--listen',
    env: 'CRIU_READINESS_LISTEN',
    arg: 'HOST:PORT',
    defaultValue: '0.0.0.0:9870',
    help: 'address to listen on; [::1]:9870 for IPv6, port 0 for any free port',
    parse: listen,
  }),
  option({
    key: 'refreshIntervalMs',
    flag: '--refresh-interval',
    env: 'CRIU_READINESS_REFRESH_INTERVAL',
    arg: 'SECONDS',
    defaultValue: '300',
    help: 'time between background probe runs (1 to 604800)',
    parse: number('seconds', 1, 604_800),
  }),
  option({
    key: 'minRefreshIntervalMs',
    flag: '--min-refresh-interval',
    env: 'CRIU_READINESS_MIN_REFRESH_INTERVAL',
    arg: 'SECONDS',
    defaultValue: '10',
    help: 'least time between a run and a forced POST /refresh; sooner gets 429 (0 to 86400)',
    parse: number('seconds', 0, 86_400),
  }),
  option({
    key: 'probeTimeoutMs',
    flag: '--probe-timeout',
    env: 'CRIU_READINESS_PROBE_TIMEOUT',
    arg: 'MS',
    defaultValue: String(DEFAULT_PROBE_TIMEOUT_MS),
    help: 'time one probe may take before it counts as unknown/Timeout (100 to 600000)',
    parse: number('milliseconds', 100, 600_000),
  }),
  option({
    key: 'runTimeoutMs',
    flag: '--run-timeout',
    env: 'CRIU_READINESS_RUN_TIMEOUT',
    arg: 'MS',
    defaultValue: String(DEFAULT_RUN_TIMEOUT_MS),
    help: 'time a whole probe run may take (1000 to 3600000)',
    parse: number('milliseconds', 1000, 3_600_000),
  }),
  option({
    key: 'logLevel',
    flag: '--log-level',
    env: 'CRIU_READINESS_LOG_LEVEL',
    arg: 'LEVEL',
    defaultValue: 'info',
    help: `log level: ${LOG_LEVELS.join(', ')}`,
    parse: logLevel,
  }),
  option({
    key: 'requestLogLevel',
    flag: '--request-log-level',
    env: 'CRIU_READINESS_REQUEST_LOG_LEVEL',
    arg: 'LEVEL',
    defaultValue: 'debug',
    help: 'level of the one line logged per request (silent: none); shown when --log-level lets it through',
    parse: logLevel,
  }),
  option({
    key: 'keepRunner',
    flag: '--keep-runner',
    env: 'CRIU_READINESS_KEEP_RUNNER',
    arg: 'true|false',
    defaultValue: 'false',
    help:
      'keep the probe runner between refreshes: a refresh skips a Node ' +
      'start-up, the idle service holds one more process',
    parse: boolean,
  }),
  option({
    key: 'nfdFeaturesFile',
    flag: '--nfd-features-file',
    env: 'CRIU_READINESS_NFD_FEATURES_FILE',
    arg: 'PATH',
    help: 'write the node-feature-discovery feature file here after each refresh (optional)',
    parse: path,
  }),
  option({
    key: 'allowedHosts',
    flag: '--allowed-hosts',
    env: 'CRIU_READINESS_ALLOWED_HOSTS',
    arg: 'NAMES',
    defaultValue: '',
    help:
      'Host header names answered besides IP addresses, localhost, this host ' +
      'name and Kubernetes Service names; comma-separated, .suffix for every ' +
      'name under it, * for any (others get 421)',
    parse: hostList,
  }),
] as const;

type AnyOption = (typeof OPTIONS)[number];

export function serveUsage(): string {
  const rows = OPTIONS.map((o) => {
    const head = `  ${o.flag} ${o.arg}`;
    const defaults =
      o.defaultValue === undefined || o.defaultValue === '' ? 'not set by default' : `default ${o.defaultValue}`;
    return `${head}\n      ${o.help}\n      env ${o.env}; ${defaults}`;
  });
  return `Usage: criu-readiness serve [options]

Serves the kernel's CRIU readiness over HTTP (GET /check, /features,
/healthz, /readyz, /metrics, /docs; POST /refresh).

Options (each can also be set in the environment; a flag wins):
${rows.join('\n')}
  -h, --help
      print this help
`;
}

/** Raw values by setting, from argv then env; throws ConfigError for an unknown or incomplete flag. */
function collect(args: readonly string[], env: NodeJS.ProcessEnv): Map<AnyOption, { value: string; source: string }> {
  const raw = new Map<AnyOption, { value: string; source: string }>();
  for (const o of OPTIONS) {
    const value = env[o.env];
    if (value !== undefined && value !== '') raw.set(o, { value, source: o.env });
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') throw new HelpRequested();
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const o = OPTIONS.find((candidate) => candidate.flag === flag);
    if (!o)
      throw new ConfigError(`unknown option ${JSON.stringify(arg)}; "criu-readiness serve --help" lists the options`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new ConfigError(`${o.flag} needs a value: ${o.arg}`);
    raw.set(o, { value, source: o.flag });
  }
  return raw;
}

/** The settings from flags and environment; throws ConfigError (or HelpRequested). */
export function parseSettings(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Settings {
  const raw = collect(args, env);
  const settings: Partial<Record<keyof Settings, unknown>> = {};
  for (const o of OPTIONS) {
    const given = raw.get(o);
    const value = given?.value ?? o.defaultValue;
    if (value === undefined) continue;
    try {
      settings[o.key] = (o.parse as Parse<unknown>)(value);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      const where = given ? `${given.source}=${JSON.stringify(value.slice(0, 100))}` : `the default of ${o.flag}`;
      throw new ConfigError(`invalid ${o.flag} (${o.env}): ${where} ${err.message}`);
    }
  }
  const result = settings as Settings;
  if (result.runTimeoutMs < result.probeTimeoutMs) {
    throw new ConfigError(
      `invalid --run-timeout (CRIU_READINESS_RUN_TIMEOUT): ` +
        `${result.runTimeoutMs} ms must not be shorter than --probe-timeout (${result.probeTimeoutMs} ms)`,
    );
  }
  return result;
}
