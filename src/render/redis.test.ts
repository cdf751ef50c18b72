import { test } from 'node:test';
import assert from 'node:assert/strict';
import { model, tampered, directives, type DeepMutable } from './model.fixture.js';
import type { StackModel } from '../config/model.js';
import { renderRedisAuthConf, renderRedisConf } from './redis.js';


test('redis.conf: unix socket by default, no TCP listener, password only by include', () => {
  const lines = directives(renderRedisConf(model('{}')));
  for (const l of [
    'port 0',
    'unixsocket /var/lib/onionscale/run/redis.sock',
    'unixsocketperm 700',
    'protected-mode yes',
    'include /var/lib/onionscale/secrets/redis-auth.conf',
    'maxmemory 268435456',
    'maxmemory-policy allkeys-lru',
    'appendonly yes',
    'appendfsync everysec',
    'dir /var/lib/onionscale/redis',
    'daemonize no',
    'supervised no',
    'logfile ""',
    'databases 16',
    'loglevel notice',
  ]) {
    assert.ok(lines.includes(l), l);
  }
  assert.ok(!lines.some((l) => l.startsWith('bind ') || l.startsWith('requirepass')));
});

test('redis.conf: TCP listener binds loopback only', () => {
  const lines = directives(renderRedisConf(model('redis: { listen: 6390, maxmemory: 64mb, maxmemoryPolicy: noeviction, appendonly: false }')));
  assert.ok(lines.includes('bind 127.0.0.1 -::1'));
  assert.ok(lines.includes('port 6390'));
  assert.ok(lines.includes('maxmemory 67108864'));
  assert.ok(lines.includes('maxmemory-policy noeviction'));
  assert.ok(lines.includes('appendonly no'));
  assert.ok(!lines.some((l) => l.startsWith('unixsocket')));
  assert.ok(directives(renderRedisConf(model('redis: { listen: "[::1]:6390" }'))).includes('bind ::1'));
});

test('redis.conf: disables FLUSHALL, CONFIG, SHUTDOWN and nothing the library or tests use', () => {
  const renamed = directives(renderRedisConf(model('{}')))
    .filter((l) => l.startsWith('rename-command '))
    .map((l) => l.split(' ')[1]);
  assert.deepEqual(renamed, ['FLUSHALL', 'CONFIG', 'SHUTDOWN']);
  const needed = ['GET', 'SET', 'DEL', 'EVAL', 'EVALSHA', 'SCRIPT', 'PUBLISH', 'SUBSCRIBE', 'SADD', 'SMEMBERS', 'EXPIRE', 'PEXPIRE', 'MULTI', 'INFO', 'PING', 'HELLO', 'AUTH', 'FLUSHDB'];
  for (const c of needed) assert.ok(!renamed.includes(c), c);
});

test('redis auth file: requirepass, always quoted and escaped; refuses newlines without echoing the password', () => {
  assert.equal(renderRedisAuthConf('abc123'), 'requirepass "abc123"\n');
  assert.equal(renderRedisAuthConf('a "b" \\c'), 'requirepass "a \\"b\\" \\\\c"\n');
  assert.throws(() => renderRedisAuthConf('hunter2\nrename-command AUTH ""'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'OSC_ERR_RENDER_UNSAFE_VALUE');
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  assert.throws(() => renderRedisAuthConf(''), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
});

test('redis.conf: quotes paths with spaces and refuses unsafe values', () => {
  const spaced = tampered('{}', (m) => {
    m.paths.redisData = '/var/my redis';
    m.redis.listen = { kind: 'unix', path: '/run/my "redis".sock' };
  });
  const lines = directives(renderRedisConf(spaced));
  assert.ok(lines.includes('dir "/var/my redis"'));
  assert.ok(lines.includes('unixsocket "/run/my \\"redis\\".sock"'));
  const cases: [string, (m: DeepMutable<StackModel>) => void][] = [
    ['paths.redisData', (m) => void (m.paths.redisData = '/x\nrequirepass ""')],
    ['paths.redisAuthConfig', (m) => void (m.paths.redisAuthConfig = '/x\r')],
    ['paths.redisAuthConfig', (m) => void (m.paths.redisAuthConfig = '/etc/*.conf')],
    ['redis.listen', (m) => void (m.redis.listen = { kind: 'tcp', host: '0.0.0.0', port: 6379 })],
    ['redis.listen', (m) => void (m.redis.listen = { kind: 'unix', path: '/x.sock\nport 6379' })],
    ['redis.maxmemory', (m) => void (m.redis.maxmemory = -5)],
    ['redis.maxmemoryPolicy', (m) => void ((m.redis as { maxmemoryPolicy: string }).maxmemoryPolicy = 'noeviction\nprotected-mode no')],
  ];
  for (const [field, change] of cases) {
    assert.throws(() => renderRedisConf(tampered('{}', change)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OSC_ERR_RENDER_UNSAFE_VALUE');
      assert.ok(err.message.includes(field), `${err.message} should name ${field}`);
      return true;
    });
  }
});
