/**
 * listen-public and tor-egress: the TCP sockets of the stack's own processes (state PIDs verified by start time,
 * plus descendants), found by matching their fd socket inodes against the kernel's tables.
 */
import type { StackModel } from '../../config/model.js';
import type { ProcReader, StackProcess, StackProcesses } from '../proc.js';
import { socketInodes } from '../proc.js';
import { describeEndpoint, isLoopback, type TcpSocket } from '../tcp-table.js';
import { finding, type Finding } from '../types.js';

export interface ProcessSockets {
  process: StackProcess;
  sockets: TcpSocket[];
}

export interface SocketView {
  owned: ProcessSockets[];
  /** Processes whose fds could not be read (permissions, or they exited meanwhile). */
  unreadable: StackProcess[];
  stale: string[];
}

export function socketView(procs: StackProcesses, table: readonly TcpSocket[], proc: ProcReader): SocketView {
  const byInode = new Map<number, TcpSocket[]>();
  for (const s of table) byInode.set(s.inode, [...(byInode.get(s.inode) ?? []), s]);
  const owned: ProcessSockets[] = [];
  const unreadable: StackProcess[] = [];
  for (const p of procs.processes) {
    const inodes = socketInodes(p.pid, proc);
    if (!inodes) {
      unreadable.push(p);
      continue;
    }
    owned.push({ process: p, sockets: [...inodes].flatMap((i) => byInode.get(i) ?? []) });
  }
  return { owned, unreadable, stale: procs.stale };
}

const who = (p: StackProcess) => `${p.service}${p.child ? ' child' : ''} (pid ${p.pid})`;

function caveats(v: SocketView): string {
  const parts: string[] = [];
  if (v.unreadable.length) parts.push(`could not read the sockets of ${v.unreadable.map(who).join(', ')}`);
  if (v.stale.length) parts.push(`not running: ${v.stale.join(', ')}`);
  return parts.length ? `; ${parts.join('; ')}` : '';
}

const LISTEN_TITLE = 'nothing of the stack listens beyond loopback';

export function checkListenPublic(view: SocketView | undefined): Finding {
  const id = 'listen-public';
  if (!view) return finding(id, 'warn', LISTEN_TITLE, 'skipped: the stack is not running', 'Start it with `onionscale up`, then audit again.');
  const bad: string[] = [];
  let count = 0;
  for (const { process, sockets } of view.owned) {
    for (const s of sockets) {
      if (s.state !== 'LISTEN') continue;
      count++;
      if (!isLoopback(s.local)) bad.push(`${who(process)} listens on ${describeEndpoint(s.local)}`);
    }
  }
  if (bad.length) {
    return finding(
      id,
      'fail',
      LISTEN_TITLE,
      bad.join('; ') + caveats(view),
      'Bind every service to 127.0.0.1, ::1 or a unix socket: anything on 0.0.0.0 or a public address can reveal the server behind the onion.',
    );
  }
  const level = view.unreadable.length || view.owned.length === 0 ? 'warn' : 'ok';
  return finding(
    id,
    level,
    LISTEN_TITLE,
    `${view.owned.length} process(es), ${count} listening TCP socket(s), all on loopback${caveats(view)}`,
    'Run the audit as the user that runs the stack so it can read /proc/<pid>/fd.',
  );
}

const EGRESS_TITLE = 'apps reach the network only through Tor';

export function checkTorEgress(model: StackModel, view: SocketView | undefined): Finding {
  const id = 'tor-egress';
  const socks =
    model.tor.socksPort === undefined
      ? 'no SocksPort: apps have no Tor egress (set tor.socksPort if they must fetch anything)'
      : `apps can fetch through Tor at socks5h://127.0.0.1:${model.tor.socksPort} ($ONIONSCALE_TOR_SOCKS)`;
  if (!view) return finding(id, 'warn', EGRESS_TITLE, `${socks}; connections not checked: the stack is not running`, 'Start it with `onionscale up`, then audit again.');
  const bad: string[] = [];
  for (const { process, sockets } of view.owned) {
    // tor's own connections to relays are the point of tor.
    if (process.kind === 'tor') continue;
    // A connection accepted on one of the process's own listening ports is inbound (listen-public's business).
    const listening = new Set(sockets.filter((s) => s.state === 'LISTEN').map((s) => s.local.port));
    for (const s of sockets) {
      if (s.state === 'ESTABLISHED' && !isLoopback(s.remote) && !listening.has(s.local.port)) bad.push(`${who(process)} → ${describeEndpoint(s.remote)}`);
    }
  }
  if (bad.length) {
    return finding(
      id,
      'warn',
      EGRESS_TITLE,
      `outbound connections that bypass Tor: ${bad.join('; ')}; ${socks}`,
      'Send outbound requests through the SocksPort (tor.socksPort, socks5h so names resolve inside Tor): a direct connection reveals the server\'s address to whoever it talks to.',
    );
  }
  return finding(id, view.unreadable.length ? 'warn' : 'ok', EGRESS_TITLE, `no direct outbound connection; ${socks}${caveats(view)}`, 'Run the audit as the user that runs the stack so it can read /proc/<pid>/fd.');
}
