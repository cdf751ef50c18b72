import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, OnionscaleError } from './errors.js';

test('errors carry code, status, hint and cause', () => {
  const cause = new Error('boom');
  const err = new OnionscaleError('OSC_ERR_BODY_TOO_LARGE', 'body over 1 MB', { cause, details: { limit: 1 } });
  assert.equal(err.code, 'OSC_ERR_BODY_TOO_LARGE');
  assert.equal(err.status, 413);
  assert.equal(err.cause, cause);
  assert.match(err.describe(), /body over 1 MB\n {2}fix: .+ \[OSC_ERR_BODY_TOO_LARGE\]/);
  const cfg = new ConfigError('/x.yaml', [{ path: 'a.b', message: 'bad', code: 'OSC_ERR_CONFIG_TYPE' }]);
  assert.equal(cfg.message, '/x.yaml: 1 problem:\n  a.b: bad [OSC_ERR_CONFIG_TYPE]');
});
