// The checkpoint level: the kernel's required features and the runtime
// chain; "not applicable" as its own answer; criu's version and its own
// verdicts beside ours, in JSON, text, metrics and the NFD file.
import t, { type Test } from 'tap';
import type { Feature } from '../src/catalogue.js';
import type { ProbeOutcome } from '../src/model.js';
import { buildApp } from '../src/http/app.js';
import { Metrics } from '../src/metrics.js';
import { nfdFeatureText, NFD_NAMESPACE } from '../src/nfd.js';
import { logCriuDisagreements } from '../src/service/criu.js';
import { evaluate, exitCode, httpStatus } from '../src/service/levels.js';
import { levelText } from '../src/service/text.js';
import { MemorySource, reportOf, TEST_FEATURES, UNKNOWN, UNSUPPORTED } from './helpers/memory-source.js';
import { exposition, promtool } from './helpers/prometheus.js';

function runtimeRow(name: string): Feature {
  return {
    name,
    category: 'runtime',
    summary: `the ${name} runtime check`,
    criuUses: `the checkpoint chain runs the ${name} step.`,
    kconfig: [],
    hint: `fix ${name}`,
    probe: () => ({ status: 'supported', reason: 'Supported', message: 'ok' }),
  };
}

/** The test catalogue (alpha required, beta extra, gamma experimental, delta advisory) and three runtime rows. */
const FEATURES = [
  ...TEST_FEATURES,
  runtimeRow('criu_version'),
  runtimeRow('criu_runs'),
  runtimeRow('kubelet_checkpoint'),
];

const CRIU_42: ProbeOutcome = {
  status: 'supported',
  reason: 'Supported',
  message: 'criu 4.2',
  criu: { version: '4.2', path: '/usr/sbin/criu' },
};
/** criu_runs where criu says alpha is missing (we say supported) and beta works (we agree), and cannot tell gamma. */
const CRIU_DIFFERS: ProbeOutcome = {
  status: 'supported',
  reason: 'Supported',
  message: '/usr/sbin/criu check: Looks good.',
  criu: {
    features: [
      { feature: 'alpha', status: 'unsupported', message: 'alpha is not supported' },
      { feature: 'beta', status: 'supported', message: 'beta is supported' },
    ],
  },
};
const NOT_APPLICABLE: ProbeOutcome = {
  status: 'supported',
  reason: 'NotApplicable',
  message: 'this node runs no kubelet',
};

function appFor(t: Test, outcomes: Record<string, ProbeOutcome>) {
  const source = new MemorySource({ features: FEATURES });
  source.outcomes = outcomes;
  const app = buildApp({ source });
  t.teardown(() => app.close());
  return { app, source };
}

t.test(
  'a missing runtime check fails the checkpoint level, degrades all, and leaves the kernel levels alone',
  async (t) => {
    const report = reportOf(FEATURES, { criu_version: UNSUPPORTED('criu_version') });
    t.match(evaluate(report.verdicts, 'checkpoint'), {
      status: 'failed',
      sentence: 'Does not look good.',
      missing: ['criu_version'],
    });
    t.equal(exitCode(evaluate(report.verdicts, 'checkpoint')), 1);
    t.match(evaluate(report.verdicts, 'all'), { status: 'degraded', missing: ['criu_version'] });
    for (const level of ['required', 'extra', 'experimental'] as const)
      t.match(evaluate(report.verdicts, level), { status: 'ok', missing: [] }, level);
  },
);

t.test('an unknown runtime check makes the checkpoint level unknown (503)', async (t) => {
  const verdict = evaluate(
    reportOf(FEATURES, { kubelet_checkpoint: UNKNOWN('kubelet_checkpoint') }).verdicts,
    'checkpoint',
  );
  t.match(verdict, { status: 'unknown', unknown: ['kubelet_checkpoint'] });
  t.equal(httpStatus(verdict, false), 503);
  t.equal(exitCode(verdict), 2);
});

t.test('checkpoint reports the required and runtime features (and advisory), not extra or experimental', async (t) => {
  const verdict = evaluate(reportOf(FEATURES).verdicts, 'checkpoint');
  t.same(
    verdict.features.map((v) => v.name),
    ['alpha', 'delta', 'criu_version', 'criu_runs', 'kubelet_checkpoint'],
  );
});

t.test('not applicable never fails a level, and the text says "not applicable"', async (t) => {
  const verdict = evaluate(reportOf(FEATURES, { kubelet_checkpoint: NOT_APPLICABLE }).verdicts, 'checkpoint');
  t.match(verdict, { status: 'ok', missing: [], unknown: [] });
  t.equal(exitCode(verdict), 0);
  t.same(levelText(verdict).problems, ['Info  (kubelet_checkpoint): not applicable: this node runs no kubelet']);
});

