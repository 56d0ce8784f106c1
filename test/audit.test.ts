import t from 'tap';
import { auditVerdict } from '../scripts/audit.js';

const counts = { info: 0, low: 1, moderate: 1, high: 0, critical: 0, total: 2 };

function report(vulnerabilities: Record<string, { severity: string }>, metadata = counts): string {
  return JSON.stringify({ auditReportVersion: 2, vulnerabilities, metadata: { vulnerabilities: metadata } });
}

t.test('a report with only low and moderate findings is clean', async (t) => {
  const verdict = auditVerdict(report({ a: { severity: 'low' }, b: { severity: 'moderate' } }));
  t.same(verdict, { kind: 'clean', counts });
});

t.test('high and critical findings are named', async (t) => {
  const verdict = auditVerdict(
    report(
      { a: { severity: 'high' }, b: { severity: 'low' }, c: { severity: 'critical' } },
      { ...counts, high: 1, critical: 1, total: 3 },
    ),
  );
  t.same(verdict, {
    kind: 'findings',
    findings: [
      { name: 'a', severity: 'high' },
      { name: 'c', severity: 'critical' },
    ],
  });
});

t.test('an audit endpoint that refuses (405) is "not checked", with its message, never clean', async (t) => {
  const refused = JSON.stringify({
    message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
    statusCode: 405,
    error: { summary: '' },
  });
  t.same(auditVerdict(refused), {
    kind: 'unchecked',
    why: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  });
});

t.test('output that is not JSON is "not checked"', async (t) => {
  t.equal(auditVerdict('npm ERR! network').kind, 'unchecked');
});
