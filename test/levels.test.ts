import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  evaluate,
  exitCode,
  featureExitCode,
  httpStatus,
  OUTCOMES,
  SENTENCE,
  DECIDING,
} from '../src/service/levels.js';
import { levelText, featureText, problemLine } from '../src/service/text.js';
import type { Category, Status, Verdict } from '../src/model.js';

function verdict(name: string, category: Category, status: Status): Verdict {
  const reason = status === 'supported' ? 'Supported' : status === 'unsupported' ? 'NotInKernel' : 'PermissionDenied';
  return {
    name,
    category,
    status,
    reason,
    message: `${name} message`,
    hint: status === 'supported' ? '' : `${name} hint`,
    kconfig: [],
    durationMs: 1,
  };
}

const allGood = [
  verdict('r1', 'required', 'supported'),
  verdict('e1', 'extra', 'supported'),
  verdict('x1', 'experimental', 'supported'),
  verdict('a1', 'advisory', 'supported'),
];
function withStatus(name: string, status: Status): Verdict[] {
  return allGood.map((v) => (v.name === name ? { ...verdict(v.name, v.category, status) } : v));
}

t.test('nothing missing: "Looks good.", exit 0, HTTP 200', async (t) => {
  const lv = evaluate(allGood, 'all');
  t.equal(lv.status, 'ok');
  t.equal(lv.sentence, 'Looks good.');
  t.equal(exitCode(lv), 0);
  t.equal(httpStatus(lv, true), 200);
});

t.test('an extra feature missing: the three-line sentence, exit 1, 200 unless strict', async (t) => {
  const lv = evaluate(withStatus('e1', 'unsupported'), 'extra');
  t.equal(lv.status, 'degraded');
  t.same(levelText(lv).verdict, [
    'Looks good but some kernel features are missing',
    'which, depending on your process tree, may cause',
    'dump or restore failure.',
  ]);
  t.same(lv.missing, ['e1']);
  t.equal(exitCode(lv), 1);
  t.equal(httpStatus(lv, false), 200);
  t.equal(httpStatus(lv, true), 503);
});

t.test('a required feature missing: "Does not look good.", exit 1, 503', async (t) => {
  const lv = evaluate(withStatus('r1', 'unsupported'), 'required');
  t.equal(lv.status, 'failed');
  t.equal(lv.sentence, SENTENCE.failed);
  t.equal(exitCode(lv), 1);
  t.equal(httpStatus(lv, false), 503);
});

t.test('a required feature unknown: could not determine, exit 2, 503', async (t) => {
  const lv = evaluate(withStatus('r1', 'unknown'), 'required');
  t.equal(lv.status, 'unknown');
  t.same(lv.unknown, ['r1']);
  t.equal(exitCode(lv), 2);
  t.equal(httpStatus(lv, false), 503);
});

t.test(
  'a required feature unknown outranks an optional one missing, in the sentence and the exit code alike',
  async (t) => {
    const verdicts = withStatus('r1', 'unknown').map((v) =>
      v.name === 'e1' ? verdict('e1', 'extra', 'unsupported') : v,
    );
    const lv = evaluate(verdicts, 'extra');
    t.equal(lv.sentence, SENTENCE.uncheckedRequired);
    t.equal(exitCode(lv), 2);
  },
);

t.test(
  'an optional feature missing outranks an optional one unknown, in the sentence and the exit code alike',
  async (t) => {
    const verdicts = withStatus('x1', 'unknown').map((v) =>
      v.name === 'e1' ? verdict('e1', 'extra', 'unsupported') : v,
    );
    const lv = evaluate(verdicts, 'all');
    t.equal(lv.sentence, SENTENCE.missing);
    t.equal(exitCode(lv), 1);
  },
);

