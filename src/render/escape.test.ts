import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnionscaleError } from '../errors.js';
import {
  checkInt,
  checkLoopbackHost,
  checkValue,
  haproxyArg,
  loopbackAddress,
  redisArg,
  redisQuoted,
  systemdEnvironment,
  systemdExecArg,
  systemdName,
  systemdPathListEntry,
  systemdValue,
  torUnsplittable,
  torValue,
} from './escape.js';

function assertUnsafe(fn: () => unknown, field: string): OnionscaleError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof OnionscaleError, `expected an OnionscaleError, got ${String(caught)}`);
  assert.equal(caught.code, 'OSC_ERR_RENDER_UNSAFE_VALUE');
  assert.equal(caught.details.field, field);
  assert.match(caught.message, new RegExp(field.replace(/[[\].]/g, '\\$&')));
  return caught;
}

test('checkValue refuses every control character and names the field, never the value', () => {
  for (const ch of ['\n', '\r', '\u0000', '\t', '\u001b', '\u001f', '\u007f']) {
    const err = assertUnsafe(() => checkValue('paths.torData', `/var/lib/x${ch}HiddenServicePort 80 1.2.3.4:80`), 'paths.torData');
    assert.doesNotMatch(err.message, /HiddenServicePort|1\.2\.3\.4/);
  }
  const err = assertUnsafe(() => checkValue('redis password', 's3cret\nrequirepass x'), 'redis password');
  assert.doesNotMatch(err.message, /s3cret/);
  assert.match(err.message, /U\+000A at index 6/);
  assert.equal(checkValue('x', 'plain value with spaces and ünïcödé'), 'plain value with spaces and ünïcödé');
  assert.equal(checkValue('x', 42), '42');
});

test('checkInt refuses NaN, fractions, negatives and out-of-range values', () => {
  for (const bad of [NaN, Infinity, 1.5, -1, 2 ** 53]) assertUnsafe(() => checkInt('port', bad), 'port');
  assertUnsafe(() => checkInt('port', 0, 1, 65535), 'port');
  assertUnsafe(() => checkInt('port', 65536, 1, 65535), 'port');
  assert.equal(checkInt('port', 65535, 1, 65535), 65535);
  assertUnsafe(() => checkValue('n', NaN), 'n');
});

test('loopback checks refuse anything that is not 127.0.0.0/8 or ::1', () => {
  for (const bad of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', '127.0.0.1 ', '::ffff:127.0.0.1']) {
    assertUnsafe(() => checkLoopbackHost('redis.listen', bad), 'redis.listen');
  }
  assert.equal(loopbackAddress('l', '127.0.0.1', 80), '127.0.0.1:80');
  assert.equal(loopbackAddress('l', '127.1.2.3', 80), '127.1.2.3:80');
  assert.equal(loopbackAddress('l', '::1', 8080), '[::1]:8080');
  assertUnsafe(() => loopbackAddress('l', '127.0.0.1', 0), 'l');
});

test('haproxyArg leaves plain words alone and quotes the rest with ", \\, $ and # escaped', () => {
  assert.equal(haproxyArg('f', '/var/lib/onionscale/run/main.sock'), '/var/lib/onionscale/run/main.sock');
  assert.equal(haproxyArg('f', 'unix@/run/x.sock'), 'unix@/run/x.sock');
  assert.equal(haproxyArg('f', '/a b'), '"/a b"');
  assert.equal(haproxyArg('f', '/a"b\\c$HOME#d'), '"/a\\"b\\\\c\\$HOME\\#d"');
  assert.equal(haproxyArg('f', '100%'), '"100%"');
  assert.equal(haproxyArg('f', ''), '""');
  assertUnsafe(() => haproxyArg('balancer.circuitHeader', 'X-A\r\nstats socket ipv4@0.0.0.0:9999'), 'balancer.circuitHeader');
});

test('torValue quotes spaces, # and backslashes C-style; torUnsplittable refuses whitespace', () => {
  assert.equal(torValue('f', '/var/lib/tor'), '/var/lib/tor');
  assert.equal(torValue('f', '/var/my tor'), '"/var/my tor"');
  assert.equal(torValue('f', '/a#b'), '"/a#b"');
  assert.equal(torValue('f', '/a\\'), '"/a\\\\"');
  assert.equal(torValue('f', '/a"b'), '"/a\\"b"');
  assertUnsafe(() => torValue('f', '/a\nb'), 'f');
  assert.equal(torUnsplittable('l', '/a#b.sock'), '/a#b.sock');
  assertUnsafe(() => torUnsplittable('l', '/a b.sock'), 'l');
});

test('redis quoting: plain words plain, the rest (and every password) double-quoted with escapes', () => {
  assert.equal(redisArg('f', '/var/lib/redis'), '/var/lib/redis');
  assert.equal(redisArg('f', '/var/my redis'), '"/var/my redis"');
  assert.equal(redisQuoted('pw', 'abc'), '"abc"');
  assert.equal(redisQuoted('pw', 'a"b\\c'), '"a\\"b\\\\c"');
  assertUnsafe(() => redisQuoted('pw', 'a\nb'), 'pw');
});

test('systemd quoting: exec args escape quotes, %, $; Environment escapes quotes and %, not $', () => {
  assert.equal(systemdExecArg('a', '/usr/bin/node'), '"/usr/bin/node"');
  assert.equal(systemdExecArg('a', 'say "hi" 100% $HOME ${X} \\n'), '"say \\"hi\\" 100%% $$HOME $${X} \\\\n"');
  assert.equal(systemdEnvironment('e', 'K', 'a "b" 100% $X \\'), '"K=a \\"b\\" 100%% $X \\\\"');
  assertUnsafe(() => systemdEnvironment('e', 'K=X', 'v'), 'e');
  assertUnsafe(() => systemdEnvironment('e', 'K X', 'v'), 'e');
  assertUnsafe(() => systemdEnvironment('e', 'K', 'v\nExecStartPre=/bin/sh -c evil'), 'e');
  assert.equal(systemdPathListEntry('p', '/var/my dir/%i'), '"/var/my dir/%%i"');
  assertUnsafe(() => systemdPathListEntry('p', 'relative'), 'p');
  assert.equal(systemdValue('v', '/srv/100%'), '/srv/100%%');
  assertUnsafe(() => systemdValue('v', ' /srv'), 'v');
  assert.equal(systemdName('u', 'onionscale'), 'onionscale');
  for (const bad of ['root\n', 'a b', '-x', 'a/b', '']) assertUnsafe(() => systemdName('u', bad), 'u');
});
