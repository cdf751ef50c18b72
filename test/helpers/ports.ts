import { createServer } from 'node:net';

/**
 * Test ports come from 20000–32767, below Linux's ephemeral range (32768–60999): the OS never hands those out for
 * outgoing connections or `listen(0)`, so a port probed free here is not taken a moment later by some client's
 * socket or by a port-0 listener in a test running in parallel (a real flake when tests used `listen(0)` ports as
 * fixed app ports). A random start per call keeps parallel test processes apart; every port is probed.
 */
const LOW = 20_000;
const HIGH = 32_768;

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return freePortRange(1);
}

/** `n` distinct free ports, consecutive so they can serve as an app's basePort range. */
export async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - n));
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await isFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found in ${LOW}–${HIGH - 1}`);
}

export async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
