// `npm run audit`: npm audit of what the image ships (--omit=dev), failing on
// a high or critical finding. Where the registry's audit endpoint cannot be
// reached (some mirrors and proxies answer 405), it says so plainly and does
// not fail, unless AUDIT_REQUIRED=1: "not checked" is never "no findings".
import { spawnSync } from 'node:child_process';

const AUDIT_TIMEOUT_MS = 120_000;

export const FAILING_SEVERITIES = ['high', 'critical'] as const;

export type AuditVerdict =
  | { kind: 'clean'; counts: Record<string, number> }
  | { kind: 'findings'; findings: { name: string; severity: string }[] }
  | { kind: 'unchecked'; why: string };

interface AuditReport {
  vulnerabilities?: Record<string, { severity?: string }>;
  metadata?: { vulnerabilities?: Record<string, number> };
  message?: string;
  error?: { summary?: string };
}

/** What `npm audit --json` printed, judged: clean, high/critical findings, or not checked at all. */
export function auditVerdict(stdout: string): AuditVerdict {
  let report: AuditReport;
  try {
    report = JSON.parse(stdout) as AuditReport;
  } catch {
    return { kind: 'unchecked', why: `npm audit printed no report: ${JSON.stringify(stdout.slice(0, 200))}` };
  }
  const counts = report.metadata?.vulnerabilities;
  if (!counts)
    return { kind: 'unchecked', why: report.message ?? report.error?.summary ?? 'npm audit printed no counts' };
  const findings = Object.entries(report.vulnerabilities ?? {})
    .filter(([, v]) => (FAILING_SEVERITIES as readonly (string | undefined)[]).includes(v.severity))
    .map(([name, v]) => ({ name, severity: String(v.severity) }));
  return findings.length > 0 ? { kind: 'findings', findings } : { kind: 'clean', counts };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Bounded: npm's own network timeouts are minutes long.
  const audit = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', timeout: AUDIT_TIMEOUT_MS });
  const verdict: AuditVerdict = audit.error
    ? {
        kind: 'unchecked',
        why: `npm audit did not finish within ${AUDIT_TIMEOUT_MS / 1000} s (${audit.error.message})`,
      }
    : auditVerdict(audit.stdout ?? '');
  if (verdict.kind === 'clean') {
    const summary = Object.entries(verdict.counts)
      .map(([severity, n]) => `${severity} ${n}`)
      .join(', ');
    process.stdout.write(`audit: no high or critical finding in production dependencies (${summary})\n`);
  } else if (verdict.kind === 'findings') {
    process.stderr.write(`audit: ${verdict.findings.length} high or critical finding(s):\n`);
    for (const f of verdict.findings) process.stderr.write(`  ${f.severity}: ${f.name}\n`);
    process.stderr.write('run `npm audit --omit=dev` for details and fixes\n');
    process.exitCode = 1;
  } else {
    const required = process.env.AUDIT_REQUIRED === '1';
    process.stderr.write(
      `audit: NOT CHECKED: ${verdict.why}${required ? '' : ' (set AUDIT_REQUIRED=1 to fail on this)'}\n`,
    );
    if (required) process.exitCode = 2;
  }
}
