/**
 * Facts about processes by PID, read from /proc, so `down` and `status` from another shell act only on processes
 * this stack started: a PID is trusted only together with its start time (PIDs are reused).
 */
import { readFileSync } from 'node:fs';

/** Start time of a process in clock ticks since boot, or `undefined` if it does not exist. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcessRef {
  pid: number;
  startTime: number;
}

export function refOf(pid: number | undefined): ProcessRef | undefined {
  if (pid === undefined) return undefined;
  const startTime = processStartTime(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** True when a process with this PID exists and is not a zombie (any process: see `isAlive` for ours). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** True when the very process referenced (same PID and start time) is still alive and not a zombie. */
export function isAlive(ref: ProcessRef | undefined): boolean {
  return ref !== undefined && processStartTime(ref.pid) === ref.startTime && isRunning(ref.pid);
}

export function signal(ref: ProcessRef, sig: NodeJS.Signals): boolean {
  if (!isAlive(ref)) return false;
  try {
    process.kill(ref.pid, sig);
    return true;
  } catch {
    return false;
  }
}