t.test('one ranking: each sentence always comes with the same exit code', async (t) => {
  const statuses: Status[] = ['supported', 'unsupported', 'unknown'];
  const exits = new Map<string, Set<number>>();
  for (const r of statuses)
    for (const e of statuses)
      for (const x of statuses) {
        const verdicts = [verdict('r1', 'required', r), verdict('e1', 'extra', e), verdict('x1', 'experimental', x)];
        const lv = evaluate(verdicts, 'all');
        exits.set(lv.sentence, (exits.get(lv.sentence) ?? new Set()).add(exitCode(lv)));
      }
  for (const [sentence, codes] of exits) t.equal(codes.size, 1, sentence);
});

t.test('README states every sentence the check prints, with its exit code', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const row of OUTCOMES) {
    const sentence = SENTENCE[row.sentence].replace(/\n/g, ' ');
    t.ok(readme.includes(`| ${sentence} | ${row.exit} |`), `README has "| ${sentence} | ${row.exit} |"`);
  }
});

t.test('an optional feature unknown and nothing missing: degraded, exit 2, 200 unless strict', async (t) => {
  const lv = evaluate(withStatus('x1', 'unknown'), 'all');
  t.equal(lv.status, 'degraded');
  t.equal(lv.sentence, SENTENCE.uncheckedOptional);
  t.equal(exitCode(lv), 2);
  t.equal(httpStatus(lv, false), 200);
  t.equal(httpStatus(lv, true), 503);
});

t.test('experimental means required + experimental, as in CRIU: extra does not count', async (t) => {
  t.same(DECIDING.experimental, ['required', 'experimental']);
  const lv = evaluate(withStatus('e1', 'unsupported'), 'experimental');
  t.equal(lv.status, 'ok');
  t.notOk(
    lv.features.some((v) => v.name === 'e1'),
    'extra features are not reported at this level',
  );
});

t.test('required level does not look at extra or experimental features', async (t) => {
  const lv = evaluate(withStatus('x1', 'unsupported'), 'required');
  t.equal(lv.status, 'ok');
  t.same(
    lv.features.map((v) => v.name),
    ['r1', 'a1'],
  );
});

t.test('advisory features are reported at every level but never decide', async (t) => {
  const lv = evaluate(withStatus('a1', 'unsupported'), 'required');
  t.equal(lv.status, 'ok');
  t.equal(exitCode(lv), 0);
  t.same(levelText(lv).problems, ['Warn  (a1): a1 message [hint: a1 hint]']);
});

t.test('a missing required feature is an Error line, others are Warn lines with two spaces', async (t) => {
  t.equal(problemLine(verdict('r1', 'required', 'unsupported')), 'Error (r1): r1 message [hint: r1 hint]');
  t.equal(problemLine(verdict('e1', 'extra', 'unsupported')), 'Warn  (e1): e1 message [hint: e1 hint]');
});

t.test('an unknown feature says it could not be checked, and why', async (t) => {
  t.equal(
    problemLine(verdict('r1', 'required', 'unknown')),
    'Warn  (r1): could not check (PermissionDenied): r1 message [hint: r1 hint]',
  );
});

t.test('--feature text: a feature that does not apply here says "not applicable", with why, and exits 0', async (t) => {
  const v: Verdict = {
    ...verdict('a1', 'extra', 'supported'),
    reason: 'NotApplicable',
    message: 'AppArmor not active: nothing to stack',
  };
  t.same(featureText(v), { problems: [], verdict: ['a1 is not applicable: AppArmor not active: nothing to stack'] });
  t.equal(featureExitCode(v), 0);
});

t.test('level text: a feature that does not apply here is shown as not applicable', async (t) => {
  const verdicts = allGood.map((v) =>
    v.name === 'e1' ? { ...v, reason: 'NotApplicable' as const, message: 'no AppArmor' } : v,
  );
  t.same(levelText(evaluate(verdicts, 'extra')).problems, ['Info  (e1): not applicable: no AppArmor']);
});

t.test('--feature text: "NAME is supported" or the warning', async (t) => {
  t.same(featureText(verdict('r1', 'required', 'supported')), { problems: [], verdict: ['r1 is supported'] });
  t.same(featureText(verdict('e1', 'extra', 'unsupported')).verdict, []);
});
