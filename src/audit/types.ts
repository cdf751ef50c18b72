/**
 * The shape of an audit: a list of findings with stable ids (what scripts and docs refer to) and a summary whose
 * `exitCode` is what `onionscale audit` exits with (0 when nothing failed, 1 otherwise).
 */

export type Level = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** Stable id, e.g. `listen-public`; documented in docs/audit.md. */
  id: string;
  level: Level;
  title: string;
  /** What was seen (never a secret). */
  detail: string;
  /** What to do about it; empty when there is nothing to do. */
  fix: string;
}

export interface AuditSummary {
  ok: number;
  warn: number;
  fail: number;
  /** Whether a live stack (state file with a live supervisor or services) was audited. */
  running: boolean;
  exitCode: 0 | 1;
}

export interface AuditReport {
  findings: Finding[];
  summary: AuditSummary;
}

export function finding(id: string, level: Level, title: string, detail: string, fix = ''): Finding {
  return { id, level, title, detail, fix: level === 'ok' ? '' : fix };
}

export function summarize(findings: readonly Finding[], running: boolean): AuditSummary {
  const count = (l: Level) => findings.filter((f) => f.level === l).length;
  const fail = count('fail');
  return { ok: count('ok'), warn: count('warn'), fail, running, exitCode: fail > 0 ? 1 : 0 };
}

/** One piece of evidence for a finding (e.g. one onion service's frontend). */
export interface Part {
  level: Level;
  detail: string;
  fix?: string;
}

const RANK: Record<Level, number> = { ok: 0, warn: 1, fail: 2 };

/** A finding from several parts: the worst level wins; details are kept in order, fixes once each. */
export function combine(id: string, title: string, parts: readonly Part[], empty = 'nothing to check'): Finding {
  if (parts.length === 0) return finding(id, 'ok', title, empty);
  const level = parts.reduce<Level>((w, p) => (RANK[p.level] > RANK[w] ? p.level : w), 'ok');
  const fixes = [...new Set(parts.filter((p) => p.level !== 'ok' && p.fix).map((p) => p.fix!))];
  return finding(id, level, title, parts.map((p) => p.detail).join('; '), fixes.join(' '));
}
