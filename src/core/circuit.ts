/**
 * The Tor circuit behind a request. With `HiddenServiceExportCircuitID haproxy`, tor opens every stream with
 * `PROXY TCP6 fc00:dead:beef:4dad::HHHH:LLLL ::1 <id & 0xffff> <virtport>`; haproxy puts that source address in a
 * request header (always overwriting what the client sent). The last 32 bits are tor's global circuit ID, unique per
 * tor process only. This is the only per-client identity an onion service has: every connection comes from loopback.
 */
import { isIPv6 } from 'node:net';
import { OnionscaleError } from '../errors.js';

const PREFIX_GROUPS = ['fc00', 'dead', 'beef', '4dad'];

/** Expand an IPv6 address into 8 numeric groups, or `undefined` if it is not one. */
function groups(addr: string): number[] | undefined {
  if (!isIPv6(addr) || addr.includes('.')) return undefined;
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  return [...h, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...t].map((g) => parseInt(g, 16));
}

/**
 * The circuit ID (0 … 2^32-1) in a circuit header value, or `undefined` when the header is absent.
 * Throws `OSC_ERR_CIRCUIT_HEADER` for a value that is present but is not a tor circuit address — behind the
 * balancer that means a misconfiguration, never a reason to crash.
 */
export function parseCircuitAddress(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const g = value.length <= 45 ? groups(value.trim().toLowerCase()) : undefined;
  if (!g || PREFIX_GROUPS.some((p, i) => g[i] !== parseInt(p, 16)) || g[4] !== 0 || g[5] !== 0) {
    throw new OnionscaleError('OSC_ERR_CIRCUIT_HEADER', `not a tor circuit address: ${JSON.stringify(value.slice(0, 64))}`);
  }
  return (g[6]! * 0x10000 + g[7]!) >>> 0;
}

/** Like `parseCircuitAddress` but never throws: malformed values count as "no circuit". */
export function circuitIdOf(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  try {
    return parseCircuitAddress(v);
  } catch {
    return undefined;
  }
}

/** The address haproxy derives for a circuit ID; used by tests and tools that speak PROXY like tor does. */
export function circuitAddress(id: number): string {
  return `fc00:dead:beef:4dad::${((id >>> 16) & 0xffff).toString(16)}:${(id & 0xffff).toString(16)}`;
}