t.test('a missing runtime check is an Error line at the checkpoint level, a Warn line at all', async (t) => {
  const verdicts = reportOf(FEATURES, { criu_version: UNSUPPORTED('criu_version') }).verdicts;
  t.match(levelText(evaluate(verdicts, 'checkpoint')).problems, [
    /^Error \(criu_version\): criu_version is missing \[hint: fix criu_version\]$/,
  ]);
  t.match(levelText(evaluate(verdicts, 'all')).problems, [/^Warn  \(criu_version\): /]);
});

t.test('the text status line names criu and counts the disagreements', async (t) => {
  const verdict = evaluate(
    reportOf(FEATURES, { criu_version: CRIU_42, criu_runs: CRIU_DIFFERS }).verdicts,
    'checkpoint',
  );
  t.same(levelText(verdict).verdict, [
    'Looks good.',
    "criu 4.2 at /usr/sbin/criu; criu's own verdict differs from ours on 1 feature",
  ]);
  t.same(levelText(verdict).problems, [
    'Warn  (alpha): criu says unsupported, we say supported: alpha is not supported',
  ]);
});

t.test("each disagreement is a warning in the service's log, with both answers and criu's words", async (t) => {
  const logged: { fields: object; message: string }[] = [];
  const log = { warn: (fields: object, message: string) => logged.push({ fields, message }) };
  logCriuDisagreements(log, reportOf(FEATURES, { criu_version: CRIU_42, criu_runs: CRIU_DIFFERS }).verdicts);
  t.same(logged, [
    {
      fields: { feature: 'alpha', ours: 'supported', criu: 'unsupported', criuSays: 'alpha is not supported' },
      message: "criu's own verdict differs from ours",
    },
  ]);
  logged.length = 0;
  logCriuDisagreements(log, reportOf(FEATURES, { criu_version: CRIU_42 }).verdicts);
  t.same(logged, [], 'no criu verdicts, no warning');
});

t.test('without a criu that says its version, the status line says so; kernel levels have none', async (t) => {
  const verdicts = reportOf(FEATURES, { criu_version: UNSUPPORTED('criu_version') }).verdicts;
  t.same(levelText(evaluate(verdicts, 'checkpoint')).verdict, [
    'Does not look good.',
    'criu: no version read (see criu_version)',
  ]);
  const none = reportOf([runtimeRow('criu_binary'), ...FEATURES], {
    criu_binary: UNSUPPORTED('criu_binary'),
    criu_version: UNSUPPORTED('criu_version'),
  }).verdicts;
  t.same(levelText(evaluate(none, 'checkpoint')).verdict, ['Does not look good.', 'criu: not installed']);
  t.same(levelText(evaluate(verdicts, 'required')).verdict, ['Looks good.']);
});

t.test(
  "the status page's table of levels has the checkpoint level, failing on the runtime check it misses",
  async (t) => {
    const { app, source } = appFor(t, { kubelet_checkpoint: UNSUPPORTED('kubelet_checkpoint') });
    await source.refresh();
    const res = await app.inject({ url: '/', headers: { accept: 'text/html' } });
    t.equal(res.statusCode, 200);
    const row = /<tr><th scope="row"><a href="\/check\?level=checkpoint">checkpoint<\/a><\/th>[\s\S]*?<\/tr>/.exec(
      res.body,
    )?.[0];
    t.ok(row, 'a row for the checkpoint level');
    t.match(row, /failed/);
    t.match(row, /kubelet_checkpoint/);
  },
);

t.test('GET /check?level=checkpoint: criu and criuDisagreements in the body; ours and criu both said', async (t) => {
  const { app, source } = appFor(t, { criu_version: CRIU_42, criu_runs: CRIU_DIFFERS });
  await source.refresh();
  const res = await app.inject('/check?level=checkpoint');
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.equal(body.level, 'checkpoint');
  t.same(body.criu, { version: '4.2', path: '/usr/sbin/criu' });
  t.same(body.criuDisagreements, [
    { feature: 'alpha', ours: 'supported', criu: 'unsupported', message: 'alpha is not supported' },
  ]);
  t.notOk(
    'criu' in body.features.find((f: { name: string }) => f.name === 'criu_runs'),
    "criu's raw answers stay out of the features",
  );
});

