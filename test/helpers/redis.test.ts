import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { startRedis } from './redis.js';

test('test redis requires its password and can be killed and restarted', async () => {
  const r = await startRedis();
  try {
    const anon = createClient({ url: `redis://127.0.0.1:${r.port}`, socket: { reconnectStrategy: false } });
    anon.on('error', () => {});
    await assert.rejects(anon.connect(), /NOAUTH/);
    const c = createClient({ url: r.url });
    c.on('error', () => {});
    await c.connect();
    assert.equal(await c.ping(), 'PONG');
    await r.kill();
    await r.restart();
    const c2 = createClient({ url: r.url });
    await c2.connect();
    assert.equal(await c2.ping(), 'PONG');
    c2.destroy();
    c.destroy();
  } finally {
    await r.stop();
  }
});
