// The service's logger and its first line, for both images of `serve`.
import { getHeapStatistics } from 'node:v8';
import pino, { type Logger } from 'pino';
import type { Settings } from '../config.js';
import { version } from '../version.js';

export function serviceLogger(settings: Settings): Logger {
  return pino({ level: settings.logLevel, base: { pid: process.pid } });
}

/** The service's first line: both images have the same pid and Node options, so the heap's limit reads the same. */
export function logStarting(log: Logger, settings: Settings): void {
  // The heap's limit says whether the service runs with its Node options (package.json's config.serviceNodeOptions).
  log.info({ version, settings, heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20) }, 'starting');
}
