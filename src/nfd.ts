// node-feature-discovery's `local` source reads feature files from
// features.d/ and turns each `key=value` line into a node label. The service
// writes one such file after every refresh, so NFD labels each node with its
// verdicts.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from './model.js';
import type { Report } from './service/check.js';
import { evaluate, httpStatus, LEVELS } from './service/levels.js';
import { criuInfo } from './service/criu.js';

/**
 * NFD accepts any label namespace under feature.node.kubernetes.io (its own
 * sub-namespaces) but refuses other *.kubernetes.io ones, and unprefixed keys
 * are auto-prefixed only until its DisableAutoPrefix gate flips: so every key is
 * `<NFD_NAMESPACE>/<name>`.
 */
export const NFD_NAMESPACE = 'criu-readiness.feature.node.kubernetes.io';

/** The name part of a label key (Kubernetes' qualified name rule: 63 characters at most). */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_NAME_MAX = 63;
/** A label value: empty, or 63 characters at most of the name's alphabet. */
const LABEL_VALUE = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** NFD ignores a feature file larger than 64 KiB. */
export const NFD_MAX_FILE_BYTES = 65536;

/** Default lifetime of the labels: three refreshes at the default five-minute interval. */
export const DEFAULT_NFD_TTL_MS = 15 * 60_000;

export interface NfdOptions {
  /**
   * How long NFD should believe the file (`# +expiry-time`). The service
   * rewrites it on every refresh; if the service stops, NFD drops the labels
   * after this long instead of keeping a dead pod's verdicts forever.
   */
  ttlMs?: number;
}

/** `<namespace>/<feature name>`: the label key of one feature. */
function featureKey(name: string): string {
  if (name.length > LABEL_NAME_MAX || !LABEL_NAME.test(name)) {
    throw new Error(
      `${JSON.stringify(name)} cannot be an NFD label name (letters, digits, '-', '_' ` +
        `and '.', at most ${LABEL_NAME_MAX})`,
    );
  }
  return `${NFD_NAMESPACE}/${name}`;
}

/** `<namespace>/ready.<level>`: feature names never contain a dot, so these cannot collide with them. */
function levelKey(level: string): string {
  return featureKey(`ready.${level}`);
}

/**
 * The feature file's text: an expiry directive, one line per feature
 * (supported, unsupported or unknown), criu.version=<version> when the
 * runtime checks found a criu, and one per level: ready.<level>=true
 * when every deciding feature of the level is supported, i.e. when
 * /check?level=<level>&strict=true would answer 200. (Without strict, every
 * level would pass exactly when `required` does, which a label cannot use.)
 */
export function nfdFeatureText(report: Report, options: NfdOptions = {}): string {
  const expiry = new Date(report.finishedAt.getTime() + (options.ttlMs ?? DEFAULT_NFD_TTL_MS));
  const lines = [
    '# Written by criu-readiness after each check run; do not edit.',
    // Seconds precision: NFD parses RFC 3339 and the fraction adds nothing.
    `# +expiry-time=${expiry.toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
  ];
  for (const level of LEVELS) {
    const ready = httpStatus(evaluate(report.verdicts, level), true) === 200;
    lines.push(`${levelKey(level)}=${ready}`);
  }
  for (const verdict of report.verdicts) lines.push(`${featureKey(verdict.name)}=${verdict.status}`);
  // criu.version: the dot keeps it apart from feature names, as ready.<level>'s does.
  const criu = criuInfo(report.verdicts);
  if (criu && LABEL_VALUE.test(criu.version)) lines.push(`${featureKey('criu.version')}=${criu.version}`);
  const text = lines.join('\n') + '\n';
  if (Buffer.byteLength(text) > NFD_MAX_FILE_BYTES)
    throw new Error(
      `NFD feature file would be ${Buffer.byteLength(text)} bytes; NFD ignores files over ${NFD_MAX_FILE_BYTES}`,
    );
  return text;
}

/**
 * Replace the feature file at `path` atomically: write a dot-file in the same
 * directory (NFD skips dot-files), fsync it, then rename it over the target.
 * A reader sees the old file or the new one, never a part of either. On any
 * error the dot-file is removed, the old file is left as it was, and the error
 * is thrown.
 */
export async function writeNfdFeatures(path: string, report: Report, options: NfdOptions = {}): Promise<void> {
  const text = nfdFeatureText(report, options);
  // A random suffix keeps two writers (say, an old and a new pod) from sharing a temporary file.
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(temporary, 'wx', 0o644);
    try {
      await file.writeFile(text);
      // nfd-worker reads it as another user; do not let our umask decide.
      await file.chmod(0o644);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

/**
 * Make sure the feature file can be written, at start-up rather than at the
 * first refresh: create its directory if missing (as mkdir -p), then create
 * and remove a dot-file in it. Throws with the reason otherwise.
 */
export async function prepareNfdDirectory(path: string): Promise<void> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true });
    const probe = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.check`);
    await (await open(probe, 'wx', 0o644)).close();
    await rm(probe, { force: true });
  } catch (err) {
    const reason = errorMessage(err);
    throw new Error(`cannot write the NFD feature file in ${dir}: ${reason}`);
  }
}
