import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnionscaleError } from '../../errors.js';
import { createFragments } from './fragment.js';
import { createMemoryBackend } from './memory-backend.js';
import type { ResponseCacheBackend } from './types.js';

test('renders once, then serves the cached string', async () => {
  const { fragment } = createFragments(createMemoryBackend());
  let n = 0;
  const render = () => `<aside>${++n}</aside>`;
  assert.equal(await fragment('sidebar', '1m', render), '<aside>1</aside>');
  assert.equal(await fragment('sidebar', '1m', render), '<aside>1</aside>');
  assert.equal(await fragment('other', 60_000, render), '<aside>2</aside>');
});

test('concurrent calls for one key share a single render', async () => {
  const { fragment } = createFragments(createMemoryBackend());
  let n = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const render = async () => {
    n++;
    await gate;
    return 'card';
  };
  const calls = Array.from({ length: 10 }, () => fragment('card:1', '1m', render));
  release();
  assert.deepEqual(await Promise.all(calls), Array(10).fill('card'));
  assert.equal(n, 1);
});

test('a failed render is not cached and rejects every sharer', async () => {
  const { fragment } = createFragments(createMemoryBackend());
  let n = 0;
  const render = async () => {
    n++;
    await Promise.resolve();
    if (n === 1) throw new Error('db down');
    return 'ok';
  };
  const results = await Promise.allSettled([fragment('k', '1m', render), fragment('k', '1m', render)]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(await fragment('k', '1m', render), 'ok');
  assert.equal(n, 2);
});

test('tags invalidate fragments', async () => {
  const { fragment, invalidateTag } = createFragments(createMemoryBackend());
  let n = 0;
  const render = () => `v${++n}`;
  await fragment('menu', '1h', render, { tags: ['menu'] });
  await invalidateTag('menu');
  assert.equal(await fragment('menu', '1h', render, { tags: ['menu'] }), 'v2');
  await assert.rejects(invalidateTag('bad tag'), (e: unknown) => e instanceof OnionscaleError && e.code === 'OSC_ERR_CACHE_KEY');
});

test('bad input gets coded errors', async () => {
  const { fragment } = createFragments(createMemoryBackend());
  const code = (c: string) => (e: unknown) => e instanceof OnionscaleError && e.code === c;
  await assert.rejects(fragment('', '1m', () => 'x'), code('OSC_ERR_CACHE_KEY'));
  await assert.rejects(fragment('k', 'soon', () => 'x'), code('OSC_ERR_CACHE_OPTIONS'));
  await assert.rejects(fragment('k', '1m', () => 'x', { tags: ['a\nb'] }), code('OSC_ERR_CACHE_KEY'));
  await assert.rejects(fragment('k', '1m', (() => 42) as unknown as () => string), code('OSC_ERR_CACHE_SERIALIZE'));
});

test('a failing or corrupt store degrades to rendering', async () => {
  const broken: ResponseCacheBackend = {
    get: () => Promise.reject(new Error('down')),
    set: () => Promise.reject(new Error('down')),
    deleteByTag: () => Promise.resolve(),
  };
  let n = 0;
  const f = createFragments(broken).fragment;
  assert.equal(await f('k', '1m', () => `r${++n}`), 'r1');
  assert.equal(await f('k', '1m', () => `r${++n}`), 'r2');
  const foreign = createMemoryBackend();
  const frag = createFragments(foreign, { keyPrefix: 'x:' }).fragment;
  await frag('k', '1m', () => 'good');
  // Overwrite every stored value with something that is not a fragment.
  const weird = createFragments({ ...foreign, get: () => Promise.resolve({ html: 42 }) }, { keyPrefix: 'x:' }).fragment;
  assert.equal(await weird('k', '1m', () => 'fresh'), 'fresh');
});
