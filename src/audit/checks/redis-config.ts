/**
 * redis-config (doctor): the running Redis has a memory limit, an eviction policy and the append-only file on.
 * Asked live with the stack's password through INFO (CONFIG is renamed away in the rendered redis.conf): without
 * maxmemory a cache fills the box; with `noeviction` at the limit every write (sessions, limiter) fails; without AOF
 * a restart logs everybody out.
 */
import { createClient } from 'redis';
import { readFileSync } from 'node:fs';
import { describeListen, type StackModel } from '../../config/model.js';
import { finding, type Finding } from '../types.js';

const TITLE = 'Redis has maxmemory, an eviction policy and AOF on';

export interface RedisFacts {
  maxmemory: number;
  policy: string;
  aof: boolean;
}

/** Parse INFO memory + INFO persistence text. */
export function parseRedisInfo(info: string): RedisFacts | undefined {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const maxmemory = field('maxmemory');
  const policy = field('maxmemory_policy');
  const aof = field('aof_enabled');
  if (maxmemory === undefined || policy === undefined || aof === undefined) return undefined;
  return { maxmemory: Number(maxmemory), policy, aof: aof === '1' };
}

export function assessRedisConfig(model: StackModel, facts: RedisFacts | { error: string } | undefined): Finding {
  const id = 'redis-config';
  if (!model.redis.enabled) return finding(id, 'ok', TITLE, 'Redis is disabled in the config');
  if (!facts) return finding(id, 'warn', TITLE, 'skipped: the stack is not running', 'Start it with `onionscale up`, then run doctor again.');
  if ('error' in facts) return finding(id, 'warn', TITLE, `could not ask Redis (${facts.error.slice(0, 120)})`, 'Is the stack running? Run doctor as the user that runs the stack (it reads secrets/redis.password).');
  const problems: string[] = [];
  const fixes: string[] = [];
  if (!(facts.maxmemory > 0)) {
    problems.push('no maxmemory (unbounded)');
    fixes.push('Set redis.maxmemory (e.g. 256mb) and restart: an unbounded cache grows until the kernel kills something.');
  }
  if (facts.policy === 'noeviction') {
    problems.push('maxmemory-policy noeviction');
    fixes.push('Use an evicting policy (redis.maxmemoryPolicy: allkeys-lru): with noeviction every write fails once the limit is hit.');
  }
  if (!facts.aof) {
    problems.push('appendonly off');
    fixes.push('Set redis.appendonly: true: without the append-only file a Redis restart loses every session.');
  }
  const seen = `${describeListen(model.redis.listen)}: maxmemory ${facts.maxmemory}, policy ${facts.policy}, AOF ${facts.aof ? 'on' : 'off'}`;
  if (problems.length) return finding(id, 'fail', TITLE, `${seen} — ${problems.join(', ')}`, fixes.join(' '));
  return finding(id, 'ok', TITLE, seen);
}

/** INFO with the stack's password (from its 0600 file); never throws. */
export async function readRedisFacts(model: StackModel, timeoutMs = 3000): Promise<RedisFacts | { error: string }> {
  let password: string;
  try {
    password = readFileSync(model.paths.redisPasswordFile, 'utf8').trim();
  } catch (err) {
    return { error: `cannot read ${model.paths.redisPasswordFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const l = model.redis.listen;
  const client = createClient({
    socket: l.kind === 'unix' ? { path: l.path, tls: false, reconnectStrategy: false, connectTimeout: timeoutMs } : { host: l.host, port: l.port, reconnectStrategy: false, connectTimeout: timeoutMs },
    password,
    commandOptions: { timeout: timeoutMs },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = `${await client.info('memory')}\n${await client.info('persistence')}`;
    return parseRedisInfo(info) ?? { error: 'INFO did not list maxmemory / aof_enabled' };
  } catch (err) {
    // The password never reaches the message: node-redis errors do not include it.
    return { error: err instanceof Error ? err.message : String(err) };
  } finally {
    client.destroy();
  }
}
