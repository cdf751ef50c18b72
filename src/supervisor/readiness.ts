/**
 * Readiness probes: each loops until the condition holds or the signal aborts (the Service owns the timeout).
 * Conditions, never fixed sleeps.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createClient } from 'redis';
import type { ResolvedListen } from '../config/model.js';

const POLL_MS = 100;

/** node:timers/promises removes its abort listener when the timer fires (a hand-made one leaked one per poll). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).then(
    () => undefined,
    () => {
      throw new Error('aborted');
    },
  );
}

async function until(check: () => Promise<boolean>, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (signal.aborted) throw new Error('aborted');
    if (await check().catch(() => false)) return;
    await sleep(POLL_MS, signal);
  }
}

export function canConnect(listen: ResolvedListen, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = listen.kind === 'unix' ? connect(listen.path) : connect(listen.port, listen.host);
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function httpStatus(port: number, path: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export const waitHttp = (port: number, path: string, signal: AbortSignal) =>
  until(async () => (await httpStatus(port, path)) === 200, signal);

export const waitConnect = (listen: ResolvedListen, signal: AbortSignal) => until(() => canConnect(listen), signal);

export const waitFile = (path: string, signal: AbortSignal) =>
  until(async () => (await readFile(path, 'utf8')).trim().length > 0, signal);

export const waitRedis = (listen: ResolvedListen, password: string, signal: AbortSignal) =>
  until(async () => {
    const client = createClient({
      socket:
        listen.kind === 'unix'
          ? { path: listen.path, tls: false, reconnectStrategy: false, connectTimeout: 1000 }
          : { host: listen.host, port: listen.port, reconnectStrategy: false, connectTimeout: 1000 },
      password,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } finally {
      client.destroy();
    }
  }, signal);
