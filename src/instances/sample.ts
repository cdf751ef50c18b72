/**
 * The sample app the default config runs until the forum demo exists: shows which instance answered, which Tor
 * circuit the request came on (from the header haproxy sets) and a hit counter shared through Redis.
 */
import { createClient } from 'redis';
import { circuitIdOf } from '../core/circuit.js';
import { redisOptionsFromEnv } from '../core/redis/env.js';
import { runInstance } from './runner.js';

const instance = process.env.ONIONSCALE_INSTANCE ?? 'sample';
const header = (process.env.ONIONSCALE_CIRCUIT_HEADER ?? 'X-Onion-Circuit').toLowerCase();

const redisOptions = redisOptionsFromEnv();
const redis = redisOptions
  ? createClient({ ...redisOptions, disableOfflineQueue: true, socket: { ...redisOptions.socket, connectTimeout: 2000 } })
  : undefined;
if (redis) {
  // A Redis outage must not take the page down: the counter just shows as unavailable.
  redis.on('error', () => {});
  redis.connect().catch(() => {});
}

async function hits(): Promise<number | undefined> {
  if (!redis?.isReady) return undefined;
  try {
    return await redis.incr('sample:hits');
  } catch {
    return undefined;
  }
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

runInstance(
  async (req, res) => {
    const raw = req.headers[header];
    const circuit = circuitIdOf(raw);
    if (req.url === '/whoami') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ instance, pid: process.pid, circuit: circuit ?? null, circuitHeader: raw ?? null }));
      return;
    }
    if (req.url !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const count = await hits();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><meta charset="utf-8"><title>onionscale sample</title>
<h1>It works.</h1>
<p>Answered by <b>${escape(instance)}</b> on Tor circuit <b>${circuit === undefined ? 'unknown' : circuit}</b>.</p>
<p>Page views (shared through Redis): <b>${count ?? 'Redis unavailable'}</b>.</p>\n`);
  },
  async () => {
    if (redis?.isOpen) await redis.close().catch(() => {});
  },
);
