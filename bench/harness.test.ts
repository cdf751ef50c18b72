/**
 * The bench harness's own checks (not part of `npm test`; nothing here measures speed):
 *   node --import tsx --test bench/harness.test.ts
 * - the haproxy config of bench/stack.ts is the rendered production config plus exactly the marked loopback
 *   changes, and the real haproxy accepts it (`haproxy -c`);
 * - report.ts normalizes result files into rows with the right kinds and ratios, states where onionscale is
 *   slower, and writes SVG that escapes what it prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { renderHaproxyConfig } from '../src/render/haproxy.js';
import { ERROR_STATUSES, errorFilePath, renderErrorFile } from '../src/render/pages.js';
import { benchModel, loopbackChanges } from './_haproxy.js';
import { chartSvg, normalizeCache, normalizeWrk, slowerFindings, type Scenario } from './report.js';

const CIRCUIT = 'fc00:dead:beef:4dad::2a:1';

test('stack.ts runs the rendered haproxy config with only the marked loopback changes, and haproxy -c accepts it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-bench-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const model = benchModel(dir, 18080, 18081, 3, 50);
  const rendered = renderHaproxyConfig(model);
  const cfg = loopbackChanges(rendered, model.balancer.circuitHeader, CIRCUIT);

  assert.match(cfg, /^\s*bind 127\.0\.0\.1:18080$/m, 'frontend on loopback TCP, no accept-proxy');
  assert.ok(!cfg.split('\n').some((l) => !l.trim().startsWith('#') && l.includes('accept-proxy')), 'no directive reads a PROXY line');
  assert.match(cfg, new RegExp(`^\\s*http-request set-header ${model.balancer.circuitHeader} ${CIRCUIT.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(cfg, new RegExp(`^\\s*http-request del-header ${model.balancer.circuitHeader}$`, 'm'), 'a client-sent circuit header is still dropped first');
  assert.match(cfg, /sc_conn_cur\(0\) gt 1000 /, 'per-circuit connection limit raised (the check is still there)');
  for (const port of [18081, 18082, 18083]) assert.match(cfg, new RegExp(`server web-\\d 127\\.0\\.0\\.1:${port} check$`, 'm'), `instance on ${port}, health-checked`);
  assert.ok(!cfg.includes('/var/lib/'), 'state paths are in the temp dir');

  // Every other line is the renderer's, untouched: removing the marked changes gives back the rendered text.
  const kept = cfg.split('\n').filter((l) => !l.trim().startsWith('# bench:'));
  const original = rendered.split('\n');
  assert.equal(kept.length, original.length);
  const changed = kept.filter((l, i) => l !== original[i]);
  assert.equal(changed.length, 2, `exactly two lines changed: ${changed.join(' | ')}`);

  const spawned = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (spawned.error) assert.fail(`haproxy is needed for this check: ${spawned.error.message}`);
  for (const status of ERROR_STATUSES) {
    const file = errorFilePath(model, status);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, renderErrorFile(status));
  }
  mkdirSync(model.paths.run, { recursive: true });
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
});

test('loopbackChanges fails loudly when the renderer no longer writes a line it changes', () => {
  assert.throws(() => loopbackChanges('frontend x\n    bind unix@/tmp/x.sock accept-proxy\n', 'X-Onion-Circuit', CIRCUIT), /expected one line matching/);
});

const wrkRow = (name: string, median: number, p99: number, extra: Record<string, unknown> = {}) => ({
  name,
  ok: true,
  rounds: 3,
  reqPerSec: { median, min: median - 300, max: median + 300 },
  latencyMs: { p50: p99 / 4, p99 },
  commandsPerRequest: 6,
  ...extra,
});

function scenario(id: string, rows: Scenario['rows']): Scenario {
  return { id, number: 1, title: 'T <&>', file: 'x', status: 'ok', date: null, quick: true, settings: '', rows, failures: [], machine: null };
}

test('request results: kinds from the stack names, ratios against each peer and ceiling, failures kept', () => {
  const n = normalizeWrk(
    {
      settings: { threads: 1, connections: 50, durationS: 1, rounds: 3, warmupS: 1, quick: true },
      stacks: [wrkRow('bare-http-get', 8000, 10), wrkRow('express-peer', 1000, 40), wrkRow('fastify-peer', 2000, 20), wrkRow('onionscale-fastify', 3000, 30), { name: 'onionscale-express', ok: false, error: 'start: exited (1)\nstack trace' }],
    },
    'GET /page',
    'stacks',
    (r) => (String(r.name).startsWith('onionscale-') ? 'onionscale' : String(r.name).endsWith('-peer') ? 'peer' : 'ceiling'),
  );
  assert.equal(n.quick, true);
  assert.deepEqual(n.failures, [{ name: 'onionscale-express', error: 'start: exited (1)' }]);
  const osc = n.rows.find((r) => r.name === 'onionscale-fastify')!;
  assert.equal(osc.kind, 'onionscale');
  assert.equal(osc.ratios['express-peer']!.throughput, 3);
  assert.equal(osc.ratios['fastify-peer']!.throughput, 1.5);
  assert.equal(osc.ratios['fastify-peer']!.p99, 1.5);
  assert.equal(osc.ratios['bare-http-get']!.throughput, 3000 / 8000);
  assert.deepEqual(osc.spread, { min: 2700, max: 3300, rounds: 3 });
  assert.equal(osc.redisCommandsPerOp, 6);

  const slower = slowerFindings(scenario('request', n.rows));
  assert.ok(slower.some((x) => x.includes('**onionscale-fastify** — p99 1.50× fastify-peer (30.0 vs 20.0 ms)')), slower.join('\n'));
  assert.ok(slower.some((x) => x.includes('0.38× the req/s of bare-http-get')), slower.join('\n'));
  assert.ok(!slower.some((x) => x.includes('express-peer')), 'faster than express-peer: not listed as slower');
});

test('cache results: one group per row type, ratios within the group only; the SVG escapes names and draws one bar per row', () => {
  const n = normalizeCache({
    quick: false,
    ops: { l1: 10, l2: 10, miss: 10 },
    chunks: 2,
    results: {
      'L1 hit': { onionscale: { opsPerSec: 1_000_000, p50: 1, p99: 2 }, 'cache-manager': { opsPerSec: 100_000, p50: 8, p99: 20 } },
      'miss+set': { onionscale: { opsPerSec: 900, p50: 900, p99: 3000 }, 'cache-manager': { opsPerSec: 1000, p50: 800, p99: 2000 } },
    },
  });
  const miss = n.rows.find((r) => r.group === 'miss+set' && r.name === 'onionscale')!;
  assert.equal(miss.ratios['cache-manager']!.throughput, 0.9);
  assert.deepEqual(Object.keys(miss.ratios), ['cache-manager']);
  const slower = slowerFindings(scenario('cache', n.rows));
  assert.deepEqual(slower, ['miss+set: **onionscale** — ops/s 0.90× cache-manager (900 vs 1,000); p99 1.50× cache-manager (3,000.0 vs 2,000.0 µs).']);

  const svg = chartSvg(scenario('cache', [...n.rows, { ...miss, name: 'evil <script>&', group: 'miss+set' }]));
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(!svg.includes('<script'), 'names are escaped');
  assert.ok(svg.includes('evil &lt;script&gt;&amp;'));
  assert.ok(svg.includes('T &lt;&amp;&gt;'));
  assert.equal((svg.match(/<rect [^>]*rx="2"/g) ?? []).length, 5, 'one bar per row');
  assert.doesNotMatch(svg, /href|@import|<style|font-face/, 'nothing to load');
});
