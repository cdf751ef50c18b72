import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnionscaleError } from '../../errors.js';
import { createMemoryBackend } from './memory-backend.js';
import { defaultCompressible, normalizeOptions } from './options.js';
import type { ResponseCacheOptions } from './types.js';

test('defaults', () => {
  const o = normalizeOptions({ backend: createMemoryBackend() });
  const r = { method: 'GET', url: '/', headers: {} };
  assert.equal(o.ttl(r), 60_000);
  assert.equal(o.maxBodySize, 1024 * 1024);
  assert.equal(o.maxUrlLength, 2048);
  assert.deepEqual([...o.statuses], [200, 203, 204, 301, 404, 410]);
  assert.deepEqual(o.compression?.encodings, ['br', 'gzip']);
  assert.equal(o.statusHeader, 'x-cache');
  assert.ok(Object.isFrozen(o));
});

test('durations and sizes as strings; per-request ttl normalized into ms', () => {
  const o = normalizeOptions({ backend: createMemoryBackend(), ttl: (r) => (r.url === '/x' ? '5m' : undefined), maxBodySize: '2mb' });
  assert.equal(o.ttl({ method: 'GET', url: '/x', headers: {} }), 300_000);
  assert.equal(o.ttl({ method: 'GET', url: '/y', headers: {} }), undefined);
  assert.equal(o.maxBodySize, 2 * 1024 * 1024);
});

test('every problem is reported at once with a stable code', () => {
  const bad = {
    backend: {},
    ttl: 'soon',
    vary: ['ok', 'not a header'],
    maxBodySize: 'huge',
    compression: { brotliQuality: 12, encodings: ['zstd'] },
    statusHeader: 'x cache',
    keyPrefix: 'a b',
    coalesceTimeout: -1,
  } as unknown as ResponseCacheOptions;
  assert.throws(
    () => normalizeOptions(bad),
    (err: unknown) => {
      assert.ok(err instanceof OnionscaleError);
      assert.equal(err.code, 'OSC_ERR_CACHE_OPTIONS');
      const problems = err.details.problems as string[];
      for (const p of ['backend', 'ttl', 'vary[1]', 'maxBodySize', 'brotliQuality', 'encodings', 'statusHeader', 'keyPrefix', 'coalesceTimeout']) {
        assert.ok(problems.some((x) => x.includes(p)), p);
      }
      return true;
    },
  );
});

test('compressible content types', () => {
  for (const t of ['text/html; charset=utf-8', 'application/json', 'application/ld+json', 'image/svg+xml', 'application/javascript', 'application/vnd.api+json']) {
    assert.equal(defaultCompressible(t), true, t);
  }
  for (const t of ['image/png', 'application/octet-stream', 'video/mp4', 'application/zip', 'application/jsonx']) {
    assert.equal(defaultCompressible(t), false, t);
  }
});
