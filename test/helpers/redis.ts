/**
 * A real redis-server for tests: free loopback port, temporary directory, password, always stopped.
 * `kill()` SIGKILLs it (fault tests); `restart()` starts it again on the same port and password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { createClient } from 'redis';
import type { AnyRedisClient } from '../../src/core/redis/client.js';
import { freePort } from './ports.js';

export interface TestRedis {
  port: number;
  password: string;
  /** redis://:password@127.0.0.1:port */
  url: string;
  dir: string;
  pid(): number | undefined;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'onionscale-redis-'));
  const conf = join(dir, 'redis.conf');
  writeFileSync(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', 'protected-mode yes', `requirepass ${password}`, `dir ${dir}`, 'save ""', 'appendonly no', 'daemonize no', 'loglevel warning'].join('\n') + '\n',
    { mode: 0o600 },
  );
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', [conf], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitForPort(port, 10_000);
  };
  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()));
  await launch();
  return {
    port,
    password,
    url: `redis://:${password}@127.0.0.1:${port}`,
    dir,
    pid: () => child?.pid,
    async kill() {
      if (!child) return;
      const c = child;
      c.kill('SIGKILL');
      await exited(c);
    },
    restart: launch,
    async stop() {
      if (child) {
        const c = child;
        c.kill('SIGTERM');
        await exited(c);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisFixture {
  /** Set in the file's `before()`. */
  redis: TestRedis;
  /** A connected node-redis client on it (errors listened to), closed in `after()`. */
  client: AnyRedisClient;
}

/** One redis-server and one connected client for every test of a file: `const fx = redisPerFile();`. */
export function redisPerFile(): RedisFixture {
  const fx = {} as RedisFixture;
  before(async () => {
    fx.redis = await startRedis();
    fx.client = createClient({ url: fx.redis.url }) as AnyRedisClient;
    fx.client.on('error', () => {});
    await fx.client.connect();
  });
  after(async () => {
    if (fx.client?.isOpen) await fx.client.close();
    await fx.redis?.stop();
  });
  return fx;
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
