/** The audit as text: one line per finding (✓ ok, ! warn, ✗ fail), the fix under each problem, a summary line. */
import type { AuditReport, Level } from './types.js';

const MARK: Record<Level, string> = { ok: '✓', warn: '!', fail: '✗' };

export function formatAudit(report: AuditReport): string {
  const width = Math.max(0, ...report.findings.map((f) => f.id.length));
  const lines: string[] = [];
  for (const f of report.findings) {
    lines.push(`${MARK[f.level]} ${f.id.padEnd(width)}  ${f.title}: ${f.detail}`);
    if (f.level !== 'ok' && f.fix) lines.push(`  ${' '.repeat(width)}  fix: ${f.fix}`);
  }
  const s = report.summary;
  lines.push(
    '',
    `${s.fail ? '✗' : s.warn ? '!' : '✓'} audit: ${s.ok} ok, ${s.warn} warning(s), ${s.fail} failed${s.running ? '' : ' (stack not running: live checks skipped)'}`,
  );
  return lines.join('\n');
}
