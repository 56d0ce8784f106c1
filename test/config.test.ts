import t from 'tap';
import { ConfigError, HelpRequested, OPTIONS, parseSettings, serveUsage } from '../src/config.js';

t.test('defaults: 0.0.0.0:9870, refresh every 5 minutes, forced refreshes 10 s apart', async (t) => {
  t.same(parseSettings([], {}), {
    listen: { host: '0.0.0.0', port: 9870 },
    refreshIntervalMs: 300_000,
    minRefreshIntervalMs: 10_000,
    probeTimeoutMs: 10_000,
    runTimeoutMs: 60_000,
    logLevel: 'info',
    requestLogLevel: 'debug',
    allowedHosts: [],
    keepRunner: false,
  });
});

t.test('every setting comes from its flag or its environment variable', async (t) => {
  const env = {
    CRIU_READINESS_LISTEN: '127.0.0.1:8080',
    CRIU_READINESS_REFRESH_INTERVAL: '60',
    CRIU_READINESS_MIN_REFRESH_INTERVAL: '0',
    CRIU_READINESS_PROBE_TIMEOUT: '500',
    CRIU_READINESS_RUN_TIMEOUT: '5000',
    CRIU_READINESS_LOG_LEVEL: 'warn',
    CRIU_READINESS_REQUEST_LOG_LEVEL: 'info',
    CRIU_READINESS_NFD_FEATURES_FILE: '/etc/kubernetes/node-feature-discovery/features.d/criu-readiness',
    CRIU_READINESS_ALLOWED_HOSTS: 'readiness.example.com, .nodes.example',
    CRIU_READINESS_KEEP_RUNNER: 'true',
  };
  const expected = {
    listen: { host: '127.0.0.1', port: 8080 },
    refreshIntervalMs: 60_000,
    minRefreshIntervalMs: 0,
    probeTimeoutMs: 500,
    runTimeoutMs: 5000,
    logLevel: 'warn',
    requestLogLevel: 'info',
    nfdFeaturesFile: '/etc/kubernetes/node-feature-discovery/features.d/criu-readiness',
    allowedHosts: ['readiness.example.com', '.nodes.example'],
    keepRunner: true,
  };
  t.same(parseSettings([], env), expected, 'from the environment');
  const args = OPTIONS.flatMap((o) => [o.flag, env[o.env as keyof typeof env]]);
  t.same(parseSettings(args, {}), expected, 'from flags');
});

t.test('--allowed-hosts takes names, .suffixes and *, and refuses anything else', async (t) => {
  t.same(parseSettings(['--allowed-hosts', '*'], {}).allowedHosts, ['*']);
  t.throws(
    () => parseSettings(['--allowed-hosts', 'a b'], {}),
    new ConfigError(
      'invalid --allowed-hosts (CRIU_READINESS_ALLOWED_HOSTS): --allowed-hosts="a b" must be host names separated by commas (.suffix for every name under it, * for any)',
    ),
  );
});

t.test('a flag wins over its environment variable, in both --flag value and --flag=value forms', async (t) => {
  const env = { CRIU_READINESS_LISTEN: '127.0.0.1:1', CRIU_READINESS_LOG_LEVEL: 'debug' };
  const settings = parseSettings(['--listen', '127.0.0.1:2', '--log-level=error'], env);
  t.same(settings.listen, { host: '127.0.0.1', port: 2 });
  t.equal(settings.logLevel, 'error');
});

t.test('listen takes IPv4, bracketed IPv6, host names and port 0', async (t) => {
  t.same(parseSettings(['--listen', '[::1]:9870'], {}).listen, { host: '::1', port: 9870 });
  t.same(parseSettings(['--listen', '[::]:0'], {}).listen, { host: '::', port: 0 });
  t.same(parseSettings(['--listen', 'localhost:9870'], {}).listen, { host: 'localhost', port: 9870 });
});

