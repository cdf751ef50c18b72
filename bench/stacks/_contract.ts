/**
 * The contract every stack in bench/stacks/ keeps, and the few helpers they share (issue 4: the seed request).
 * Files starting with `_` are helpers, not stacks: bench/request.ts lists them as such and never runs them.
 *
 * A stack is one module run in its own process (`fork` with `--import tsx`, cwd bench/). The harness gives it:
 *   PORT                  listen on 127.0.0.1:PORT
 *   REDIS_URL             redis://:password@127.0.0.1:port (one redis-server shared by every stack)
 *   BENCH_PREFIX          the stack's own key prefix (`bench:<stack>:`): put every key it writes under it
 *   BENCH_CIRCUIT_HEADER  the circuit header, lower case (the balancer default in src/config/schema.ts)
 * and expects, once it listens, the line `ready` on stdout. It must answer:
 *   POST /login  puts `userId = USER_ID` in the session; 200 with the session cookie (Set-Cookie)
 *   GET  /page   the seed request: session read (401 without a logged-in session), a rate-limit check keyed by
 *                the circuit header (limits from RATE_LIMIT: nothing is ever blocked during a run), the cached
 *                query (the harness stored QUERY_KEY under the prefix as JSON; peers GET it on every request,
 *                a cache may keep it as its library does), then renderPage(userId, rows) as text/html.
 * SIGTERM, SIGINT or losing the IPC channel to the harness (it died) stop the stack: `announceReady` wires that.
 */

/** What POST /login puts in the session. */
export const USER_ID = 'u42';
/** The cached query's key, under BENCH_PREFIX; its value is JSON `QueryRow[]` written by the harness. */
export const QUERY_KEY = 'query:front';
/** Limits high enough that a whole run (50 connections, ~20k req/s at most) never reaches them. */
export const RATE_LIMIT = { limit: 1_000_000_000, windowMs: 60_000 } as const;
/** Bench-only signing secret (≥ 32 characters, as @fastify/session demands). */
export const SESSION_SECRET = 'onionscale bench only: not a secret, never used outside bench/';
/** Session lifetime: cookie Max-Age and Redis TTL. */
export const SESSION_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface QueryRow {
  id: number;
  title: string;
}

export interface StackEnv {
  port: number;
  redisUrl: string;
  prefix: string;
  /** Lower case, as Node's `req.headers` keys are. */
  circuitHeader: string;
}

/** The harness's environment, checked once; a stack started by hand gets a message saying what is missing. */
export function stackEnv(env: NodeJS.ProcessEnv = process.env): StackEnv {
  const missing = ['PORT', 'REDIS_URL', 'BENCH_PREFIX', 'BENCH_CIRCUIT_HEADER'].filter((k) => !env[k]);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: stacks are started by bench/request.ts (npm --prefix bench run request)`);
  const port = Number(env.PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`PORT must be a TCP port, got ${JSON.stringify(env.PORT)}`);
  return { port, redisUrl: env.REDIS_URL!, prefix: env.BENCH_PREFIX!, circuitHeader: env.BENCH_CIRCUIT_HEADER!.toLowerCase() };
}

/**
 * The rate-limit key for a request: the circuit header's value, as the peers' docs show for proxy headers
 * (behind tor every client is 127.0.0.1, so the default IP key would put every user in one bucket).
 */
export function circuitKey(value: string | string[] | undefined): string {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined || v === '' ? 'no-circuit' : v;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** The page body every stack sends (same bytes everywhere, so only the stacks differ). */
export function renderPage(userId: string, rows: readonly QueryRow[]): string {
  let items = '';
  for (const r of rows) items += `<li id="i${r.id}">${escapeHtml(r.title)}</li>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>front page</title></head><body><p>Signed in as user ${escapeHtml(userId)}</p><ul>${items}</ul></body></html>`;
}

/**
 * Prints `ready` and stops the stack on SIGTERM / SIGINT / IPC disconnect: `close` gets 2 s to release its
 * server and Redis clients, then the process exits anyway (a benchmark child must never outlive the harness).
 */
export function announceReady(close: () => Promise<unknown>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  process.stdout.write('ready\n');
}
