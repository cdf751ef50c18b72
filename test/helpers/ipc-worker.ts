/**
 * A test worker process (a .ts file run with tsx) driven over IPC: `call(op, args)` → the worker's reply, pushed
 * messages (`{ type: 'event' | 'unhandled', … }`) collected in `pushed`, `waitFor(pred)` for one of them. The worker
 * side is `serveIpc(handlers)`. `stop()` disconnects, then SIGKILLs a worker still alive after 5 s; always call it.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface Pushed {
  type: 'event' | 'unhandled';
  event?: Record<string, unknown>;
  reason?: string;
}

export interface IpcWorker<E extends Pushed> {
  pid: number;
  child: ChildProcess;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Everything pushed by the worker so far. */
  pushed: E[];
  /** Resolves with the first pushed message (already seen or future) matching `pred`, or rejects after `timeoutMs`. */
  waitFor(pred: (e: E) => boolean, timeoutMs?: number): Promise<E>;
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

export interface IpcWorkerOptions<E> {
  /** Adds fields to each pushed message as it arrives (e.g. the parent's receive time). */
  decorate?: (m: E, index: number) => void;
  /** `waitFor`'s default timeout (default 5 s). */
  waitTimeoutMs?: number;
}

export async function spawnIpcWorker<E extends Pushed>(script: string, name: string, options: IpcWorkerOptions<E> = {}): Promise<IpcWorker<E>> {
  const { decorate, waitTimeoutMs = 5000 } = options;
  const child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const pushed: E[] = [];
  const watchers = new Set<(e: E) => void>();
  let nextId = 1;
  let exitReason: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitReason = `${name} ${child.pid} exited (${signal ?? `code ${code}`})`;
      for (const p of pending.values()) p.reject(new Error(exitReason));
      pending.clear();
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 15 s`)), 15_000);
    child.once('error', reject);
    child.on('message', (raw) => {
      const m = raw as Reply & Omit<E, 'type'>;
      if (m.type === 'up') {
        clearTimeout(timer);
        return resolve();
      }
      if (m.type === 'event' || m.type === 'unhandled') {
        const e = m as unknown as E;
        decorate?.(e, pushed.length);
        pushed.push(e);
        for (const w of [...watchers]) w(e);
        return;
      }
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p) return;
      pending.delete(m.id!);
      if (m.ok) p.resolve(m.undef ? undefined : m.value);
      else p.reject(Object.assign(new Error(m.error ?? `${name} error`), { code: m.code }));
    });
  });
  return {
    pid: child.pid!,
    child,
    pushed,
    call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      if (exitReason !== undefined) return Promise.reject(new Error(exitReason));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args });
      });
    },
    waitFor(pred, timeoutMs = waitTimeoutMs) {
      const seen = pushed.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise<E>((resolve, reject) => {
        const w = (e: E): void => {
          if (!pred(e)) return;
          clearTimeout(timer);
          watchers.delete(w);
          resolve(e);
        };
        const timer = setTimeout(() => {
          watchers.delete(w);
          reject(new Error(`${name} ${child.pid}: no matching event in ${timeoutMs} ms`));
        }, timeoutMs);
        watchers.add(w);
      });
    },
    async stop() {
      if (exitReason !== undefined) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}
