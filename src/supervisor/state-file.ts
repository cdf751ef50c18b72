/**
 * `run/state.json`: what a running supervisor tells other shells (`onionscale status`, `onionscale down`).
 * Written atomically (temp file + rename) so a reader never sees half a file.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ProcessRef } from './processes.js';

export type StackPhase = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface ServiceStatus {
  name: string;
  kind: 'redis' | 'app' | 'haproxy' | 'tor' | 'dashboard';
  state: string;
  pid?: number;
  startTime?: number;
  address?: string;
  restarts: number;
}

export interface OnionStatus {
  service: string;
  app: string;
  ports: readonly number[];
  hostname?: string;
  /** Descriptor uploads tor reported on its control port (HS_DESC UPLOADED / FAILED) since `up`. */
  descriptor?: { uploaded: number; failed: number; lastUploadAt?: string };
}

export interface TorStatus {
  network: 'public' | 'disabled' | 'testing';
  bootstrap: number;
  summary: string;
  reached: boolean;
}

export interface StackState {
  version: 1;
  phase: StackPhase;
  supervisor: ProcessRef;
  configFile: string;
  stateDir: string;
  startedAt: string;
  services: ServiceStatus[];
  onions: OnionStatus[];
  tor: TorStatus;
  error?: string;
}

export function writeState(path: string, state: StackState): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function readState(path: string): StackState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as StackState;
    return s.version === 1 && typeof s.supervisor?.pid === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

export function removeState(path: string): void {
  rmSync(path, { force: true });
}
