import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnionscaleError } from '../errors.js';
import { ControlServer, controlRequest, parseControlRequest } from './control.js';
import { haproxyCommand, parseShowStat } from './haproxy-api.js';

test('control requests: only the known shapes; everything else is a coded error', () => {
  assert.deepEqual(parseControlRequest('{"op":"reload"}'), { op: 'reload' });
  assert.deepEqual(parseControlRequest('{"op":"scale","app":"web","count":3}'), { op: 'scale', app: 'web', count: 3 });
  const code = (line: string) => {
    try {
      parseControlRequest(line);
      return 'accepted';
    } catch (err) {
      return (err as OnionscaleError).code;
    }
  };
  assert.equal(code('not json'), 'OSC_ERR_STACK_CONTROL');
  assert.equal(code('null'), 'OSC_ERR_STACK_CONTROL');
  assert.equal(code('{"op":"rm -rf"}'), 'OSC_ERR_STACK_CONTROL');
  assert.equal(code('{"op":"scale","app":"../x","count":3}'), 'OSC_ERR_STACK_SCALE');
  assert.equal(code('{"op":"scale","app":"web","count":"3"}'), 'OSC_ERR_STACK_SCALE');
  assert.equal(code('{"op":"scale","app":"web","count":2.5}'), 'OSC_ERR_STACK_SCALE');
});

test('control socket: 0600, progress then result; coded errors travel back; no server → NOT_RUNNING', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'control.sock');
  const server = new ControlServer(path, (req, progress) => {
    progress('step 1');
    if (req.op === 'scale') return Promise.reject(new OnionscaleError('OSC_ERR_STACK_SCALE', 'no such app'));
    return Promise.resolve({ did: req.op });
  });
  await server.start();
  t.after(() => server.close());
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const lines: string[] = [];
  assert.deepEqual(await controlRequest(path, { op: 'reload' }, (l) => lines.push(l)), { did: 'reload' });
  assert.deepEqual(lines, ['step 1']);
  await assert.rejects(controlRequest(path, { op: 'scale', app: 'web', count: 2 }), (err: OnionscaleError) => err.code === 'OSC_ERR_STACK_SCALE' && /no such app/.test(err.message));
  // A hostile client: an endless line is cut off with a coded error, the server keeps serving.
  const answer = await new Promise<string>((resolve) => {
    const s = connect(path);
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString()));
    s.on('close', () => resolve(data));
    s.on('error', () => resolve(data));
    s.write('x'.repeat(10_000));
  });
  assert.match(answer, /"ok":false,"code":"OSC_ERR_STACK_CONTROL"/);
  assert.deepEqual(await controlRequest(path, { op: 'ping' }), { did: 'ping' });
  await server.close();
  await assert.rejects(controlRequest(path, { op: 'reload' }), (err: OnionscaleError) => err.code === 'OSC_ERR_STACK_NOT_RUNNING');
});

test('haproxy runtime API: show stat parsed per server; one command per call', async () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status',
    'onion-main,FRONTEND,,,1,2,4096,10,0,0,0,0,0,,,,,OPEN',
    'app-web,web-1,0,0,2,3,,5,0,0,,0,,0,0,0,0,UP',
    'app-web,web-2,1,1,0,1,,5,0,0,,0,,0,0,0,0,DRAIN',
    'app-web,web-3,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT',
    'app-web,BACKEND,0,0,2,3,410,10,0,0,0,0,,0,0,0,0,UP',
    '',
  ].join('\n');
  assert.deepEqual(parseShowStat(csv), [
    { backend: 'app-web', server: 'web-1', scur: 2, qcur: 0, status: 'UP' },
    { backend: 'app-web', server: 'web-2', scur: 0, qcur: 1, status: 'DRAIN' },
    { backend: 'app-web', server: 'web-3', scur: 0, qcur: 0, status: 'MAINT' },
  ]);
  assert.deepEqual(parseShowStat('garbage'), []);
  await assert.rejects(haproxyCommand('/nonexistent.sock', 'show info; shutdown sessions'), (err: OnionscaleError) => err.code === 'OSC_ERR_STACK_HAPROXY_API');
  await assert.rejects(haproxyCommand('/nonexistent.sock', 'show info\nshutdown'), /one line/);
  await assert.rejects(haproxyCommand('/nonexistent.sock', 'show info'), (err: OnionscaleError) => err.code === 'OSC_ERR_STACK_HAPROXY_API');
});
