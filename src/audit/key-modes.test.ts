import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import { checkKeyModes, type FileInfo } from './checks/key-modes.js';

const UID = 1000;
const model = parseConfig('onion:\n  services: [{ name: main }, { name: shop }]\n', '/srv/site/onionscale.yaml', { stateDir: '/var/lib/onionscale' });
const p = model.paths;
const hs = (name: string) => join(p.hiddenServices, name);

/** A healthy state directory as `onionscale up` leaves it. */
function healthy(): Map<string, FileInfo> {
  const dir = (mode: number): FileInfo => ({ mode: 0o040000 | mode, uid: UID, isDirectory: true });
  const file = (mode: number): FileInfo => ({ mode: 0o100000 | mode, uid: UID, isDirectory: false });
  return new Map([
    [hs('main'), dir(0o700)],
    [join(hs('main'), 'hs_ed25519_secret_key'), file(0o600)],
    [hs('shop'), dir(0o700)],
    [join(hs('shop'), 'hs_ed25519_secret_key'), file(0o400)],
    [p.torControlCookie, file(0o600)],
    [p.secrets, dir(0o700)],
    [p.redisPasswordFile, file(0o600)],
    [p.run, dir(0o700)],
    [p.logs, dir(0o750)],
    [join(p.logs, 'tor.log'), file(0o600)],
    [join(p.logs, 'web-1.log'), file(0o640)],
  ]);
}

const run = (files: Map<string, FileInfo>) =>
  checkKeyModes(model, (path) => files.get(path), UID, (dir) => (dir === p.logs ? ['tor.log', 'web-1.log'] : []));

test('key-modes: ok for 0700 dirs, 0600/0400 keys and password, logs closed to others', () => {
  const f = run(healthy());
  assert.equal(f.level, 'ok', f.detail);
  assert.equal(f.detail, '11 path(s) checked, modes and owner fine');
});

test('key-modes: a world-readable secret key fails and names the file and its mode', () => {
  const files = healthy();
  files.set(join(hs('shop'), 'hs_ed25519_secret_key'), { mode: 0o100644, uid: UID, isDirectory: false });
  const f = run(files);
  assert.equal(f.level, 'fail');
  assert.match(f.detail, /^onion secret key of shop \(\/var\/lib\/onionscale\/tor\/hs\/shop\/hs_ed25519_secret_key\) has mode 0644, want 0600$/);
  assert.match(f.fix, /chmod 600/);
});

test('key-modes: group-readable dirs, a loose password, a world-readable log and a foreign owner all fail', () => {
  const files = healthy();
  files.set(hs('main'), { mode: 0o040750, uid: UID, isDirectory: true });
  files.set(p.redisPasswordFile, { mode: 0o100660, uid: UID, isDirectory: false });
  files.set(join(p.logs, 'tor.log'), { mode: 0o100644, uid: UID, isDirectory: false });
  files.set(p.secrets, { mode: 0o040700, uid: 0, isDirectory: true });
  files.set(p.torControlCookie, { mode: 0o100644, uid: UID, isDirectory: false });
  files.set(p.logs, { mode: 0o040755, uid: UID, isDirectory: true });
  const f = run(files);
  assert.equal(f.level, 'fail');
  for (const re of [/HiddenServiceDir of main .* 0750/, /Redis password file .* 0660/, /log tor\.log .* 0644/, /secrets directory .* owned by uid 0, not uid 1000/, /logs directory .* 0755/, /tor control cookie .* 0644/]) {
    assert.match(f.detail, re);
  }
  assert.doesNotMatch(f.detail, /web-1\.log/);
});

test('key-modes: a file where a directory belongs fails; keys not created yet only warn', () => {
  const files = healthy();
  files.set(p.secrets, { mode: 0o100600, uid: UID, isDirectory: false });
  assert.match(run(files).detail, /secrets directory .* is not a directory/);
  const fresh = healthy();
  fresh.delete(join(hs('main'), 'hs_ed25519_secret_key'));
  const f = run(fresh);
  assert.equal(f.level, 'warn');
  assert.match(f.detail, /not created yet: onion secret key of main/);
});

test('key-modes: with Redis disabled the password file is not required', () => {
  const noRedis = parseConfig('redis: { enabled: false }\n', '/srv/site/onionscale.yaml', { stateDir: '/var/lib/onionscale' });
  const f = checkKeyModes(noRedis, () => ({ mode: 0o040700, uid: UID, isDirectory: true }), UID, () => []);
  // Every path claims to be a 0700 directory: the key "files" fail as directories, and no password file is asked for.
  assert.match(f.detail, /onion secret key of main .* is a directory/);
  assert.doesNotMatch(f.detail, /Redis password/);
});
