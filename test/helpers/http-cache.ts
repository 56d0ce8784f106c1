// A verdict cache over the real engine with steerable test probes
// (test/fixtures/http-probes.ts), for the cache and HTTP tests.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VerdictCache, type VerdictCacheOptions } from '../../src/service/cache.js';
import { ProbeEngine } from '../../src/engine/engine.js';
import type { ProbeOutcome } from '../../src/model.js';
import { PROBES_DIR_ENV } from '../fixtures/http-probes.js';
import { TEST_FEATURES } from './memory-source.js';

export { TEST_FEATURES };
const probeModule = fileURLToPath(new URL('../fixtures/http-probes.ts', import.meta.url));

interface Teardown {
  teardown(fn: () => unknown): void;
}

export class SteeredProbes {
  readonly dir = mkdtempSync(join(tmpdir(), 'criu-readiness-http-'));

  constructor(t: Teardown) {
    // The runner inherits the environment when it starts.
    process.env[PROBES_DIR_ENV] = this.dir;
    t.teardown(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  set(name: string, outcome: ProbeOutcome | 'crash' | 'hang' | undefined): void {
    const path = join(this.dir, name);
    if (outcome === undefined) rmSync(path, { force: true });
    else writeFileSync(path, typeof outcome === 'string' ? outcome : JSON.stringify(outcome));
  }

  delay(ms: number): void {
    writeFileSync(join(this.dir, 'delay-ms'), String(ms));
  }

  /** Probe calls so far. */
  calls(): number {
    try {
      return readFileSync(join(this.dir, 'runs.log'), 'utf8').split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  }
}

export { UNKNOWN, UNSUPPORTED } from './memory-source.js';

/** A cache over a warm engine running the steered probes; stopped at teardown. */
export function steeredCache(t: Teardown, options: Partial<Omit<VerdictCacheOptions, 'engine'>> = {}): VerdictCache {
  const engine = new ProbeEngine({ probeModule, keepWarm: true, probeTimeoutMs: 60_000, runTimeoutMs: 120_000 });
  const cache = new VerdictCache({
    engine,
    features: TEST_FEATURES,
    intervalMs: 3_600_000,
    minRefreshIntervalMs: 0,
    ...options,
  });
  t.teardown(() => cache.stop());
  return cache;
}
