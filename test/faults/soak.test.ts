/**
 * Soak (issue 7): the real stack under a steady mixed load for SOAK_SECONDS (default 60 s in CI; set e.g. 600 for a
 * longer run), the RSS of every process of the stack (and haproxy's worker) sampled every 2 s. After a warm-up
 * quarter, memory must not keep growing: the median of the last quarter stays within 25 % + 8 MiB of the median of
 * the second quarter, and 0 requests fail. Figures: per process first/last RSS and the fitted slope.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sleep } from '../helpers/stack.js';
import { figures, login, rssKiB, startFaultStack, startLoad, summary, type FaultStack } from './harness.js';

const SECONDS = Math.max(20, Number(process.env.SOAK_SECONDS ?? 60));
const EVERY_MS = 2000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

/** Least-squares slope in KiB per minute. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0) || 1;
  return Math.round((num / den) * 60_000);
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe(`soak: ${SECONDS} s under load`, () => {
  let s: FaultStack;
  before(async () => {
    s = await startFaultStack({ prefix: 'osc-sk-' });
  });
  after(async () => s?.stop());

  test('no process grows its memory; no request fails', { timeout: (SECONDS + 120) * 1000 }, async () => {
    const cookie = await login(s.sock, 'soak');
    const series = new Map<string, [number, number][]>();
    const load = startLoad(s.sock, { cookie, concurrency: 4, pauseMs: 30 });
    const t0 = Date.now();
    while (Date.now() - t0 < SECONDS * 1000) {
      const st = s.state();
      for (const svc of st.services) {
        if (!svc.pid) continue;
        const procs: [string, number][] = [[svc.name, svc.pid]];
        // haproxy -W: the master's child is the worker that does the work.
        if (svc.kind === 'haproxy') for (const c of children(svc.pid)) procs.push(['haproxy-worker', c]);
        for (const [name, pid] of procs) {
          const kib = rssKiB(pid);
          if (kib !== undefined) series.set(name, [...(series.get(name) ?? []), [Date.now() - t0, kib]]);
        }
      }
      await sleep(EVERY_MS);
    }
    const report = await load.stop();
    const perProcess: Record<string, unknown> = {};
    const growing: string[] = [];
    for (const [name, pts] of series) {
      const q = Math.floor(pts.length / 4);
      const second = median(pts.slice(q, 2 * q).map(([, y]) => y));
      const last = median(pts.slice(3 * q).map(([, y]) => y));
      perProcess[name] = { firstKiB: pts[0]![1], lastKiB: pts.at(-1)![1], q2MedianKiB: second, q4MedianKiB: last, slopeKiBPerMin: slope(pts.slice(q)) };
      if (last > second * 1.25 + 8192) growing.push(`${name}: ${second} → ${last} KiB`);
    }
    figures('soak', { seconds: SECONDS, samplesPerProcess: series.get('redis')?.length ?? 0, ...summary(report), rss: perProcess });
    assert.ok(series.size >= 6, `sampled ${[...series.keys()].join(', ')}`);
    assert.deepEqual(growing, [], 'no memory growth trend');
    assert.deepEqual(report.failures, []);
  });
});
