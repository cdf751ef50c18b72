import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from './errors.js';
import { generatedDocs } from './generated-docs.js';

test('docs/errors.md, docs/config.md and the JSON Schema file are current (npx tsx scripts/gen-docs.ts)', () => {
  for (const [file, text] of Object.entries(generatedDocs())) {
    assert.equal(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'), text, `${file} is stale`);
  }
});

test('docs/errors.md lists every code of the errors module', () => {
  const doc = generatedDocs()['docs/errors.md']!;
  assert.deepEqual([...new Set(doc.match(/OSC_ERR_[A-Z0-9_]+/g))].sort(), Object.keys(ERROR_CODES).sort());
});

test('docs/config.md documents nested keys with defaults', () => {
  const doc = generatedDocs()['docs/config.md']!;
  assert.match(doc, /^\| `balancer\.timeouts\.client` \| string \| `"5m"` \| .*heartbeat/m);
  assert.match(doc, /^\| `apps\[\]\.instances` \| integer 1–64 \| `2` \|/m);
  assert.match(doc, /^\| `redis\.maxmemoryPolicy` \| "allkeys-lru"/m);
});
