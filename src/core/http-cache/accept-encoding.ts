/**
 * Picks the content coding for a client from the codings an entry holds (RFC 9110 §12.5.3). Never throws: a
 * malformed member is ignored, as if the client had not sent it.
 */
import type { Encoding } from './types.js';

export type Chosen = Encoding | 'identity';

// Headers are at most a few KB (node caps them at 16 KB); bounding the work keeps a hostile header cheap anyway.
const MAX_MEMBERS = 32;
const Q_RE = /^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/i;

/** Quality per coding as the client sent it; `*` included. Absent header → empty map. */
export function parseAcceptEncoding(header: string | readonly string[] | undefined): Map<string, number> {
  const q = new Map<string, number>();
  if (header === undefined) return q;
  const text = typeof header === 'string' ? header : header.join(',');
  const members = text.split(',', MAX_MEMBERS);
  for (const member of members) {
    const [rawName, ...params] = member.split(';');
    const name = rawName?.trim().toLowerCase();
    if (!name || !/^[a-z0-9*_.+-]+$/.test(name)) continue;
    let quality = 1;
    let ok = true;
    for (const p of params) {
      const m = Q_RE.exec(p.trim());
      if (m) quality = Number(m[1]);
      else if (/^q=/i.test(p.trim())) ok = false; // a broken q-value: ignore the member rather than guess
    }
    if (!ok) continue;
    // Keep the first occurrence, as most servers do.
    if (!q.has(name)) q.set(name, quality);
  }
  return q;
}

/**
 * The best coding among `available` (in server preference order) for this client, or identity.
 *
 * Deliberate choices: no header means identity (curl and scripts that send none get plain bytes, even though the
 * RFC would allow any coding); identity is always the fallback, even when the client marked it `q=0`, because a
 * readable 200 beats a 406 for a page we hold.
 */
export function chooseEncoding(header: string | readonly string[] | undefined, available: readonly Encoding[]): Chosen {
  if (available.length === 0) return 'identity';
  const q = parseAcceptEncoding(header);
  if (q.size === 0) return 'identity';
  const star = q.get('*');
  // Unlisted identity ranks with the least preferred listed coding (negotiator does the same), so
  // `gzip;q=0.5` still means "gzip please", while `identity, gzip;q=0.5` prefers plain bytes.
  const identityQ = q.get('identity') ?? star ?? Math.min(...q.values());
  let best: Chosen = 'identity';
  let bestQ = 0;
  for (const enc of available) {
    const quality = q.get(enc) ?? (enc === 'gzip' ? q.get('x-gzip') : undefined) ?? star ?? 0;
    if (quality > bestQ) {
      best = enc;
      bestQ = quality;
    }
  }
  return bestQ > 0 && bestQ >= identityQ ? best : 'identity';
}
