/**
 * Lua scripts run with EVALSHA, sent as EVAL only when the server answers NOSCRIPT (first use, or after a Redis
 * restart). Shared by every part of the library that talks to Redis: cache, rate limits, sessions, events.
 */
import { createHash } from 'node:crypto';

export interface Script {
  readonly source: string;
  readonly sha: string;
}

export function luaScript(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Sends one command (already wrapped in whatever timeout the caller uses). */
export type SendCommand = <T>(args: readonly string[]) => Promise<T>;

export async function evalScript<T>(send: SendCommand, s: Script, keys: readonly string[], args: readonly string[]): Promise<T> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await send<T>(['EVALSHA', s.sha, ...tail]);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return send<T>(['EVAL', s.source, ...tail]);
    throw err;
  }
}
