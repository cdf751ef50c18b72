/**
 * Spawns cache-worker.ts processes (separate Node processes, each its own cache instance) and talks to them over
 * IPC. Always `stopAll()` in a `finally`/`after`: it disconnects, then SIGKILLs any worker still alive after 5 s.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./cache-worker.ts', import.meta.url));

export interface WorkerEvent {
  type: 'event' | 'unhandled';
  /** Worker clock (performance.timeOrigin + now), ms. */
  at: number;
  /** Parent clock when the message arrived: an upper bound free of cross-process clock offsets. */
  receivedAt: number;
  /** Position in `events`. */
  index: number;
  event?: Record<string, unknown>;
  reason?: string;
}

export interface CacheWorker {
  pid: number;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Everything pushed by the worker so far. */
  events: WorkerEvent[];
  /** Resolves with the first pushed event (already seen or future) matching `pred`, or rejects after `timeoutMs`. */
  waitFor(pred: (e: WorkerEvent) => boolean, timeoutMs?: number): Promise<WorkerEvent>;
  stop(): Promise<void>;
}

interface Reply {
  id?: number;
  type?: string;
  ok?: boolean;
  value?: unknown;
  undef?: boolean;
  error?: string;
  code?: string;
}

export async function spawnCacheWorker(): Promise<CacheWorker> {
  const child: ChildProcess = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const events: WorkerEvent[] = [];
  const watchers = new Set<{ pred: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }>();
  let nextId = 1;
  let exited = false;
  let exitReason = '';
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      exitReason = `worker ${child.pid} exited (${signal ?? `code ${code}`})`;
      for (const p of pending.values()) p.reject(new Error(exitReason));
      pending.clear();
      resolve();
    }),
  );
  const up = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (raw) => {
      const m = raw as Reply & Omit<WorkerEvent, 'type'> & { type?: string };
      if (m.type === 'up') return resolve();
      if (m.type === 'event' || m.type === 'unhandled') {
        m.receivedAt = performance.timeOrigin + performance.now();
        m.index = events.length;
        events.push(m as WorkerEvent);
        for (const w of [...watchers]) {
          if (w.pred(m as WorkerEvent)) {
            watchers.delete(w);
            w.resolve(m as WorkerEvent);
          }
        }
        return;
      }
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p) return;
      pending.delete(m.id!);
      if (m.ok) p.resolve(m.undef ? undefined : m.value);
      else p.reject(Object.assign(new Error(m.error ?? 'worker error'), { code: m.code }));
    });
    setTimeout(() => reject(new Error('cache worker did not start in 15 s')), 15_000).unref();
  });
  await up;
  return {
    pid: child.pid!,
    events,
    call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      if (exited) return Promise.reject(new Error(exitReason));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args });
      });
    },
    waitFor(pred, timeoutMs = 5000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise<WorkerEvent>((resolve, reject) => {
        const w = {
          pred,
          resolve: (e: WorkerEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          watchers.delete(w);
          reject(new Error(`worker ${child.pid}: no matching event in ${timeoutMs} ms`));
        }, timeoutMs);
        watchers.add(w);
      });
    },
    async stop() {
      if (exited) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

export async function spawnCacheWorkers(n: number): Promise<CacheWorker[]> {
  return Promise.all(Array.from({ length: n }, () => spawnCacheWorker()));
}
