/**
 * redis-auth: a client without the password is refused. Behind tor everything is loopback, so anything on the box
 * that can reach the socket (another user's process, an SSRF in the app) would otherwise own the data.
 */
import { createClient } from 'redis';
import { describeListen, type ResolvedListen, type StackModel } from '../../config/model.js';
import { finding, type Finding } from '../types.js';

const TITLE = 'Redis refuses clients without the password';

export type AnonymousResult = { kind: 'refused'; message: string } | { kind: 'answered' } | { kind: 'unreachable'; message: string };

/** Connect without credentials; never throws. */
export async function tryAnonymous(listen: ResolvedListen, timeoutMs = 3000): Promise<AnonymousResult> {
  const client = createClient({
    socket:
      listen.kind === 'unix'
        ? { path: listen.path, tls: false, reconnectStrategy: false, connectTimeout: timeoutMs }
        : { host: listen.host, port: listen.port, reconnectStrategy: false, connectTimeout: timeoutMs },
    // No password on purpose; a command that hangs must not hang the audit.
    commandOptions: { timeout: timeoutMs },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    // RESP3's HELLO already fails with NOAUTH when a password is required; RESP2 only fails on the first command.
    await client.ping();
    return { kind: 'answered' };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return /NOAUTH|WRONGPASS|Authentication required/i.test(message) ? { kind: 'refused', message } : { kind: 'unreachable', message };
  } finally {
    client.destroy();
  }
}

export function assessRedisAuth(model: StackModel, result: AnonymousResult | undefined): Finding {
  const id = 'redis-auth';
  if (!model.redis.enabled || !result) return finding(id, 'ok', TITLE, 'Redis is disabled in the config');
  const where = describeListen(model.redis.listen);
  switch (result.kind) {
    case 'refused':
      return finding(id, 'ok', TITLE, `${where}: an anonymous client is refused (${/NOAUTH|WRONGPASS/i.exec(result.message)?.[0] ?? 'authentication required'})`);
    case 'answered':
      return finding(
        id,
        'fail',
        TITLE,
        `${where} answered a client that sent no password`,
        'Set requirepass (onionscale renders it from secrets/redis.password): any local process could read or rewrite sessions and cache.',
      );
    case 'unreachable':
      return finding(id, 'warn', TITLE, `${where}: could not connect (${result.message.slice(0, 120)})`, 'Is the stack running? `onionscale status`.');
  }
}

export async function checkRedisAuth(model: StackModel, timeoutMs?: number): Promise<Finding> {
  return assessRedisAuth(model, model.redis.enabled ? await tryAnonymous(model.redis.listen, timeoutMs) : undefined);
}
