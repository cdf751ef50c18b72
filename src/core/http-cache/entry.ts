/**
 * The stored form of a response. Backends only promise JSON, so bodies travel as base64 and headers as pairs.
 * Whatever comes back from a store is checked before use: a corrupt or foreign value is a miss, never a crash.
 */
import type { Bodies } from './compress.js';
import type { OutgoingHeaders } from './types.js';

export interface StoredEntry {
  v: 1;
  status: number;
  /** Lower-case name, value; repeated names repeat. */
  headers: [string, string][];
  /** Hash of the identity body; the ETags of every coding derive from it. */
  hash: string;
  /** Epoch milliseconds, for `Age`. */
  storedAt: number;
  /** Identity body length in bytes. */
  length: number;
  bodies: { identity?: string; br?: string; gzip?: string };
}

// Recomputed per response (framing, validators, our own markers) or never replayed (cookies, hop-by-hop fields).
const DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'content-encoding',
  'etag',
  'set-cookie',
  'date',
  'age',
  'vary',
]);

export function storableHeaders(headers: OutgoingHeaders, statusHeader: string | null): [string, string][] {
  const out: [string, string][] = [];
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || DROP.has(name) || name === statusHeader) continue;
    if (typeof value === 'string') out.push([name, value]);
    else if (typeof value === 'number') out.push([name, String(value)]);
    else for (const v of value) out.push([name, v]);
  }
  return out;
}

export function encodeBodies(bodies: Bodies): StoredEntry['bodies'] {
  const out: StoredEntry['bodies'] = {};
  if (bodies.identity) out.identity = bodies.identity.toString('base64');
  if (bodies.br) out.br = bodies.br.toString('base64');
  if (bodies.gzip) out.gzip = bodies.gzip.toString('base64');
  return out;
}

/**
 * Bodies decoded on first access only: a hit sends one coding, so decoding the other base64 strings would be
 * wasted work on the hottest path. Only present codings get a property, so `'br' in bodies` decodes nothing.
 */
export function decodeBodies(bodies: StoredEntry['bodies']): Bodies {
  const out: Bodies = {};
  for (const enc of ['identity', 'br', 'gzip'] as const) {
    const text = bodies[enc];
    if (text === undefined) continue;
    let buf: Buffer | undefined;
    Object.defineProperty(out, enc, { enumerable: true, get: () => (buf ??= Buffer.from(text, 'base64')) });
  }
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entry, if `value` is one; `undefined` otherwise. */
export function asEntry(value: unknown): StoredEntry | undefined {
  if (!isObj(value) || value.v !== 1) return undefined;
  const { status, headers, hash, storedAt, length, bodies } = value;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if (typeof hash !== 'string' || !/^[\w-]{1,64}$/.test(hash)) return undefined;
  if (typeof storedAt !== 'number' || typeof length !== 'number') return undefined;
  if (!Array.isArray(headers)) return undefined;
  for (const h of headers as unknown[]) {
    // A header value with CR/LF would be refused by node anyway; refusing the entry keeps the reason obvious.
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') return undefined;
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(h[0]) || /[\r\n\0]/.test(h[1])) return undefined;
  }
  if (!isObj(bodies)) return undefined;
  let any = false;
  for (const k of ['identity', 'br', 'gzip'] as const) {
    const b = bodies[k];
    if (b === undefined) continue;
    if (typeof b !== 'string') return undefined;
    any = true;
  }
  if (!any) return undefined;
  return value as unknown as StoredEntry;
}
