/**
 * `status` and `down` from another shell: they read `run/state.json` and act only on the processes it names, each
 * checked by PID and start time.
 */
import type { StackModel } from '../config/model.js';
import { OnionscaleError } from '../errors.js';
import { isAlive, signal, type ProcessRef } from './processes.js';
import { readState, removeState, type StackState } from './state-file.js';

export interface RemoteStatus {
  state: StackState;
  supervisorAlive: boolean;
}

export function remoteStatus(model: StackModel): RemoteStatus | undefined {
  const state = readState(model.paths.stateFile);
  return state ? { state, supervisorAlive: isAlive(state.supervisor) } : undefined;
}

async function waitGone(refs: ProcessRef[], timeoutMs: number): Promise<ProcessRef[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = refs.filter((r) => isAlive(r));
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Ask the supervisor to stop (it stops its services in reverse order) and wait. If the supervisor is gone but
 * services it started are still alive (it was SIGKILLed), stop those directly: SIGTERM, then SIGKILL.
 */
export async function remoteDown(model: StackModel, print: (line: string) => void = () => {}): Promise<'stopped' | 'not-running'> {
  const state = readState(model.paths.stateFile);
  if (!state) throw new OnionscaleError('OSC_ERR_STACK_NOT_RUNNING', `no stack is running from ${model.paths.root}`);
  const children = state.services.flatMap((s) => (s.pid !== undefined && s.startTime !== undefined ? [{ pid: s.pid, startTime: s.startTime }] : []));
  let result: 'stopped' | 'not-running' = 'not-running';
  if (isAlive(state.supervisor)) {
    print(`stopping supervisor pid ${state.supervisor.pid} …`);
    signal(state.supervisor, 'SIGTERM');
    const left = await waitGone([state.supervisor], 60_000);
    if (left.length > 0) {
      print('supervisor did not stop in 60 s; killing it');
      signal(state.supervisor, 'SIGKILL');
    }
    result = 'stopped';
  }
  let left = await waitGone(children, result === 'stopped' ? 2000 : 0);
  if (left.length > 0) {
    print(`stopping ${left.length} leftover process(es): ${left.map((r) => r.pid).join(', ')}`);
    for (const r of left) signal(r, 'SIGTERM');
    left = await waitGone(left, 10_000);
    for (const r of left) signal(r, 'SIGKILL');
    await waitGone(left, 5000);
    result = 'stopped';
  }
  removeState(model.paths.stateFile);
  return result;
}
