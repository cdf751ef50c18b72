/**
 * What the audit reads from /proc, behind a small reader interface so checks are unit-tested with fake /proc text.
 * Sync on purpose: /proc files are generated in memory and tiny.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { StackState } from '../supervisor/state-file.js';

export interface ProcReader {
  /** File text, or undefined when it does not exist or cannot be read. */
  readFile(path: string): string | undefined;
  /** Entry names, or undefined when the directory cannot be read (missing, or permission denied). */
  readdir(path: string): string[] | undefined;
  /** Link target, or undefined. */
  readlink(path: string): string | undefined;
}

export const realProc: ProcReader = {
  readFile: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  readdir: (path) => {
    try {
      return readdirSync(path);
    } catch {
      return undefined;
    }
  },
  readlink: (path) => {
    try {
      return readlinkSync(path);
    } catch {
      return undefined;
    }
  },
};

interface Stat {
  ppid: number;
  startTime: number;
}

/** Fields of /proc/<pid>/stat we need. The command name may contain spaces and ')': split after the last ')'. */
export function parseStat(text: string): Stat | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const startTime = Number(fields[19]);
  return Number.isInteger(ppid) && Number.isInteger(startTime) && fields[0] !== 'Z' ? { ppid, startTime } : undefined;
}

/** A process of the stack: the service it belongs to, and whether it is the service itself or a child. */
export interface StackProcess {
  pid: number;
  service: string;
  kind: string;
  child: boolean;
}

export interface StackProcesses {
  processes: StackProcess[];
  /** Services named in the state whose PID is gone or reused (start time differs). */
  stale: string[];
}

/**
 * The live processes of the stack: every service PID in the state whose start time still matches (PIDs are reused,
 * a bare PID proves nothing), plus their descendants (an app may fork workers that listen or connect too).
 */
export function stackProcesses(state: StackState, proc: ProcReader = realProc): StackProcesses {
  const processes: StackProcess[] = [];
  const stale: string[] = [];
  for (const s of state.services) {
    if (s.pid === undefined || s.startTime === undefined) continue;
    const text = proc.readFile(`/proc/${s.pid}/stat`);
    const st = text === undefined ? undefined : parseStat(text);
    if (st?.startTime === s.startTime) processes.push({ pid: s.pid, service: s.name, kind: s.kind, child: false });
    else stale.push(s.name);
  }
  if (processes.length === 0) return { processes, stale };
  const children = new Map<number, number[]>();
  for (const name of proc.readdir('/proc') ?? []) {
    if (!/^\d+$/.test(name)) continue;
    const text = proc.readFile(`/proc/${name}/stat`);
    const st = text === undefined ? undefined : parseStat(text);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const seen = new Set(processes.map((p) => p.pid));
  const queue = [...processes];
  for (let p = queue.shift(); p; p = queue.shift()) {
    for (const pid of children.get(p.pid) ?? []) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      const c = { pid, service: p.service, kind: p.kind, child: true };
      processes.push(c);
      queue.push(c);
    }
  }
  return { processes, stale };
}

/** Inodes of the sockets a process holds open (`/proc/<pid>/fd/N -> socket:[inode]`). */
export function socketInodes(pid: number, proc: ProcReader = realProc): Set<number> | undefined {
  // Unreadable (another user's process, or it exited): unknown, never "no sockets".
  const fds = proc.readdir(`/proc/${pid}/fd`);
  if (!fds) return undefined;
  const out = new Set<number>();
  for (const fd of fds) {
    const m = /^socket:\[(\d+)\]$/.exec(proc.readlink(`/proc/${pid}/fd/${fd}`) ?? '');
    if (m) out.add(Number(m[1]));
  }
  return out;
}