t.test('GET /check?level=all compares every reported feature; the kernel levels carry no criu fields', async (t) => {
  const { app, source } = appFor(t, {
    criu_version: CRIU_42,
    criu_runs: {
      ...CRIU_DIFFERS,
      criu: { features: [{ feature: 'beta', status: 'unsupported', message: 'no beta' }] },
    },
  });
  await source.refresh();
  t.same((await app.inject('/check?level=all')).json().criuDisagreements, [
    { feature: 'beta', ours: 'supported', criu: 'unsupported', message: 'no beta' },
  ]);
  t.same(
    (await app.inject('/check?level=checkpoint')).json().criuDisagreements,
    [],
    'beta is not a feature of the checkpoint level',
  );
  const required = (await app.inject('/check?level=required')).json();
  t.notOk('criu' in required || 'criuDisagreements' in required);
});

t.test('GET /check?level=checkpoint: identical verdicts give identical bytes', async (t) => {
  const { app, source } = appFor(t, { criu_version: CRIU_42, criu_runs: CRIU_DIFFERS });
  await source.refresh();
  const first = await app.inject('/check?level=checkpoint');
  await source.refresh();
  const second = await app.inject('/check?level=checkpoint');
  t.equal(second.body, first.body);
  t.equal(second.headers.etag, first.headers.etag);
});

t.test('GET /check?level=checkpoint with criu missing: 503, and the text names the missing check', async (t) => {
  const { app, source } = appFor(t, { criu_version: UNSUPPORTED('criu_version') });
  await source.refresh();
  const res = await app.inject('/check?level=checkpoint&format=text');
  t.equal(res.statusCode, 503);
  t.equal(
    res.body,
    'Error (criu_version): criu_version is missing [hint: fix criu_version]\nDoes not look good.\ncriu: no version read (see criu_version)\n',
  );
  t.equal((await app.inject('/check')).statusCode, 200, "the default level stays the kernel's");
});

t.test('metrics: criu_info, criu_disagreement, feature_not_applicable and ready{level="checkpoint"}', async (t) => {
  const source = new MemorySource({ features: FEATURES });
  const metrics = new Metrics(source);
  source.outcomes = { criu_version: CRIU_42, criu_runs: CRIU_DIFFERS, kubelet_checkpoint: NOT_APPLICABLE };
  await source.refresh();
  const body = await exposition(metrics);
  t.match(body, /^criu_readiness_criu_info\{version="4\.2",path="\/usr\/sbin\/criu"\} 1$/m);
  t.match(body, /^criu_readiness_criu_disagreement\{feature="alpha",ours="supported",criu="unsupported"\} 1$/m);
  t.notMatch(body, /criu_disagreement\{feature="beta"/, 'no series where we agree');
  t.match(body, /^criu_readiness_feature_not_applicable\{feature="kubelet_checkpoint"\} 1$/m);
  t.match(body, /^criu_readiness_feature_not_applicable\{feature="alpha"\} 0$/m);
  t.match(
    body,
    /^criu_readiness_feature_status\{feature="kubelet_checkpoint",category="runtime",status="supported"\} 1$/m,
    'the status stays three-valued',
  );
  t.match(body, /^criu_readiness_ready\{level="checkpoint"\} 1$/m);
  const result = promtool(['check', 'metrics'], body);
  t.equal(result.status, 0, result.output);
  t.notMatch(result.output, /\S/, 'no lint findings');
});

t.test('metrics: no criu_info series once criu is gone', async (t) => {
  const source = new MemorySource({ features: FEATURES });
  const metrics = new Metrics(source);
  source.outcomes = { criu_version: CRIU_42 };
  await source.refresh();
  source.outcomes = { criu_version: UNSUPPORTED('criu_version') };
  await source.refresh();
  const body = await exposition(metrics);
  t.notMatch(body, /^criu_readiness_criu_info\{/m);
  t.match(body, /^criu_readiness_ready\{level="checkpoint"\} 0$/m);
});

t.test('NFD: ready.checkpoint and criu.version labels', async (t) => {
  const good = nfdFeatureText(reportOf(FEATURES, { criu_version: CRIU_42 }));
  t.match(good, new RegExp(`^${NFD_NAMESPACE}/ready\\.checkpoint=true$`, 'm'));
  t.match(good, new RegExp(`^${NFD_NAMESPACE}/criu\\.version=4\\.2$`, 'm'));
  const bad = nfdFeatureText(reportOf(FEATURES, { criu_version: UNSUPPORTED('criu_version') }));
  t.match(bad, new RegExp(`^${NFD_NAMESPACE}/ready\\.checkpoint=false$`, 'm'));
  t.notMatch(bad, /criu\.version=/);
});
