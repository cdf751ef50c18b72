/**
 * `<dir>/testnet.json`: what a running testnet tells other commands (`testnet status|down`, `up` of a stack with
 * `tor.network: testnet`). Every process is recorded by PID together with its start time (PIDs are reused), so
 * `down` only ever signals the processes this testnet started. Written atomically (temp file + rename).
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, type ProcessRef } from '../supervisor/processes.js';

export const STATE_FILE = 'testnet.json';

export type NodeRole = 'authority' | 'relay' | 'client' | 'proxy';

export interface NodeState {
  name: string;
  role: NodeRole;
  pid: number;
  /** Clock ticks since boot (from /proc): with the PID, identifies the process. */
  startTime: number;
  dataDir?: string;
  /** The node's notice log. */
  log: string;
  /** The port the relay listens on. */
  orPort?: number;
  /** The port it advertises (the latency proxy's when latency is on, else `orPort`). */
  advertisedOrPort?: number;
  dirPort?: number;
}

export interface TestnetState {
  version: 1;
  dir: string;
  createdAt: string;
  /** `starting` while `up` waits (nodes are recorded from the first launch on), `ready` once it returned. */
  phase: 'starting' | 'ready';
  /** One-way delay per link and direction (0 = off). */
  latencyMs: number;
  /** The text after `DirAuthority`, one per authority: what a joining tor needs. */
  dirAuthorityLines: string[];
  socksPort: number;
  controlPort: number;
  controlCookieFile: string;
  /** Exit with this process (tor's `__OwningControllerProcess`), when set. */
  ownerPid?: number;
  nodes: NodeState[];
  /** ms: keys, consensus / client / reachable (from launching the relays). */
  timings: { keys: number; consensus: number; client: number; reachable?: number };
  /** What `up` waited for: an onion round trip through the client (`onion`) or only bootstrap (`bootstrap`). */
  readiness: 'onion' | 'bootstrap';
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export function writeTestnetState(dir: string, state: TestnetState): void {
  const file = statePath(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** The state, or `undefined` when there is none (or it is unreadable: a half-removed directory). */
export function readTestnetState(dir: string): TestnetState | undefined {
  try {
    const s = JSON.parse(readFileSync(statePath(dir), 'utf8')) as TestnetState;
    return s.version === 1 && Array.isArray(s.nodes) ? s : undefined;
  } catch {
    return undefined;
  }
}

export function removeTestnetState(dir: string): void {
  rmSync(statePath(dir), { force: true });
}

export const refOfNode = (n: NodeState): ProcessRef => ({ pid: n.pid, startTime: n.startTime });

/** Nodes whose recorded process (PID + start time) is still alive. */
export function aliveNodes(state: TestnetState): NodeState[] {
  return state.nodes.filter((n) => isAlive(refOfNode(n)));
}
