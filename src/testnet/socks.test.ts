// The SOCKS5 client against a minimal RFC 1928/1929 server on loopback (the real tor is in test/e2e/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { socksConnect, SocksError } from './socks.js';

/** Accepts user/pass auth, records the request, answers `reply`; on success echoes what follows. */
async function socksServer(t: { after: (fn: () => Promise<void>) => void }, opts: { method?: number; reply?: number }) {
  const seen: { user: string; host: string; port: number }[] = [];
  const server = createServer((s: Socket) => {
    let buf = Buffer.alloc(0);
    let stage = 0;
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (stage === 0 && buf.length >= 3) {
        buf = buf.subarray(2 + buf[1]!);
        stage = 1;
        s.write(Buffer.from([5, opts.method ?? 2]));
      }
      if (stage === 1 && buf.length >= 2 && buf.length >= 3 + buf[1]! && buf.length >= 3 + buf[1]! + buf[2 + buf[1]!]!) {
        const ulen = buf[1]!;
        const user = buf.subarray(2, 2 + ulen).toString();
        buf = buf.subarray(3 + ulen + buf[2 + ulen]!);
        seen.push({ user, host: '', port: 0 });
        stage = 2;
        s.write(Buffer.from([1, 0]));
      }
      if (stage === 2 && buf.length >= 5 && buf.length >= 7 + buf[4]!) {
        const hlen = buf[4]!;
        seen[seen.length - 1]!.host = buf.subarray(5, 5 + hlen).toString();
        seen[seen.length - 1]!.port = buf.readUInt16BE(5 + hlen);
        buf = buf.subarray(7 + hlen);
        stage = 3;
        const rep = opts.reply ?? 0;
        // Reply with the bound address and, on success, early data in the same packet.
        s.write(Buffer.concat([Buffer.from([5, rep, 0, 1, 127, 0, 0, 1, 0, 80]), rep === 0 ? Buffer.from('early') : Buffer.alloc(0)]));
        if (rep !== 0) s.end();
        return;
      }
      if (stage === 3 && buf.length) {
        s.write(buf);
        buf = Buffer.alloc(0);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, seen };
}

test('CONNECT by hostname with username auth; bytes after the reply are not lost', async (t) => {
  const srv = await socksServer(t, {});
  const s = await socksConnect({ proxyPort: srv.port, host: 'abc.onion', port: 80, user: 'alice' });
  let got = '';
  const done = new Promise<void>((resolve) =>
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (got === 'earlyping') resolve();
    }),
  );
  s.write('ping');
  await done;
  s.destroy();
  assert.deepEqual(srv.seen, [{ user: 'alice', host: 'abc.onion', port: 80 }]);
});

test('a SOCKS error reply rejects with its code (4 = host unreachable: tor has no descriptor yet)', async (t) => {
  const srv = await socksServer(t, { reply: 4 });
  await assert.rejects(socksConnect({ proxyPort: srv.port, host: 'abc.onion', port: 80 }), (err: unknown) => {
    assert.ok(err instanceof SocksError);
    assert.equal(err.code, 'OSC_ERR_TESTNET_SOCKS');
    assert.equal(err.reply, 4);
    assert.match(err.message, /host unreachable/);
    return true;
  });
});

test('a proxy that refuses username auth, or is not there, rejects with OSC_ERR_TESTNET_SOCKS', async (t) => {
  const srv = await socksServer(t, { method: 0xff });
  await assert.rejects(socksConnect({ proxyPort: srv.port, host: 'x.onion', port: 80 }), { code: 'OSC_ERR_TESTNET_SOCKS', message: /refused username/ });
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await assert.rejects(socksConnect({ proxyPort: port, host: 'x.onion', port: 80 }), { code: 'OSC_ERR_TESTNET_SOCKS', message: /ECONNREFUSED/ });
  await assert.rejects(socksConnect({ proxyPort: port, host: 'x'.repeat(300), port: 80 }), { code: 'OSC_ERR_TESTNET_SOCKS' });
});
