// Prometheus metrics, rebuilt from the verdict cache after every check run.
// A scrape never runs a probe: it gets the service's families as rendered
// after the last run, plus the process defaults (collected at most once a second).
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  Counter,
  Gauge,
  Registry,
  collectDefaultMetrics,
  type OpenMetricsContentType,
  type PrometheusContentType,
  type RegistryContentType,
} from 'prom-client';
import type { Report } from './service/check.js';
import type { VerdictSource } from './service/source.js';
import { LEVELS, evaluate, httpStatus } from './service/levels.js';
import { RUN_RESULTS, STATUSES } from './model.js';
import { criuDisagreements, criuInfo } from './service/criu.js';
import { version } from './version.js';

/** What the metrics read of a verdict source: runs finished before the metrics were attached start the counter. */
export type MetricsSource = Pick<VerdictSource, 'current' | 'intervalMs' | 'runs' | 'on'>;

export type ExpositionFormat = 'prometheus' | 'openmetrics';

const CONTENT_TYPES: { prometheus: PrometheusContentType; openmetrics: OpenMetricsContentType } = {
  prometheus: Registry.PROMETHEUS_CONTENT_TYPE,
  openmetrics: Registry.OPENMETRICS_CONTENT_TYPE,
};

export const PREFIX = 'criu_readiness_';

const gzipAsync = promisify(gzip);

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** This service's own metric families, registered in one registry. */
class Families {
  readonly featureStatus: Gauge<'feature' | 'category' | 'status'>;
  readonly ready: Gauge<'level'>;
  readonly lastCheck: Gauge;
  readonly checkDuration: Gauge;
  readonly probeDuration: Gauge<'feature'>;
  readonly runs: Counter<'result'>;
  readonly notApplicable: Gauge<'feature'>;
  readonly criuInfo: Gauge<'version' | 'path'>;
  readonly criuDisagreement: Gauge<'feature' | 'ours' | 'criu'>;

  constructor(registry: Registry<RegistryContentType>, intervalMs: number) {
    const registers = [registry];
    const cached =
      `Cached: rebuilt after each check run, every ${Math.round(intervalMs / 1000)} s; ` +
      `a scrape never runs a probe.`;
    this.featureStatus = new Gauge({
      name: `${PREFIX}feature_status`,
      help:
        `Kernel feature verdict for CRIU: 1 for the feature's current status (supported, ` +
        `unsupported or unknown), 0 for the other two. ${cached}`,
      labelNames: ['feature', 'category', 'status'],
      registers,
    });
    this.ready = new Gauge({
      name: `${PREFIX}ready`,
      help:
        `1 when every deciding feature of the level (required, extra, experimental, checkpoint, ` +
        `all) is supported, as GET /check?level=LEVEL&strict=true answers 200. ${cached}`,
      labelNames: ['level'],
      registers,
    });
    this.lastCheck = new Gauge({
      name: `${PREFIX}last_check_timestamp_seconds`,
      help: `When the last check run finished, in seconds since the epoch; 0 before the first run. ${cached}`,
      registers,
    });
    this.checkDuration = new Gauge({
      name: `${PREFIX}check_duration_seconds`,
      help: `How long the last check run took, in seconds. ${cached}`,
      registers,
    });
    this.probeDuration = new Gauge({
      name: `${PREFIX}probe_duration_seconds`,
      help: `How long each feature's probe took in the last check run, in seconds. ${cached}`,
      labelNames: ['feature'],
      registers,
    });
    this.runs = new Counter({
      name: `${PREFIX}check_runs_total`,
      help:
        `Check runs since the service started, by result (failed: a probe timed out, crashed or ` +
        `threw, or the runner could not start). ${cached}`,
      labelNames: ['result'],
      registers,
    });
    this.notApplicable = new Gauge({
      name: `${PREFIX}feature_not_applicable`,
      help:
        `1 when the feature does not apply on this host (feature_status says supported, with ` +
        `reason NotApplicable), else 0. ${cached}`,
      labelNames: ['feature'],
      registers,
    });
    this.criuInfo = new Gauge({
      name: `${PREFIX}criu_info`,
      help:
        `The criu the runtime checks found: its version and the host's path to it; the value is ` +
        `always 1, and there is no series when none says its version. ${cached}`,
      labelNames: ['version', 'path'],
      registers,
    });
    this.criuDisagreement = new Gauge({
      name: `${PREFIX}criu_disagreement`,
      help:
        `1 for each feature on which criu check --feature NAME answers otherwise than we do ` +
        `(ours and criu: supported or unsupported); no series where we agree or either could not tell. ${cached}`,
      labelNames: ['feature', 'ours', 'criu'],
      registers,
    });
    new Gauge({
      name: `${PREFIX}build_info`,
      help: 'The criu-readiness build; the value is always 1.',
      labelNames: ['version'],
      registers,
    }).set({ version }, 1);
    // Both series exist from the start, so increase() sees the first failure.
    for (const result of RUN_RESULTS) this.runs.inc({ result }, 0);
  }

