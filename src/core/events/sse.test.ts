/** SseConnection alone (a recording stand-in for ServerResponse): queueing during catch-up, dedupe, buffer bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { frame, SseConnection } from './sse.js';
import type { EventId } from './ids.js';

function fakeResponse(): { res: ServerResponse; out: string[]; state: { writableLength: number; destroyed: boolean } } {
  const out: string[] = [];
  const state = { writableLength: 0, destroyed: false };
  const res = {
    writeHead: () => res,
    write: (t: string) => out.push(t),
    end: () => undefined,
    destroy: () => (state.destroyed = true),
    get writableLength() {
      return state.writableLength;
    },
    get destroyed() {
      return state.destroyed;
    },
    writableEnded: false,
  } as unknown as ServerResponse;
  return { res, out, state };
}

const id = (ms: number, seq = 0): EventId => ({ epoch: 'e1', ms, seq });

test('live events that arrive during a replay are neither lost nor sent twice, and come after it in id order', () => {
  const { res, out } = fakeResponse();
  const conn = new SseConnection(res, { channels: ['a', 'b'], replayable: ['a'], maxBufferBytes: 1 << 20, onSlow: () => assert.fail('not slow') });
  conn.open(1000);
  conn.beginCatchUp();
  // Live copies of events the replay also returns, one newer live event, one non-replayable event.
  conn.deliver(frame('a', id(2), '"two"'));
  conn.deliver(frame('b', undefined, '"b1"'));
  conn.deliver(frame('a', id(3), '"three"'));
  conn.deliver(frame('a', id(4), '"four"'));
  const sent = conn.goLive([frame('a', id(1), '"one"'), frame('a', id(2), '"two"'), frame('a', id(3), '"three"')], id(3, 1));
  assert.equal(sent, 3);
  conn.deliver(frame('a', id(4), '"four again"'));
  conn.deliver(frame('a', id(5), '"five"'));
  const text = out.join('');
  const datas = [...text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(datas, ['"one"', '"two"', '"three"', '"b1"', '"four"', '"five"']);
  assert.match(text, /^retry: 1000$/m);
  assert.match(text, /^id: e1_3-1$/m, 'the replay position');
  assert.deepEqual(conn.last, id(5));
});

test('the catch-up queue and unsent socket bytes share one bound; past it the reader is cut off once', () => {
  const { res, state } = fakeResponse();
  let slow = 0;
  const conn = new SseConnection(res, { channels: ['a'], replayable: [], maxBufferBytes: 1000, onSlow: () => slow++ });
  conn.open(1000);
  conn.beginCatchUp();
  for (let i = 0; i < 20; i++) conn.deliver(frame('a', undefined, 'x'.repeat(100)));
  assert.equal(slow, 1);
  assert.equal(state.destroyed, true);
  assert.equal(conn.deliver(frame('a', undefined, '1')), false, 'closed streams take nothing');
  const live = fakeResponse();
  const c2 = new SseConnection(live.res, { channels: ['a'], replayable: [], maxBufferBytes: 1000, onSlow: () => slow++ });
  c2.goLive([], undefined);
  live.state.writableLength = 1001;
  c2.deliver(frame('a', undefined, '1'));
  assert.equal(slow, 2);
});
