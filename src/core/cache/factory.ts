/**
 * `createCache(options)`: resolves the options and builds the L2 parts. With `l2` omitted it uses
 * `redisOptionsFromEnv()` (an app instance started by onionscale) and falls back to L1 only when that is unset.
 */
import { createOwnedClient } from '../redis/client.js';
import { redisOptionsFromEnv } from '../redis/env.js';
import { Cache, type CacheParts } from './cache.js';
import { resolveOptions } from './options.js';
import { RedisBus } from './redis-bus.js';
import { RedisStore } from './redis-store.js';
import type { CacheOptions } from './types.js';

function l2Parts(options: CacheOptions, prefix: string): CacheParts {
  const l2 = options.l2 === undefined ? envL2() : options.l2;
  if (l2 === false || l2 === undefined) return { ownsParts: false };
  if ('store' in l2) return { store: l2.store, bus: l2.bus, ownsParts: false };
  const commandTimeout = l2.commandTimeout ?? 1000;
  const owned = 'options' in l2;
  const client = owned ? createOwnedClient(l2.options) : l2.client;
  if (!owned && !client.isOpen) {
    // A caller's client that nobody connected yet: connect it (still theirs to close).
    client.connect().catch(() => {});
  }
  const store = new RedisStore({ client, prefix, commandTimeout, ownsClient: owned });
  const bus = new RedisBus({ client, channel: `${prefix}bus`, commandTimeout });
  // We created the bus (and, with `options`, the client), so close() closes them.
  return { store, bus, ownsParts: true };
}

function envL2(): CacheOptions['l2'] {
  const options = redisOptionsFromEnv();
  return options === undefined ? false : { options };
}

export function createCache(options: CacheOptions = {}): Cache {
  const resolved = resolveOptions(options);
  return new Cache(resolved, l2Parts(options, resolved.prefix));
}