  /** Replace every per-feature series with the report's, so a feature that disappeared leaves none behind. */
  update(report: Report): void {
    this.featureStatus.reset();
    this.probeDuration.reset();
    this.notApplicable.reset();
    this.criuInfo.reset();
    this.criuDisagreement.reset();
    for (const verdict of report.verdicts) {
      this.notApplicable.set(
        { feature: verdict.name },
        verdict.status === 'supported' && verdict.reason === 'NotApplicable' ? 1 : 0,
      );
      for (const status of STATUSES) {
        this.featureStatus.set(
          { feature: verdict.name, category: verdict.category, status },
          verdict.status === status ? 1 : 0,
        );
      }
      this.probeDuration.set({ feature: verdict.name }, verdict.durationMs / 1000);
    }
    for (const level of LEVELS) {
      this.ready.set({ level }, httpStatus(evaluate(report.verdicts, level), true) === 200 ? 1 : 0);
    }
    const criu = criuInfo(report.verdicts);
    if (criu) this.criuInfo.set(criu, 1);
    for (const d of criuDisagreements(report.verdicts))
      this.criuDisagreement.set({ feature: d.feature, ours: d.ours, criu: d.criu }, 1);
    this.lastCheck.set(report.finishedAt.getTime() / 1000);
    this.checkDuration.set(report.durationMs / 1000);
  }
}

type FormatRegistries = { [F in ExpositionFormat]: Registry<(typeof CONTENT_TYPES)[F]> };

function formatRegistries(): FormatRegistries {
  const openmetrics = new Registry<OpenMetricsContentType>();
  openmetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return { prometheus: new Registry(), openmetrics };
}

let defaults: FormatRegistries | undefined;
/** One counter per format registry (see Metrics): failed writes of the NFD feature file. */
let nfdWriteErrors: Counter[] = [];

/**
 * The process defaults, collected once per process whatever the number of
 * Metrics (tests build many apps), and what the process counts beside the
 * verdicts: rendered at each scrape, so a count is seen at once.
 */
function processDefaults(): FormatRegistries {
  if (!defaults) {
    defaults = formatRegistries();
    for (const register of [defaults.prometheus, defaults.openmetrics]) {
      collectDefaultMetrics({ register });
      // Gauges named *_total break Prometheus' naming rules (promtool check metrics
      // rejects them); sum() over the per-type families gives the same numbers.
      for (const name of LINT_FAILING_DEFAULTS) register.removeSingleMetric(name);
    }
    nfdWriteErrors = [defaults.prometheus, defaults.openmetrics].map(
      (register) =>
        new Counter({
          name: `${PREFIX}nfd_write_errors_total`,
          help:
            'Failed writes of the node-feature-discovery feature file ' +
            '(--nfd-features-file) since the service started; its labels go stale ' +
            'while this rises.',
          registers: [register],
        }),
    );
  }
  return defaults;
}

