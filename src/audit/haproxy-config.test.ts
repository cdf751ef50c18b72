import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/load.js';
import { renderHaproxyConfig } from '../render/haproxy.js';
import { checkAdminPage, circuitHeaderConfig, parseHaproxySections } from './checks/haproxy-config.js';

const model = parseConfig('onion:\n  services: [{ name: main }, { name: api, ports: [8080] }]\n', '/srv/site/onionscale.yaml', {
  stateDir: '/var/lib/onionscale',
});
const rendered = { text: renderHaproxyConfig(model), source: 'haproxy.cfg' };

test('sections: keyword, name and directive lines without comments', () => {
  const s = parseHaproxySections('global\n    maxconn 10 # why\n# a comment\nfrontend web\n    bind :80\n\nbackend b\n    server s 127.0.0.1:1\n');
  assert.deepEqual(s, [
    { keyword: 'global', name: '', lines: ['maxconn 10'] },
    { keyword: 'frontend', name: 'web', lines: ['bind :80'] },
    { keyword: 'backend', name: 'b', lines: ['server s 127.0.0.1:1'] },
  ]);
});

test('admin-page: the rendered config has only the 0600 runtime socket, no stats page', () => {
  assert.match(rendered.text, /stats socket .* mode 600 level admin/);
  const f = checkAdminPage(rendered);
  assert.equal(f.level, 'ok', f.detail);
});

test('admin-page: stats uri, stats enable in a listen section and the prometheus exporter fail', () => {
  for (const extra of [
    'listen stats\n    bind 127.0.0.1:8404\n    stats enable\n',
    'frontend onion-x\n    stats uri /haproxy?stats\n',
    'frontend metrics\n    http-request use-service prometheus-exporter if { path /metrics }\n',
  ]) {
    const f = checkAdminPage({ text: rendered.text + '\n' + extra, source: 'haproxy.cfg' });
    assert.equal(f.level, 'fail', extra);
    assert.match(f.fix, /127\.0\.0\.1/);
  }
  // Commented out is not configured.
  assert.equal(checkAdminPage({ text: rendered.text + 'listen x\n    # stats uri /s\n', source: 'c' }).level, 'ok');
});

test('circuit-header (config): every frontend deletes the client header before setting it', () => {
  const parts = circuitHeaderConfig(model, rendered);
  assert.deepEqual(parts.map((p) => p.level), ['ok', 'ok']);
  assert.match(parts[1]!.detail, /frontend onion-api drops a client-sent X-Onion-Circuit/);
});

test('circuit-header (config): a missing del-header, a del after set, or a missing frontend fail', () => {
  const noDel = rendered.text.replace(/^ *http-request del-header X-Onion-Circuit\n/gm, '');
  assert.deepEqual(circuitHeaderConfig(model, { text: noDel, source: 'c' }).map((p) => p.level), ['fail', 'fail']);
  const reordered = rendered.text.replace(
    /( *http-request del-header X-Onion-Circuit\n)( *http-request set-header X-Onion-Circuit [^\n]*\n)/g,
    '$2$1',
  );
  assert.notEqual(reordered, rendered.text);
  assert.equal(circuitHeaderConfig(model, { text: reordered, source: 'c' })[0]!.level, 'fail');
  const renamed = rendered.text.replace('frontend onion-api', 'frontend other');
  const parts = circuitHeaderConfig(model, { text: renamed, source: 'c' });
  assert.equal(parts[1]!.level, 'fail');
  assert.match(parts[1]!.detail, /no frontend onion-api/);
});
