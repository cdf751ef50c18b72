/**
 * The kernel's TCP socket tables (/proc/net/tcp and tcp6) parsed into addresses, states and socket inodes.
 * The tables are per network namespace: read them from the audit's own namespace (the stack's), and tie rows to
 * processes through the socket inodes in /proc/<pid>/fd.
 */
import { BlockList, SocketAddress } from 'node:net';
import { endianness } from 'node:os';
import { realProc, type ProcReader } from './proc.js';

export type TcpState = 'LISTEN' | 'ESTABLISHED' | 'OTHER';

export interface TcpEndpoint {
  family: 'ipv4' | 'ipv6';
  address: string;
  port: number;
}

export interface TcpSocket {
  local: TcpEndpoint;
  remote: TcpEndpoint;
  state: TcpState;
  inode: number;
}

// include/net/tcp_states.h: TCP_ESTABLISHED = 1, TCP_LISTEN = 10.
const STATES: Record<string, TcpState> = { '01': 'ESTABLISHED', '0A': 'LISTEN' };

/**
 * The kernel prints each 32-bit word of the address in host byte order: on little-endian machines every word's
 * bytes are reversed relative to network order.
 */
function decodeAddress(hex: string, littleEndian: boolean): { family: 'ipv4' | 'ipv6'; address: string } | undefined {
  if (!/^[0-9A-Fa-f]+$/.test(hex) || (hex.length !== 8 && hex.length !== 32)) return undefined;
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  if (bytes.length === 4) return { family: 'ipv4', address: bytes.join('.') };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // SocketAddress canonicalizes (::1, ::ffff:127.0.0.1) so addresses read the way people write them.
  return { family: 'ipv6', address: new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address };
}

function endpoint(field: string, littleEndian: boolean): TcpEndpoint | undefined {
  const [addrHex = '', portHex = ''] = field.split(':');
  const addr = decodeAddress(addrHex, littleEndian);
  const port = parseInt(portHex, 16);
  return addr && Number.isInteger(port) ? { ...addr, port } : undefined;
}

/** Rows of one table; malformed rows are skipped (the header line among them). */
export function parseTcpTable(text: string, littleEndian = endianness() === 'LE'): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0] ?? '')) continue;
    const local = endpoint(f[1] ?? '', littleEndian);
    const remote = endpoint(f[2] ?? '', littleEndian);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isInteger(inode)) continue;
    out.push({ local, remote, state: STATES[(f[3] ?? '').toUpperCase()] ?? 'OTHER', inode });
  }
  return out;
}

/** Both tables of the current network namespace. */
export function readTcpSockets(proc: ProcReader = realProc, littleEndian = endianness() === 'LE'): TcpSocket[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => parseTcpTable(proc.readFile(file) ?? '', littleEndian));
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
// A v6 socket bound to ::ffff:127.x is loopback too (dual-stack sockets show v4 peers this way).
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

export function isLoopback(e: Pick<TcpEndpoint, 'family' | 'address'>): boolean {
  return LOOPBACK.check(e.address, e.family);
}

export function describeEndpoint(e: TcpEndpoint): string {
  return e.family === 'ipv6' ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
