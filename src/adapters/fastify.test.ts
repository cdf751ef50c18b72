// Runs the shared response-cache contract against a real Fastify 5 app on 127.0.0.1:0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Readable } from 'node:stream';
import { runAdapterContract } from '../core/http-cache/adapter-contract.js';
import { createMemoryBackend, responseCache } from './fastify.js';

runAdapterContract('fastify', async (options, routes) => {
  const app = Fastify();
  await app.register(responseCache, options);
  // Registered after the cache, like @fastify/session, so its onSend runs after the cache captured the response.
  const late = new Map(routes.filter((r) => r.lateSetCookie).map((r) => [r.path, r.lateSetCookie!]));
  app.addHook('onSend', async (request, reply, payload) => {
    const cookie = late.get(request.url);
    if (cookie) reply.header('set-cookie', cookie);
    return payload;
  });
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request, reply) => {
        const out = await route.handle({ query: new URL(request.url, 'http://local').searchParams, headers: request.headers });
        reply.code(out.status ?? 200);
        reply.headers(out.headers ?? {});
        return reply.send(out.stream ? Readable.from(out.stream) : (out.body ?? ''));
      },
    });
  }
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    invalidateTag: (tag) => app.responseCache.invalidateTag(tag),
    close: () => app.close(),
  };
});

test('fastify: a route can opt out with config.responseCache = false', async () => {
  const app = Fastify();
  await app.register(responseCache, { backend: createMemoryBackend() });
  let n = 0;
  app.get('/live', { config: { responseCache: false } }, () => `live ${++n}`);
  app.get('/cached', () => `cached ${++n}`);
  try {
    await app.inject('/live');
    const live = await app.inject('/live');
    assert.equal(live.body, 'live 2');
    assert.equal(live.headers['x-cache'], undefined, 'the cache never looked at it');
    await app.inject('/cached');
    const cached = await app.inject('/cached');
    assert.equal(cached.body, 'cached 3');
    assert.equal(cached.headers['x-cache'], 'HIT');
  } finally {
    await app.close();
  }
});
