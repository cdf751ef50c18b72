/**
 * Spawns cache-worker.ts processes (separate Node processes, each its own cache instance), driven over IPC
 * (ipc-worker.ts). Always stop them in a `finally`/`after`.
 */
import { fileURLToPath } from 'node:url';
import { spawnIpcWorker, type IpcWorker } from './ipc-worker.js';

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

/** `pushed`: everything the worker pushed so far (cache diagnostics events, unhandled rejections). */
export type CacheWorker = IpcWorker<WorkerEvent>;

export function spawnCacheWorker(): Promise<CacheWorker> {
  return spawnIpcWorker<WorkerEvent>(WORKER, 'cache worker', {
    decorate: (m, index) => {
      m.receivedAt = performance.timeOrigin + performance.now();
      m.index = index;
    },
  });
}

export async function spawnCacheWorkers(n: number): Promise<CacheWorker[]> {
  return Promise.all(Array.from({ length: n }, () => spawnCacheWorker()));
}
