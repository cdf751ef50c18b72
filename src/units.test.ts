import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, parseSize } from './units.js';

test('parseDuration reads every unit and refuses garbage', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1.5m'), 90_000);
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  for (const bad of ['', '30', 's', '-1s', '1 s', '1w', '1e3s', '30sec']) assert.equal(parseDuration(bad), undefined, bad);
});

test('parseSize reads binary units case-insensitively', () => {
  assert.equal(parseSize('256mb'), 256 * 1024 * 1024);
  assert.equal(parseSize('64KB'), 65536);
  assert.equal(parseSize('1gb'), 1024 ** 3);
  assert.equal(parseSize('100b'), 100);
  for (const bad of ['', '256', 'mb', '1tb', '-1mb']) assert.equal(parseSize(bad), undefined, bad);
});

test('formatDuration picks the largest exact unit', () => {
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(1500), '1500ms');
});
