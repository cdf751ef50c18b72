/**
 * Spawns events-worker.ts processes (each one app instance with its own event bus and HTTP server) and talks to
 * them over IPC. `stop()` disconnects, then SIGKILLs a worker still alive after 5 s; always call it in `after`.
 */
import { fileURLToPath } from 'node:url';
import { spawnIpcWorker, type IpcWorker, type Pushed } from './ipc-worker.js';

const WORKER = fileURLToPath(new URL('./events-worker.ts', import.meta.url));

export type PushedEvent = Pushed;

export type EventsWorker = IpcWorker<PushedEvent>;

export function spawnEventsWorker(): Promise<EventsWorker> {
  return spawnIpcWorker<PushedEvent>(WORKER, 'events worker', { waitTimeoutMs: 10_000 });
}
