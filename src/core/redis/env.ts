/**
 * node-redis client options for an app instance started by onionscale: reads `ONIONSCALE_REDIS`
 * (`unix:/path.sock` or `127.0.0.1:6390`) and the password from the 0600 file named by
 * `ONIONSCALE_REDIS_PASSWORD_FILE`. The password never travels in the environment.
 */
import { readFileSync } from 'node:fs';
import type { RedisClientOptions } from 'redis';
import { OnionscaleError } from '../../errors.js';

export function redisOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RedisClientOptions | undefined {
  const where = env.ONIONSCALE_REDIS;
  if (!where) return undefined;
  const passwordFile = env.ONIONSCALE_REDIS_PASSWORD_FILE;
  const password = passwordFile ? readFileSync(passwordFile, 'utf8').trim() : undefined;
  if (where.startsWith('unix:')) return { socket: { path: where.slice(5), tls: false }, ...(password ? { password } : {}) };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(where);
  if (!m) {
    throw new OnionscaleError('OSC_ERR_BAD_REQUEST', `ONIONSCALE_REDIS="${where}" is neither unix:/path nor host:port`);
  }
  return { socket: { host: m[1] ?? m[2]!, port: Number(m[3]) }, ...(password ? { password } : {}) };
}
