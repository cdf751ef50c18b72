/**
 * `onionscale doctor`: the audit (src/audit/index.ts, every check and id unchanged) plus the checks an operator
 * needs before trusting a stack with visitors (issue 7): Redis limits and persistence, private unix sockets, own
 * error pages, no admin page through the onion, a plausible clock. One pass/fail table, a fix under each problem.
 *
 *   const report = await runDoctor(model, readState(model.paths.stateFile));
 *   console.log(formatDoctor(report)); process.exitCode = report.summary.exitCode;
 */
import { statSync } from 'node:fs';
import type { StackModel } from '../config/model.js';
import type { StackState } from '../supervisor/state-file.js';
import { checkClockSanity, readConsensusTimes, type ConsensusTimes } from './checks/clock-sanity.js';
import { PAGE_TITLES, pageFindings, probePages } from './checks/frontend-pages.js';
import type { StatFn } from './checks/key-modes.js';
import { assessRedisConfig, readRedisFacts } from './checks/redis-config.js';
import { checkUnixSockets } from './checks/unix-sockets.js';
import { runAudit, type AuditOptions } from './index.js';
import { finding, summarize, type AuditReport, type Finding, type Level } from './types.js';

export interface DoctorOptions extends AuditOptions {
  /** The clock to judge (default Date.now()). */
  now?: number;
  /** tor's cached consensus times (default: read from the tor data directory). */
  consensus?: ConsensusTimes | null;
}

/** Doctor's own check ids, after the audit's (docs/audit.md lists all). */
export const DOCTOR_IDS = ['redis-config', 'unix-sockets', 'error-pages', 'admin-reachable', 'clock-sanity'] as const;

const realStat: StatFn = (path) => {
  try {
    const s = statSync(path);
    return { mode: s.mode, uid: s.uid, isDirectory: s.isDirectory() };
  } catch {
    return undefined;
  }
};

const skipped = (id: string, title: string): Finding =>
  finding(id, 'warn', title, 'skipped: the stack is not running', 'Start it with `onionscale up`, then run doctor again.');

export async function runDoctor(model: StackModel, state: StackState | undefined, options: DoctorOptions = {}): Promise<AuditReport> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const audit = await runAudit(model, state, options);
  const running = audit.summary.running;
  const [redis, pages] = await Promise.all([
    running && model.redis.enabled ? readRedisFacts(model, timeoutMs) : Promise.resolve(undefined),
    running ? probePages(model, timeoutMs) : Promise.resolve(undefined),
  ]);
  const consensus = options.consensus === null ? undefined : (options.consensus ?? readConsensusTimes(model.paths.torData));
  const findings: Finding[] = [
    ...audit.findings,
    assessRedisConfig(model, redis),
    checkUnixSockets(model, options.stat ?? realStat, options.uid ?? process.getuid?.() ?? 0),
    ...(pages ? pageFindings(pages) : [skipped('error-pages', PAGE_TITLES.errors), skipped('admin-reachable', PAGE_TITLES.admin)]),
    checkClockSanity(options.now ?? Date.now(), consensus),
  ];
  return { findings, summary: summarize(findings, running) };
}

const RESULT: Record<Level, string> = { ok: 'PASS', warn: 'WARN', fail: 'FAIL' };

/** The report as a table: result, check id, what it checks; under each problem what was seen and the fix. */
export function formatDoctor(report: AuditReport): string {
  const idW = Math.max(5, ...report.findings.map((f) => f.id.length));
  const lines = [`${'RESULT'.padEnd(6)}  ${'CHECK'.padEnd(idW)}  WHAT`, `${'-'.repeat(6)}  ${'-'.repeat(idW)}  ${'-'.repeat(40)}`];
  for (const f of report.findings) {
    lines.push(`${RESULT[f.level].padEnd(6)}  ${f.id.padEnd(idW)}  ${f.title}`);
    if (f.level !== 'ok') {
      const pad = ' '.repeat(8 + idW + 2);
      lines.push(`${pad}seen: ${f.detail}`);
      if (f.fix) lines.push(`${pad}fix:  ${f.fix}`);
    }
  }
  const s = report.summary;
  lines.push(
    '',
    `${s.fail ? 'FAIL' : 'PASS'}: ${s.ok} passed, ${s.warn} warning(s), ${s.fail} failed${s.running ? '' : ' (stack not running: live checks skipped)'}`,
  );
  return lines.join('\n');
}
