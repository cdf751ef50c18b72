/** A fake /proc for audit unit tests (not shipped: *.fixture.ts is excluded from the build). */
import type { ProcReader } from './proc.js';

export interface FakeProcess {
  pid: number;
  ppid?: number;
  startTime: number;
  comm?: string;
  /** fd number → link target, e.g. `socket:[1234]` or `/dev/null`; `null`: the fd directory is unreadable. */
  fds?: Record<string, string> | null;
}

/** /proc/<pid>/stat text: fields after the command name, state first, start time at index 19. */
export function statLine(p: FakeProcess): string {
  const rest = ['S', String(p.ppid ?? 1), ...Array<string>(17).fill('0'), String(p.startTime), '0'];
  return `${p.pid} (${p.comm ?? 'node'}) ${rest.join(' ')}\n`;
}

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** One row of /proc/net/tcp{,6}: addresses as the kernel prints them (hex, host byte order per 32-bit word). */
export function tcpRow(sl: number, local: string, remote: string, state: string, inode: number): string {
  return `  ${sl}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;
}

export function fakeProc(processes: FakeProcess[], tcp: string[] = [], tcp6: string[] = []): ProcReader {
  const files = new Map<string, string>([
    ['/proc/net/tcp', HEADER + tcp.join('')],
    ['/proc/net/tcp6', HEADER + tcp6.join('')],
  ]);
  const links = new Map<string, string>();
  const dirs = new Map<string, string[]>([['/proc', processes.map((p) => String(p.pid))]]);
  for (const p of processes) {
    files.set(`/proc/${p.pid}/stat`, statLine(p));
    if (p.fds === null) continue;
    const fds = p.fds ?? {};
    dirs.set(`/proc/${p.pid}/fd`, Object.keys(fds));
    for (const [fd, target] of Object.entries(fds)) links.set(`/proc/${p.pid}/fd/${fd}`, target);
  }
  return {
    readFile: (path) => files.get(path),
    readdir: (path) => dirs.get(path),
    readlink: (path) => links.get(path),
  };
}
