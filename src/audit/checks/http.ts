/**
 * What an onion visitor sees from the balancer: headers that name software (headers), a forged circuit header
 * reflected back (circuit-header, response side), connections without tor's PROXY line (no-proxy-refused) and
 * inode-based ETags (etag-inode). Only what works for any app: the request is `GET /`.
 */
import type { OnionServiceModel } from '../../config/model.js';
import type { HttpHead } from '../http-probe.js';
import type { Part } from '../types.js';

/** Names of software or hops: every one helps an attacker pick an exploit or correlate the site with a clearnet one. */
const DISCLOSING = ['server', 'x-powered-by', 'via', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-generator'];

// The brief's pattern, bounded so random tokens (session IDs) that happen to contain "php" do not match.
const SOFTWARE = /(?<![A-Za-z0-9])(nginx|apache|haproxy|express|node\.?js|php|redis)(?![A-Za-z])\/?[\d.]*/i;

/** Session cookie names that are framework defaults: each names the software as clearly as a Server header. */
const FRAMEWORK_COOKIES = /^(PHPSESSID|JSESSIONID|connect\.sid|ASP\.NET_SessionId|laravel_session|ci_session|CFID|sessionid|_rails_session|rack\.session)$/i;

/** Values that are opaque tokens or dates: never software names, often random. */
const OPAQUE = new Set(['etag', 'date', 'last-modified', 'expires', 'content-length', 'age']);

export interface ProbeResult {
  service: OnionServiceModel;
  head?: HttpHead;
  error?: string;
}

function label(p: ProbeResult): string {
  return `onion ${p.service.name}`;
}

export function assessHeaders(p: ProbeResult): Part {
  if (!p.head) {
    return {
      level: 'warn',
      detail: `${label(p)}: no HTTP answer through the balancer (${p.error ?? 'not HTTP'})`,
      fix: 'Is the stack running and is the app answering? `onionscale status`, logs/haproxy.log.',
    };
  }
  const disclosing = p.head.headers.filter(([n]) => DISCLOSING.includes(n)).map(([n, v]) => `${n}: ${v}`);
  if (disclosing.length) {
    return {
      level: 'fail',
      detail: `${label(p)}: GET / answers with ${disclosing.join(', ')}`,
      fix: 'Remove these headers (the rendered haproxy.cfg deletes Server, X-Powered-By and Via; check that haproxy runs that file) and disable them in the app (Express: app.disable("x-powered-by")).',
    };
  }
  const named: string[] = [];
  for (const [n, v] of p.head.headers) {
    if (OPAQUE.has(n)) continue;
    if (n === 'set-cookie') {
      // A cookie's value is random; its name (PHPSESSID, connect.sid) is what tells.
      const cookie = (v.split('=')[0] ?? '').trim();
      if (FRAMEWORK_COOKIES.test(cookie) || SOFTWARE.test(cookie)) named.push(`set-cookie (${cookie})`);
      continue;
    }
    const m = SOFTWARE.exec(`${n}: ${v}`);
    if (m) named.push(`${n} (${m[0]})`);
  }
  if (named.length) {
    return {
      level: 'warn',
      detail: `${label(p)}: headers name software: ${named.join(', ')}`,
      fix: 'Rename or drop them in the app: software names and versions help fingerprint the server.',
    };
  }
  return { level: 'ok', detail: `${label(p)}: HTTP ${p.head.status}, ${p.head.headers.length} header(s), none names software` };
}

/** A forged circuit header must never come back: if the app echoes it, it received the client's value. */
export function assessCircuitEcho(p: ProbeResult, forged: string): Part {
  if (!p.head) return { level: 'warn', detail: `${label(p)}: no HTTP answer to check`, fix: 'Is the stack running? `onionscale status`.' };
  if (p.head.raw.includes(forged)) {
    return {
      level: 'fail',
      detail: `${label(p)}: the forged circuit value sent by the client came back in the response`,
      fix: 'haproxy must delete the circuit header a client sends before setting its own (http-request del-header, then set-header from %[src]).',
    };
  }
  return { level: 'ok', detail: `${label(p)}: forged value not reflected` };
}

export function assessNoProxy(p: ProbeResult): Part {
  if (p.head && p.head.status >= 200 && p.head.status < 400) {
    return {
      level: 'fail',
      detail: `${label(p)}: a connection without tor's PROXY line got HTTP ${p.head.status}`,
      fix: 'Bind the frontend with accept-proxy: without it a local process can forge any circuit identity and skip per-circuit limits.',
    };
  }
  const what = p.head ? `HTTP ${p.head.status}` : p.error ? `refused (${p.error})` : 'connection closed without an answer';
  return { level: 'ok', detail: `${label(p)}: ${what}` };
}

// Apache's default FileETag (INode MTime Size): "<inode hex>-<size hex>-<mtime hex>" (optionally W/ and -gzip).
const INODE_ETAG = /^(W\/)?"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+(-[a-z]+)?"$/i;

export function assessEtag(p: ProbeResult): Part {
  const etags = p.head?.headers.filter(([n]) => n === 'etag').map(([, v]) => v) ?? [];
  const inode = etags.filter((e) => INODE_ETAG.test(e));
  if (inode.length) {
    return {
      level: 'warn',
      detail: `${label(p)}: ETag ${inode.join(', ')} looks inode-based`,
      fix: 'Use content-hash ETags (Apache: FileETag MTime Size): an inode number identifies the file system, and the same file served on a clearnet mirror links the two.',
    };
  }
  return { level: 'ok', detail: `${label(p)}: ${etags.length ? `ETag ${etags.join(', ')}` : 'no ETag on /'}` };
}
