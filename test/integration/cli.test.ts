/** The CLI verbs that need no running stack: init, check, schema, render, help, usage errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/stack.js';

test('init writes a valid commented config once; check accepts it; a second init refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-cli-'));
  try {
    const config = join(dir, 'onionscale.yaml');
    const init = await runCli(['init', '-c', config]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(readFileSync(config, 'utf8'), /^# onionscale\.yaml/);
    const check = await runCli(['check', '-c', config]);
    assert.equal(check.code, 0, check.stderr);
    // The starter runs the demo forum on three instances (issue 6).
    assert.match(check.stdout, /ok — 1 onion service\(s\), 1 app\(s\) with 3 instance\(s\), redis on/);
    const again = await runCli(['init', '-c', config]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /OSC_ERR_CONFIG_EXISTS/);
    assert.equal((await runCli(['init', '--force', '-c', config])).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render prints each production file to stdout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-cli-'));
  try {
    const config = join(dir, 'onionscale.yaml');
    writeFileSync(config, 'apps: [{ name: web, builtin: sample, instances: 3 }]\n');
    const args = ['-c', config, '--state-dir', '/var/lib/onionscale'];
    const tor = await runCli(['render', 'tor', ...args]);
    assert.equal(tor.code, 0, tor.stderr);
    assert.match(tor.stdout, /^HiddenServiceDir \/var\/lib\/onionscale\/tor\/hs\/main$/m);
    assert.match(tor.stdout, /^HiddenServiceExportCircuitID haproxy$/m);
    assert.doesNotMatch(tor.stdout, /__OwningControllerProcess/);
    const haproxy = await runCli(['render', 'haproxy', ...args]);
    assert.match(haproxy.stdout, /accept-proxy/);
    assert.equal(haproxy.stdout.match(/^\s*server web-\d/gm)?.length, 3);
    const redis = await runCli(['render', 'redis', ...args]);
    assert.match(redis.stdout, /^maxmemory-policy allkeys-lru$/m);
    assert.doesNotMatch(redis.stdout, /^\s*requirepass/m, 'the password lives in a separate 0600 file');
    const systemd = await runCli(['render', 'systemd', ...args]);
    assert.match(systemd.stdout, /# ---- onionscale-redis\.service ----/);
    assert.match(systemd.stdout, /# ---- onionscale-tor\.service ----/);
    const bad = await runCli(['render', 'nginx', ...args]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /OSC_ERR_CLI_USAGE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('schema prints the JSON Schema; unknown verbs and options are usage errors (exit 2)', async () => {
  const schema = await runCli(['schema']);
  assert.equal(schema.code, 0);
  const json = JSON.parse(schema.stdout) as { properties: Record<string, unknown> };
  assert.ok(json.properties.apps && json.properties.tor);
  const help = await runCli(['help']);
  assert.match(help.stdout, /usage: onionscale <verb>/);
  for (const args of [['frobnicate'], ['up', '--no-such-flag']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /OSC_ERR_CLI_USAGE/);
  }
});