/** Count one failed write of the NFD feature file. */
export function countNfdWriteError(): void {
  processDefaults();
  for (const counter of nfdWriteErrors) counter.inc();
  // The next scrape collects afresh rather than serving the count from before.
  for (const format of Object.keys(processExpositions) as ExpositionFormat[]) delete processExpositions[format];
}

/**
 * How long one collection of the process defaults serves: scrapes come
 * seconds apart and always see fresh values, while a burst of requests
 * costs one collection.
 */
const PROCESS_METRICS_MAX_AGE_MS = 1000;

const processExpositions: { [F in ExpositionFormat]?: { body: Promise<string>; collectedAt: number } } = {};

function processExposition(format: ExpositionFormat): Promise<string> {
  const now = performance.now();
  const last = processExpositions[format];
  if (last && now - last.collectedAt < PROCESS_METRICS_MAX_AGE_MS) return last.body;
  const body = processDefaults()[format].metrics();
  processExpositions[format] = { body, collectedAt: now };
  return body;
}

const OPENMETRICS_EOF = '# EOF\n';

/**
 * The service's metrics: its own families, fed from the cache, plus the
 * process defaults.
 *
 * prom-client renames counters in place when an OpenMetrics registry renders
 * them (it drops `_total` from the metric object), which would corrupt a
 * Prometheus-format rendering of the same object afterwards. So each format
 * has its own registry with its own metric objects, fed from the same events.
 */
export class Metrics {
  /** This service's own families in the Prometheus text format (never the global registry). */
  readonly registry: Registry;
  private readonly registries = formatRegistries();
  private readonly families: readonly Families[];
  /** The own families, rendered only when a scrape asks: at most once per run and format. */
  private own: { [F in ExpositionFormat]?: Promise<string> } = {};
  /** The last body of each format and what it was made of: requests between changes share its bytes. */
  private readonly bodies: {
    [F in ExpositionFormat]?: { own: string; process: string; body: Buffer; gzipped?: Promise<Buffer> };
  } = {};

  constructor(source: MetricsSource) {
    this.registry = this.registries.prometheus;
    this.families = [
      new Families(this.registries.prometheus, source.intervalMs),
      new Families(this.registries.openmetrics, source.intervalMs),
    ];
    for (const families of this.families) {
      for (const result of RUN_RESULTS) families.runs.inc({ result }, source.runs[result]);
      if (source.current) families.update(source.current);
    }
    source.on('refreshed', (report, result) => {
      for (const families of this.families) {
        families.runs.inc({ result });
        families.update(report);
      }
      this.own = {};
    });
  }

  /**
   * The exposition in the given format, with its Content-Type; gzipped when
   * asked (Prometheus asks), as the text compresses well.
   */
  async render(format: ExpositionFormat, options: { gzip?: boolean } = {}): Promise<Exposition> {
    const [own, process] = await Promise.all([
      (this.own[format] ??= this.registries[format].metrics()),
      processExposition(format),
    ]);
    let last = this.bodies[format];
    if (last?.own !== own || last.process !== process) {
      // Two expositions make one: text allows blank lines between families;
      // OpenMetrics has a single # EOF, at the very end.
      const text = format === 'openmetrics' ? own.slice(0, -OPENMETRICS_EOF.length) + process : `${own}\n${process}`;
      last = this.bodies[format] = { own, process, body: Buffer.from(text) };
    }
    const contentType = CONTENT_TYPES[format];
    if (!options.gzip) return { contentType, body: last.body };
    last.gzipped ??= gzipAsync(last.body);
    return { contentType, body: await last.gzipped, contentEncoding: 'gzip' };
  }
}

export interface Exposition {
  contentType: string;
  body: Buffer;
  contentEncoding?: 'gzip';
}