t.test('fractional seconds are allowed', async (t) => {
  t.equal(parseSettings(['--refresh-interval', '1.5'], {}).refreshIntervalMs, 1500);
});

function errorOf(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseSettings(args, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error(`accepted ${args.join(' ')}`);
}

t.test('a bad setting is refused with its flag, its variable, the value and what is allowed', async (t) => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      ['--listen', '9870'],
      {},
      /^invalid --listen \(CRIU_READINESS_LISTEN\): --listen="9870" must be HOST:PORT .*\[::1\]:9870/,
    ],
    [['--listen', '::1:9870'], {}, /--listen="::1:9870" must be HOST:PORT/],
    [['--listen', '127.0.0.1:65536'], {}, /must be HOST:PORT/],
    [['--listen', '[nope]:80'], {}, /must be HOST:PORT/],
    [['--listen', 'bad host:80'], {}, /must be HOST:PORT/],
    [['--listen', '999.1.1.1:80'], {}, /--listen="999.1.1.1:80" must be HOST:PORT/],
    [['--listen', '10.0.0:80'], {}, /must be HOST:PORT/],
    [
      [],
      { CRIU_READINESS_LISTEN: 'x' },
      /^invalid --listen \(CRIU_READINESS_LISTEN\): CRIU_READINESS_LISTEN="x" must be HOST:PORT/,
    ],
    [
      ['--refresh-interval', 'soon'],
      {},
      /^invalid --refresh-interval \(CRIU_READINESS_REFRESH_INTERVAL\): .* must be a number of seconds from 1 to 604800$/,
    ],
    [['--refresh-interval', '0'], {}, /must be a number of seconds from 1 to 604800/],
    [['--refresh-interval', '-5'], {}, /must be a number of seconds/],
    [['--min-refresh-interval', '1e3'], {}, /must be a number of seconds from 0 to 86400/],
    [['--probe-timeout', '10'], {}, /^invalid --probe-timeout .* must be a number of milliseconds from 100 to 600000$/],
    [['--run-timeout', 'long'], {}, /^invalid --run-timeout .* must be a number of milliseconds/],
    [
      ['--log-level', 'verbose'],
      {},
      /^invalid --log-level \(CRIU_READINESS_LOG_LEVEL\): --log-level="verbose" must be one of fatal, error, warn, info, debug, trace, silent$/,
    ],
    [
      [],
      { CRIU_READINESS_REQUEST_LOG_LEVEL: 'loud' },
      /^invalid --request-log-level \(CRIU_READINESS_REQUEST_LOG_LEVEL\)/,
    ],
    [
      ['--probe-timeout', '20000', '--run-timeout', '10000'],
      {},
      /--run-timeout .* must not be shorter than --probe-timeout/,
    ],
  ];
  for (const [args, env, message] of cases)
    t.match(errorOf(args, env), message, [...args, JSON.stringify(env)].join(' '));
});

t.test('an unknown flag or a flag without its value is refused', async (t) => {
  t.match(errorOf(['--port', '80']), /^unknown option "--port"; "criu-readiness serve --help" lists the options$/);
  t.match(errorOf(['--listen']), /^--listen needs a value: HOST:PORT$/);
});

t.test('--help asks for the usage, which lists every flag with its variable and default', async (t) => {
  for (const flag of ['--help', '-h']) {
    let thrown: unknown;
    try {
      parseSettings(['--listen', 'bad', flag], {});
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof HelpRequested, `${flag} wins over a bad setting`);
  }
  const usage = serveUsage();
  for (const o of OPTIONS) {
    t.match(usage, o.flag);
    t.match(usage, `env ${o.env}`);
    if (o.defaultValue) t.match(usage, `default ${o.defaultValue}`);
  }
});

t.test('--keep-runner takes true or false only', async (t) => {
  t.throws(
    () => parseSettings(['--keep-runner', 'yes'], {}),
    new ConfigError('invalid --keep-runner (CRIU_READINESS_KEEP_RUNNER): --keep-runner="yes" must be true or false'),
  );
});
