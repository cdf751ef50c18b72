/**
 * Doctor's live probes through the onion frontend, sent as tor sends them (PROXY line first):
 *
 * - error-pages: a malformed request (haproxy answers 400 itself) and a path that does not exist (the app answers)
 *   must not come back as a stock page (haproxy's, nginx's, Express's "Cannot GET", a stack trace) nor name a
 *   software version anywhere in headers or body. Stock pages fingerprint the software as well as a Server header.
 * - admin-reachable: admin, stats and dashboard pages are not served through the onion frontend. Behind tor every
 *   visitor is 127.0.0.1, so a page "for localhost only" is a page for everybody.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { OnionServiceModel, StackModel } from '../../config/model.js';
import { exchange, parseHead, proxyLine } from '../http-probe.js';
import { combine, type Finding, type Part } from '../types.js';

export interface PageProbe {
  service: OnionServiceModel;
  what: string;
  path: string;
  status?: number;
  /** Whole answer (head and body), latin1. */
  raw: string;
  error?: string;
}

/** Text of stock error pages and debug output: each names its software as clearly as a Server header. */
const STOCK: [RegExp, string][] = [
  [/Your browser sent an invalid request|No server is available to handle this request|Request forbidden by administrative rules|The server didn't respond in time|An internal error occurred\. Please retry/i, "haproxy's stock error page"],
  [/<center>(nginx|openresty)|<hr><center>/i, "nginx's stock error page"],
  [/<address>Apache|Apache Tomcat|Whitelabel Error Page/i, 'an Apache/Tomcat/Spring stock page'],
  [/Cannot (GET|POST|HEAD) \//, "Express's default 404 page"],
  [/"message":"Route \w+:\S+ not found"/, "Fastify's default 404"],
  [/Traceback \(most recent call last\)|Werkzeug|at [\w.<>]+ \(\/[^)]*:\d+:\d+\)|node_modules\//, 'a stack trace or debugger page'],
];

/** A software name followed by a version: `nginx/1.25.3`, `Express 4.18`, `PHP/8.2.1`. */
const VERSIONED = /\b(nginx|apache|haproxy|express|node(?:\.js)?|php|openresty|lighttpd|caddy|gunicorn|uvicorn|werkzeug|tomcat|jetty|redis|tor)[/ ]v?\d+(\.\d+)+/i;

export function assessErrorPage(p: PageProbe): Part {
  const label = `onion ${p.service.name} ${p.what}`;
  if (p.status === undefined) {
    // A malformed request may just be closed: that shows nothing.
    return p.what === 'malformed request'
      ? { level: 'ok', detail: `${label}: connection closed without a page` }
      : { level: 'warn', detail: `${label}: no HTTP answer (${p.error ?? 'closed'})`, fix: 'Is the stack running and the app answering? `onionscale status`.' };
  }
  const stock = STOCK.find(([re]) => re.test(p.raw));
  if (stock) {
    return {
      level: 'fail',
      detail: `${label}: HTTP ${p.status} is ${stock[1]}`,
      fix: 'Serve your own error pages: haproxy errorfile (onionscale renders them into run/errors/), and a 404/500 handler in the app that prints no stack trace.',
    };
  }
  const version = VERSIONED.exec(p.raw);
  if (version) {
    return { level: 'fail', detail: `${label}: HTTP ${p.status} names "${version[0]}"`, fix: 'Remove software names and versions from error pages and headers.' };
  }
  return { level: 'ok', detail: `${label}: HTTP ${p.status}, own page` };
}

/** Pages that give away the server or let a visitor operate it; [path, signature of the real thing]. */
export const ADMIN_PATHS: readonly [string, RegExp][] = [
  ['/haproxy?stats', /Statistics Report for|HAProxy version/i],
  ['/stats', /Statistics Report for|HAProxy version|pxname,svname/i],
  ['/metrics', /^# (HELP|TYPE) /m],
  ['/server-status', /Apache Server Status|Server uptime|Scoreboard Key/i],
  ['/nginx_status', /Active connections:\s*\d+/],
  ['/debug/pprof/', /Types of profiles available/i],
  ['/dashboard', /onionscale|dashboard/i],
  ['/admin', /onionscale|haproxy|redis/i],
];

export function assessAdminPage(p: PageProbe, signature: RegExp): Part {
  const label = `onion ${p.service.name} GET ${p.path}`;
  if (p.status === undefined) return { level: 'ok', detail: `${label}: no answer` };
  const body = p.raw.slice(p.raw.indexOf('\r\n\r\n') + 4);
  if (p.status >= 200 && p.status < 300 && signature.test(body)) {
    return {
      level: 'fail',
      detail: `${label}: HTTP ${p.status} serves an admin/stats page`,
      fix: 'Do not route admin, stats or dashboard pages through the onion frontend: every tor visitor arrives from 127.0.0.1. Serve the dashboard on its own unix socket and reach it over SSH.',
    };
  }
  return { level: 'ok', detail: `${label}: HTTP ${p.status}` };
}

async function probe(service: OnionServiceModel, what: string, path: string, request: string, timeoutMs: number): Promise<PageProbe> {
  const r = await exchange(service.listen, proxyLine(randomInt(1, 0xffffffff), service.ports[0] ?? 80) + request, timeoutMs);
  const head = parseHead(r.data);
  return { service, what, path, raw: r.data, ...(head ? { status: head.status } : {}), ...('error' in r ? { error: r.error } : {}) };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: doctor.onion\r\nUser-Agent: onionscale-doctor\r\nConnection: close\r\n\r\n`;

export async function probePages(model: StackModel, timeoutMs: number): Promise<{ errors: PageProbe[]; admin: [PageProbe, RegExp][] }> {
  const errors: PageProbe[] = [];
  const admin: [PageProbe, RegExp][] = [];
  await Promise.all(
    model.services.map(async (s) => {
      const missing = `/onionscale-doctor-${randomBytes(6).toString('hex')}`;
      const [bad, notFound, ...pages] = await Promise.all([
        // A header line without a colon: haproxy refuses the request itself (400) with its errorfile.
        probe(s, 'malformed request', '/', 'GET / HTTP/1.1\r\nHost: doctor.onion\r\nthis is not a header\r\nConnection: close\r\n\r\n', timeoutMs),
        probe(s, `GET ${missing}`, missing, get(missing), timeoutMs),
        ...ADMIN_PATHS.map(([path]) => probe(s, `GET ${path}`, path, get(path), timeoutMs)),
      ]);
      errors.push(bad, notFound);
      pages.forEach((p, i) => admin.push([p, ADMIN_PATHS[i]![1]]));
    }),
  );
  return { errors, admin };
}

export const PAGE_TITLES = {
  errors: 'error pages are our own: no stock page, no version',
  admin: 'no admin, stats or dashboard page through the onion',
};

export function pageFindings(probes: Awaited<ReturnType<typeof probePages>>): Finding[] {
  return [
    combine('error-pages', PAGE_TITLES.errors, probes.errors.map(assessErrorPage)),
    adminFinding(probes.admin.map(([p, sig]) => assessAdminPage(p, sig))),
  ];
}

function adminFinding(parts: Part[]): Finding {
  const f = combine('admin-reachable', PAGE_TITLES.admin, parts);
  // Eight fine answers per service say little one by one; the problems are what matter.
  if (f.level === 'ok') return { ...f, detail: `${parts.length} admin/stats/dashboard paths probed (${ADMIN_PATHS.map(([p]) => p).join(' ')}): none served` };
  return { ...f, detail: parts.filter((p) => p.level !== 'ok').map((p) => p.detail).join('; ') };
}
