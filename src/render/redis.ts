/**
 * redis.conf (Redis 6.2/7.x) for the cache, sessions and rate limits of the app instances. Loopback or a unix
 * socket only, a password from a separate 0600 file, bounded memory. Pure: model in, text out.
 */
import type { StackModel } from '../config/model.js';
import { checkInt, checkLoopbackHost, checkValue, redisArg, redisQuoted, unsafeValue } from './escape.js';
import { header } from './header.js';

/**
 * Commands no part of onionscale needs and that hurt when an app is tricked into sending them: FLUSHALL wipes
 * every database at once, CONFIG can turn off the password and persistence (CONFIG REWRITE could even write the
 * password into redis.conf), SHUTDOWN stops the shared store for every instance; the supervisor stops Redis with
 * a signal. Never listed: what the library and tests use (GET/SET/DEL/EVAL/EVALSHA/SCRIPT/PUBLISH/SUBSCRIBE/SADD/
 * SMEMBERS/EXPIRE/PEXPIRE/MULTI/INFO/PING/HELLO/AUTH/FLUSHDB). Redis 7 already refuses DEBUG and MODULE by default
 * (enable-debug-command / enable-module-command no).
 */
export const DISABLED_REDIS_COMMANDS = ['FLUSHALL', 'CONFIG', 'SHUTDOWN'] as const;

export function renderRedisConf(model: StackModel): string {
  const r = model.redis;
  const p = model.paths;
  const out: string[] = [...header(model, '#'), ''];

  if (r.listen.kind === 'unix') {
    out.push(
      '## Network: a unix socket only (owner-only), no TCP listener at all.',
      'port 0',
      `unixsocket ${redisArg('redis.listen', r.listen.path)}`,
      'unixsocketperm 700',
    );
  } else {
    const host = checkLoopbackHost('redis.listen', r.listen.host);
    out.push(
      '## Network: loopback only; "-::1" binds IPv6 loopback when the host has it and is skipped otherwise.',
      `bind ${host === '127.0.0.1' ? '127.0.0.1 -::1' : host}`,
      `port ${checkInt('redis.listen', r.listen.port, 1, 65535)}`,
    );
  }
  out.push(
    '## Refuse clients without a password even if a bind line is ever widened.',
    'protected-mode yes',
    '',
    '## The password lives in a separate 0600 file (requirepass) so this file holds no secret.',
    `include ${includePath(p.redisAuthConfig)}`,
    '',
    '## Memory: a bounded cache; the policy decides what is evicted at the limit.',
    `maxmemory ${checkInt('redis.maxmemory', r.maxmemory)}`,
    `maxmemory-policy ${redisArg('redis.maxmemoryPolicy', r.maxmemoryPolicy)}`,
    '',
    '## Persistence: the append-only file (fsync once a second) keeps sessions across restarts when enabled;',
    '## RDB snapshots are off (save "") because cached data can be rebuilt and AOF already covers the rest.',
    `appendonly ${r.appendonly ? 'yes' : 'no'}`,
    'appendfsync everysec',
    'save ""',
    `dir ${redisArg('paths.redisData', p.redisData)}`,
    '',
    '## Process: foreground, logs to stdout, the supervisor (or systemd) owns the lifecycle.',
    'daemonize no',
    'supervised no',
    'logfile ""',
    'loglevel notice',
    'databases 16',
    '',
    '## Dangerous commands nothing here needs (see docs/renderers.md): renamed to "" = disabled.',
    ...DISABLED_REDIS_COMMANDS.map((c) => `rename-command ${c} ""`),
  );
  return out.join('\n') + '\n';
}

/** Redis 7 expands glob characters in `include`: a literal path must not contain them. */
function includePath(path: string): string {
  checkValue('paths.redisAuthConfig', path);
  if (/[*?[\]]/.test(path)) {
    throw unsafeValue('paths.redisAuthConfig', 'Redis reads * ? [ ] in include paths as a pattern');
  }
  return redisArg('paths.redisAuthConfig', path);
}

/** The 0600 file `include`d by redis.conf. Always quoted: a password is arbitrary text. */
export function renderRedisAuthConf(password: string): string {
  if (password === '') throw unsafeValue('redis password', 'it is empty');
  return `requirepass ${redisQuoted('redis password', password)}\n`;
}
