// Runs the shared response-cache contract against a real Express 5 app on 127.0.0.1:0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { runAdapterContract } from '../core/http-cache/adapter-contract.js';
import { createMemoryBackend, responseCache } from './express.js';

runAdapterContract('express', async (options, routes) => {
  const app = express();
  const cache = responseCache(options);
  // Session middleware sits before the cache and adds its cookie from a writeHead hook, as on-headers does.
  const late = new Map(routes.filter((r) => r.lateSetCookie).map((r) => [r.path, r.lateSetCookie!]));
  app.use((req, res, next) => {
    const cookie = late.get(req.path);
    if (cookie) {
      const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => typeof res;
      res.writeHead = ((...args: unknown[]) => {
        res.setHeader('set-cookie', cookie);
        return writeHead(...args);
      }) as typeof res.writeHead;
    }
    next();
  });
  app.use(cache);
  for (const route of routes) {
    const add = route.method === 'GET' ? app.get.bind(app) : app.post.bind(app);
    add(route.path, async (req, res) => {
      const out = await route.handle({ query: new URL(req.originalUrl, 'http://local').searchParams, headers: req.headers });
      res.status(out.status ?? 200);
      for (const [name, value] of Object.entries(out.headers ?? {})) res.setHeader(name, value);
      if (out.stream) {
        res.flushHeaders();
        for await (const chunk of out.stream) res.write(chunk);
        res.end();
        return;
      }
      res.send(out.body ?? '');
    });
  }
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    invalidateTag: (tag) => cache.invalidateTag(tag),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
});

test('express: routers mounted under a path key on the full URL', async () => {
  const app = express();
  const cache = responseCache({ backend: createMemoryBackend() });
  let n = 0;
  for (const base of ['/a', '/b']) {
    const router = express.Router();
    router.get('/', cache, (_req, res) => void res.send(`${base} ${++n}`));
    app.use(base, router);
  }
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal(await (await fetch(`${url}/a/`)).text(), '/a 1');
    assert.equal(await (await fetch(`${url}/b/`)).text(), '/b 2', 'both routers see url "/", yet they are not one entry');
    const again = await fetch(`${url}/a/`);
    assert.equal(again.headers.get('x-cache'), 'HIT');
    assert.equal(await again.text(), '/a 1');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
