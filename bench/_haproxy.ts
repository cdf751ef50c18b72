/**
 * The haproxy config bench/stack.ts runs: the REAL one (src/render/haproxy.ts from a model built by src/config), with
 * only the changes a loopback load generator needs. Its own module so bench/harness.test.ts can check it with
 * `haproxy -c` without running a benchmark.
 */
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import type { StackModel } from '../src/config/model.js';
import { CIRCUIT_PREFIX } from '../src/render/haproxy.js';

/**
 * The model of a real onionscale.yaml for this run: one onion service whose frontend listens on a loopback TCP port,
 * one app with `instances` instances from `basePort`, state paths under `stateDir`.
 */
export function benchModel(stateDir: string, frontPort: number, basePort: number, instances: number, connections: number): StackModel {
  const yaml = [
    'onion:',
    '  services:',
    `    - { name: main, listen: "127.0.0.1:${frontPort}" }`,
    'apps:',
    `  - { name: web, builtin: sample, instances: ${instances}, basePort: ${basePort} }`,
    'balancer:',
    // Change 3 of 5 (in the config, not the text): behind tor every circuit is its own client; here wrk's
    // connections all arrive as ONE circuit (change 2), so the per-circuit limits (default 30 connections,
    // 300 requests / 10 s) would refuse almost all of the load. Raised so nothing is ever refused; the stick
    // table and its checks still run on every request, so their cost is measured.
    `  perCircuit: { maxConnections: ${Math.max(1000, connections * 4)}, requestRate: 1000000000, window: 10s }`,
  ].join('\n');
  return parseConfig(yaml + '\n', join(stateDir, 'onionscale.yaml'), { stateDir });
}

/** Replaces exactly one line matching `re`; the bench fails loudly when the renderer no longer writes it. */
function replaceLine(text: string, re: RegExp, replace: (m: RegExpExecArray) => string, why: string): string {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (re.test(l) ? [i] : []));
  if (hits.length !== 1) throw new Error(`haproxy.cfg: expected one line matching ${re} (${why}), found ${hits.length}`);
  const i = hits[0]!;
  const indent = /^\s*/.exec(lines[i]!)![0];
  lines.splice(i, 1, `${indent}# bench: ${why}`, replace(re.exec(lines[i]!)!));
  return lines.join('\n');
}

/**
 * The rendered config with only the changes a loopback load generator needs (each marked `# bench:` in the file):
 *   1. the frontend bind without `accept-proxy`: tor sends a PROXY line first, wrk does not;
 *   2. the circuit header set to one static circuit address: haproxy sets it from tor's PROXY source address
 *      (fc00:dead:beef:4dad::/64), and wrk's source is 127.0.0.1;
 *   3. per-circuit limits raised — in the model, see `benchModel`;
 *   4. errorfiles and the admin socket: kept, they point into this run's temp dir (the model's stateDir);
 *   5. health checks: kept (GET /healthz every 2 s; the stack answers it before Fastify, as examples/forum does).
 * Everything else — timeouts, retries, leastconn, header scrubbing, the stick table, logging to stdout — is the
 * production config as `onionscale up` writes it.
 */
export function loopbackChanges(cfg: string, circuitHeader: string, circuitValue: string): string {
  let out = replaceLine(cfg, /^(\s*bind 127\.0\.0\.1:\d+) accept-proxy$/, (m) => m[1]!, 'no accept-proxy: wrk sends no PROXY line (tor does)');
  const setHeader = new RegExp(`^(\\s*http-request set-header ${circuitHeader} )%\\[src\\] if \\{ src ${CIRCUIT_PREFIX.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\}$`);
  out = replaceLine(out, setHeader, (m) => `${m[1]!}${circuitValue}`, 'a static circuit: wrk connects from 127.0.0.1, not from a tor circuit address');
  return out;
}

