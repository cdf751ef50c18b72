/**
 * Spawns events-worker.ts processes (each one app instance with its own event bus and HTTP server) and talks to
 * them over IPC. `stop()` disconnects, then SIGKILLs a worker still alive after 5 s; always call it in `after`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./events-worker.ts', import.meta.url));

export interface PushedEvent {
  type: 'event' | 'unhandled';
  event?: Record<string, unknown>;
  reason?: string;
}

export interface EventsWorker {
  pid: number;
  child: ChildProcess;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  pushed: PushedEvent[];
  waitFor(pred: (e: PushedEvent) => boolean, timeoutMs?: number): Promise<PushedEvent>;
  stop(): Promise<void>;
}

export async function spawnEventsWorker(): Promise<EventsWorker> {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const pushed: PushedEvent[] = [];
  const watchers = new Set<(e: PushedEvent) => void>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`worker ${child.pid} exited (${signal ?? `code ${code}`})`));
      pending.clear();
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('events worker did not start in 15 s')), 15_000);
    child.once('error', reject);
    child.on('message', (raw) => {
      const m = raw as Omit<PushedEvent, 'type'> & { type?: string; id?: number; ok?: boolean; value?: unknown; undef?: boolean; error?: string; code?: string };
      if (m.type === 'up') {
        clearTimeout(timer);
        return resolve();
      }
      if (m.type === 'event' || m.type === 'unhandled') {
        pushed.push(m as PushedEvent);
        for (const w of [...watchers]) w(m as PushedEvent);
        return;
      }
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p) return;
      pending.delete(m.id!);
      if (m.ok) p.resolve(m.undef ? undefined : m.value);
      else p.reject(Object.assign(new Error(m.error ?? 'worker error'), { code: m.code }));
    });
  });
  return {
    pid: child.pid!,
    child,
    pushed,
    call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      if (exited) return Promise.reject(new Error(`worker ${child.pid} is gone`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args });
      });
    },
    waitFor(pred, timeoutMs = 10_000) {
      const seen = pushed.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = (e: PushedEvent): void => {
          if (!pred(e)) return;
          clearTimeout(timer);
          watchers.delete(w);
          resolve(e);
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
