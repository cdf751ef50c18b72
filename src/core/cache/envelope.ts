/**
 * The L2 entry format: `<expiresAt>:<staleUntil>:<payload>` with absolute ms timestamps. Another instance reading
 * the entry needs both to know whether it is fresh or only servable as stale, and a prefix costs no JSON work on
 * the payload. (Instances share one host, so their clocks agree.)
 */
export interface Envelope {
  expiresAt: number;
  staleUntil: number;
  payload: string;
}

export function encodeEnvelope(expiresAt: number, staleUntil: number, payload: string): string {
  return `${expiresAt}:${staleUntil}:${payload}`;
}

/** `undefined` for anything that is not an envelope (a foreign or corrupted value under our prefix). */
export function decodeEnvelope(raw: string): Envelope | undefined {
  const a = raw.indexOf(':');
  if (a <= 0) return undefined;
  const b = raw.indexOf(':', a + 1);
  if (b <= a + 1) return undefined;
  const expiresAt = Number(raw.slice(0, a));
  const staleUntil = Number(raw.slice(a + 1, b));
  if (!Number.isFinite(expiresAt) || !Number.isFinite(staleUntil)) return undefined;
  return { expiresAt, staleUntil, payload: raw.slice(b + 1) };
}
