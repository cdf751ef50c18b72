import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TorControlWatcher, parseDescriptorEvent } from './tor-control.js';

const ADDR = 'a'.repeat(20) + '234567'.repeat(6);

test('parseDescriptorEvent reads HS_DESC upload events and ignores everything else', () => {
  assert.deepEqual(parseDescriptorEvent(`650 HS_DESC UPLOADED ${ADDR} UNKNOWN $AAAA~relay`), { action: 'UPLOADED', address: ADDR });
  assert.deepEqual(parseDescriptorEvent(`650 HS_DESC UPLOAD ${ADDR} UNKNOWN $BBBB~r2 xyz HSDIR_INDEX=1`), { action: 'UPLOAD', address: ADDR });
  assert.deepEqual(parseDescriptorEvent(`650 HS_DESC FAILED ${ADDR} UNKNOWN $C REASON=x`), { action: 'FAILED', address: ADDR });
  for (const other of ['250 OK', `650 HS_DESC RECEIVED ${ADDR} x`, `650 HS_DESC UPLOADED ${ADDR.toUpperCase()} x`, '650 CIRC 1 BUILT', '']) {
    assert.equal(parseDescriptorEvent(other), undefined, other);
  }
});

test('the watcher authenticates with the cookie, subscribes, reports events and reconnects', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-ctl-'));
  const sock = join(dir, 'ctl.sock');
  const cookie = join(dir, 'cookie');
  writeFileSync(cookie, Buffer.from([1, 2, 254]));
  const received: string[] = [];
  let connections = 0;
  const server = createServer((c) => {
    connections++;
    c.setEncoding('latin1');
    c.on('data', (d: string) => {
      received.push(d);
      if (d.includes('SETEVENTS HS_DESC')) {
        c.write(`250 OK\r\n250 OK\r\n650 HS_DESC UPLOAD ${ADDR} UNKNOWN $X\r\n650 HS_DESC UPLOADED ${ADDR} UNKNOWN $X\r\n`);
        if (connections === 1) setTimeout(() => c.destroy(), 20);
      }
    });
  }).listen(sock);
  const events: string[] = [];
  const watcher = new TorControlWatcher(sock, cookie, (e) => events.push(e.action));
  try {
    watcher.start();
    const deadline = Date.now() + 5000;
    while (events.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ['UPLOAD', 'UPLOADED', 'UPLOAD', 'UPLOADED'], 'events from both connections');
    assert.equal(connections, 2, 'reconnected after the first connection closed');
    assert.match(received[0]!, /^AUTHENTICATE 0102fe\r\nSETEVENTS HS_DESC\r\n/);
  } finally {
    watcher.stop();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
