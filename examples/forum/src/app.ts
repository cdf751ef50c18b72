/**
 * The forum's Express app: boards → threads → posts, accounts, live updates. Every onionscale feature in one place:
 *
 * - listings through the query cache (`cache.query`, tags per board/thread), thread pages' post lists through the
 *   fragment cache; posting deletes the tags — in Redis and in every instance's L1;
 * - sessions in Redis (`session()`), login/registration behind per-circuit limits and the progressive delay;
 * - SSE (`sse(bus)`): new posts on `thread:<id>`, reply notifications on `user:<id>`, replay on reconnect;
 * - per-request timing (cache, Redis, database, render) to the dashboard through `onionscale/metrics`.
 */
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { RedisClientType } from 'redis';
import {
  circuitSubject,
  createCache,
  createEventBus,
  createProgressiveDelay,
  createRateLimiter,
  rateLimitHeaders,
  type CheckOptions,
  type Cache,
  type EventBus,
} from 'onionscale';
import { createFragments, createSessions, requestPipeline, sse, type PipelineRequest } from 'onionscale/express';
import type { InstanceMetrics } from 'onionscale/metrics';
import { CSRF_COOKIE, csrfToken, csrfValid, hashPassword, newCsrfNonce, verifyPassword } from './auth.js';
import type { ForumDb, PostRow, ThreadRow } from './db.js';
import * as v from './views.js';

export const THREADS_PER_PAGE = 20;
export const POSTS_PER_PAGE = 20;

export interface ForumOptions {
  db: ForumDb;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- node-redis generics differ by modules/RESP
  redis: RedisClientType<any, any, any, any, any> | undefined;
  metrics: InstanceMetrics;
  circuitHeader: string;
  /** Name of the tor instance in circuit subjects (circuit IDs are unique per tor process only). */
  torInstance: string;
  secureCookies: boolean;
}

export interface Forum {
  app: express.Express;
  cache: Cache;
  bus: EventBus;
  close(): Promise<void>;
}

type Locals = { user: { id: string; name: string } | undefined; csrf: string };

export function createForum(o: ForumOptions): Forum {
  const { db, metrics } = o;
  const redisOpt = o.redis ? { client: o.redis } : false;
  const cache = createCache({ name: 'forum', ttl: '5m', grace: '1m', l2: o.redis ? { client: o.redis } : false });
  const { fragment } = createFragments(cache, { name: 'forum-fragments' });
  const bus = createEventBus({
    redis: redisOpt,
    channels: { 'thread:*': { replay: { maxLen: 200, maxAge: '15m' } }, 'user:*': { replay: { maxLen: 100, maxAge: '1h' } } },
  });
  const sessions = createSessions({
    secrets: [o.db.secret],
    ttl: '2h',
    redis: o.redis ? { client: o.redis } : false,
    cookie: { secure: o.secureCookies },
  });
  // Per Tor circuit: behind tor every request comes from 127.0.0.1, so the circuit is the only client identity.
  const limiter = createRateLimiter({
    name: 'forum-auth',
    redis: redisOpt,
    rules: [
      { name: 'login', algorithm: 'sliding-log', limit: 20, window: '5m', by: ['circuit', 'route'] },
      { name: 'register', algorithm: 'sliding-log', limit: 10, window: '1h', by: ['circuit', 'route'] },
      // Keyed by the user the session holds: the request pipeline completes the key inside its one Redis call.
      { name: 'post', algorithm: 'gcra', limit: 20, window: '1m', by: ['user'], optional: true },
    ],
  });
  const delay = createProgressiveDelay({ name: 'forum-delay', redis: redisOpt, max: '30s', forgetAfter: '1h' });
  metrics.gauge('sse_streams', () => bus.stats().openStreams);

  const header = o.circuitHeader.toLowerCase();
  /** Requests that did not come through haproxy (development, tests on an instance port) share one subject. */
  const circuitOf = (req: Request) => circuitSubject(o.torInstance, req.headers[header]) ?? 'direct:0';

  const query = <T>(name: string, params: unknown[], tags: string[], load: () => T): Promise<T> =>
    metrics.phase('cache', () => cache.query(name, params, () => metrics.phase('db', load), { tags }));

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('env', 'production');
  app.set('query parser', 'simple');

  // Per-request timing for the dashboard; the route pattern, never the URL (URLs can carry tokens).
  app.use((req, res, next) => metrics.track(req.method, () => routeOf(req), res, next));
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  });

  app.get(['/favicon.ico', '/robots.txt'], (req, res) => {
    // Static and never changing: cached by the browser for a year, so it costs no round trip again.
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    if (req.path === '/robots.txt') res.type('text/plain').send('User-agent: *\nDisallow: /\n');
    else res.status(204).end();
  });

  // Session + the request's rate limits in ONE Redis round trip (docs/pipeline.md): login and registration per
  // circuit and route, posting per user; a refused request gets our own 429 page and never reaches a handler.
  const pipeline = requestPipeline(
    {
      sessions,
      limiter,
      limits: limitsOf,
      route: (req) => authKind(req.url),
      circuitHeader: o.circuitHeader,
      torInstance: o.torInstance,
      // Requests that did not come through haproxy (development, tests on an instance port) share one subject.
      noCircuit: 'shared',
    },
    { onRefused: (req, res, _refusal, decision) => tooMany(req, res, decision.retryAfterMs, rateLimitHeaders(decision)) },
  );
  app.use((req, res, next) => {
    const t0 = performance.now();
    pipeline(req, res, (err?: unknown) => {
      metrics.add('redis', performance.now() - t0);
      next(err);
    });
  });
  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }));

  // CSRF nonce cookie (set once) and the current user.
  app.use((req, res, next) => {
    let nonce = cookie(req, CSRF_COOKIE);
    if (!nonce || !/^[\w-]{24}$/.test(nonce)) {
      nonce = newCsrfNonce();
      res.append('Set-Cookie', `${CSRF_COOKIE}=${nonce}; Path=/; HttpOnly; SameSite=Strict${o.secureCookies ? '; Secure' : ''}`);
    }
    const id = req.session.userId;
    const name = req.session.get<string>('name');
    const user = id && name ? { id, name } : undefined;
    res.locals.user = user;
    res.locals.csrf = csrfToken(o.db.secret, nonce, user?.id);
    res.locals.nonce = nonce;
    if (req.method === 'POST' && !csrfValid(o.db.secret, nonce, user?.id, (req.body as Record<string, unknown> | undefined)?.csrf)) {
      send(req, res, 403, v.layout('Expired form', ctxOf(res), v.messagePage('This form has expired', 'Go back, reload the page and try again.')));
      return;
    }
    next();
  });

  const ctxOf = (res: Response, extra: Partial<v.PageContext> = {}): v.PageContext => ({ ...(res.locals as Locals), ...extra });
  const render = (fn: () => string) => metrics.phase('render', fn);
  const page = (n: unknown) => {
    const p = typeof n === 'string' ? Number.parseInt(n, 10) : 1;
    return Number.isSafeInteger(p) && p >= 1 && p <= 1_000_000 ? p : 1;
  };
  const userChannels = (res: Response) => {
    const u = (res.locals as Locals).user;
    return u ? [`user:${u.id}`] : [];
  };

  app.get('/', async (_req, res) => {
    const boards = await query('boards', [], ['boards'], () => db.boards());
    send(_req, res, 200, render(() => v.layout('Boards', ctxOf(res, { channels: userChannels(res) }), v.boardsPage(boards))));
  });

  app.get('/b/:slug', async (req, res, next) => {
    const board = await query('board', [req.params.slug], ['boards'], () => db.board(String(req.params.slug)) ?? null);
    if (!board) return next();
    const count = await query('thread-count', [board.id], [`board:${board.id}`], () => db.threadCount(board.id));
    const pages = Math.max(1, Math.ceil(count / THREADS_PER_PAGE));
    const p = Math.min(page(req.query.page), pages);
    const threads: ThreadRow[] = await query('threads', [board.id, p], [`board:${board.id}`], () =>
      db.threads(board.id, THREADS_PER_PAGE, (p - 1) * THREADS_PER_PAGE),
    );
    send(req, res, 200, render(() => v.layout(board.title, ctxOf(res, { channels: userChannels(res) }), v.boardPage(board, threads, p, pages, ctxOf(res)))));
  });

  const threadInfo = (id: number) =>
    query('thread', [id], [`thread:${id}`], () => {
      const t = db.thread(id);
      if (!t) return null;
      const board = db.boardById(t.board_id);
      return board ? { id: t.id, title: t.title, board_id: t.board_id, board } : null;
    });

  app.get('/t/:id', async (req, res, next) => {
    const id = Number(req.params.id);
    if (!Number.isSafeInteger(id) || id < 1) return next();
    const t = await threadInfo(id);
    if (!t) return next();
    const count = await query('post-count', [id], [`thread:${id}`], () => db.postCount(id));
    const pages = Math.max(1, Math.ceil(count / POSTS_PER_PAGE));
    const p = Math.min(page(req.query.page), pages);
    // The post list is the same for every reader: cached as rendered HTML, dropped with the thread's tag.
    const html = await metrics.phase('cache', () =>
      fragment(
        `thread:${id}:p${p}`,
        '10m',
        async () => {
          const posts: PostRow[] = await query('posts', [id, p], [`thread:${id}`], () => db.posts(id, POSTS_PER_PAGE, (p - 1) * POSTS_PER_PAGE));
          return render(() => v.postsFragment(posts, id, p === pages));
        },
        { tags: [`thread:${id}`] },
      ),
    );
    const replyTo = typeof req.query.reply === 'string' && /^\d{1,12}$/.test(req.query.reply) ? Number(req.query.reply) : undefined;
    const ctx = ctxOf(res, { channels: [`thread:${id}`, ...userChannels(res)], thread: id });
    send(req, res, 200, render(() => v.layout(t.title, ctx, v.threadPage({ id, title: t.title, board: t.board }, html, p, pages, ctx, replyTo))));
  });

  app.get('/t/:id/post/:post', (req, res, next) => {
    const id = Number(req.params.id);
    const postId = Number(req.params.post);
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(postId)) return next();
    const before = metrics.phase('db', () => db.db.prepare('SELECT COUNT(*) FROM posts WHERE thread_id = ? AND id < ?').pluck().get(id, postId) as number);
    res.redirect(303, `/t/${id}?page=${Math.floor(before / POSTS_PER_PAGE) + 1}#p${postId}`);
  });

  app.get('/events', sse(bus));

  app.get('/replies', (req, res) => {
    const u = (res.locals as Locals).user;
    if (!u) return res.redirect(303, '/login?next=/replies');
    const rows = metrics.phase('db', () => db.replies(Number(u.id), 30));
    send(req, res, 200, render(() => v.layout('Replies', ctxOf(res, { channels: userChannels(res) }), v.repliesPage(rows))));
  });

  // ---- accounts ----

  const safeNext = (n: unknown) => (typeof n === 'string' && /^\/[A-Za-z0-9/?=&#_-]{0,200}$/.test(n) && !n.startsWith('//') ? n : '/');

  app.get(['/login', '/register'], (req, res) => {
    const kind = req.path === '/login' ? 'login' : 'register';
    send(req, res, 200, render(() => v.layout(kind === 'login' ? 'Log in' : 'Register', ctxOf(res), v.authPage(kind, ctxOf(res), undefined, '', safeNext(req.query.next)))));
  });

  /** 429 with the limiter's headers; never says which rule or subject. */
  const tooMany = (req: Request, res: Response, retryAfterMs: number, headers: Record<string, string> = {}) => {
    for (const [k, val] of Object.entries(headers)) res.setHeader(k, val);
    if (!res.hasHeader('Retry-After')) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    send(req, res, 429, v.layout('Slow down', ctxOf(res), v.messagePage('Too many attempts', `Please wait ${Math.max(1, Math.ceil(retryAfterMs / 1000))} seconds and try again.`)));
  };

  app.post(['/login', '/register'], async (req, res) => {
    const kind = req.path === '/login' ? 'login' : 'register';
    const body = req.body as Record<string, unknown>;
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const next = safeNext(body.next);
    const circuit = circuitOf(req);
    const fail = (status: number, error: string) =>
      send(req, res, status, render(() => v.layout(kind === 'login' ? 'Log in' : 'Register', ctxOf(res), v.authPage(kind, ctxOf(res), error, name, next))));

    const account = /^[A-Za-z0-9_-]{3,24}$/.test(name) ? name.toLowerCase() : undefined;
    const who = { circuit, ...(account ? { account } : {}) };
    const gate = await metrics.phase('redis', () => delay.check(who));
    if (!gate.allowed) {
      metrics.count('delay_blocks');
      return tooMany(req, res, gate.retryAfterMs);
    }
    if (!account) return fail(400, 'Names are 3–24 letters, digits, _ or -.');
    if (password.length < 8 || password.length > 200) return fail(400, 'Passwords are 8–200 characters.');

    let userId: number | undefined;
    if (kind === 'register') {
      const hash = await hashPassword(password);
      userId = metrics.phase('db', () => db.createUser(name, hash));
      if (userId === undefined) {
        await metrics.phase('redis', () => delay.failure({ circuit }));
        return fail(409, 'That name is taken.');
      }
    } else {
      const user = metrics.phase('db', () => db.userByName(name));
      if (!(await verifyPassword(password, user?.pass)) || !user) {
        await metrics.phase('redis', () => delay.failure(who));
        return fail(401, 'Wrong name or password.');
      }
      await metrics.phase('redis', () => delay.success(who));
      userId = user.id;
    }
    const stored = metrics.phase('db', () => db.userByName(name))!;
    // A new session id at login (fixation); the old one is deleted when the response is saved.
    req.session.regenerate().set('userId', String(userId)).set('name', stored.name);
    res.redirect(303, next);
  });

  app.post('/logout', (req, res) => {
    req.session.destroy();
    res.redirect(303, '/');
  });

  // ---- posting ----

  const requireUser = (req: Request, res: Response): Locals['user'] => {
    const u = (res.locals as Locals).user;
    if (!u) {
      res.redirect(303, `/login?next=${encodeURIComponent(req.path)}`);
      return undefined;
    }
    return u;
  };
  const text = (x: unknown, max: number) => (typeof x === 'string' ? x.replace(/\r\n?/g, '\n').trim().slice(0, max) : '');

  /** Drop every cached listing and fragment this post changes — on every instance (the cache's bus). */
  const invalidate = (threadId: number, boardId: number) =>
    metrics.phase('cache', () => Promise.all([cache.deleteByTag(`thread:${threadId}`), cache.deleteByTag(`board:${boardId}`), cache.deleteByTag('boards')]));

  app.post('/b/:slug', async (req, res, next) => {
    const user = requireUser(req, res);
    if (!user) return;
    const board = db.board(String(req.params.slug));
    if (!board) return next();
    const body = req.body as Record<string, unknown>;
    const title = text(body.title, 120);
    const message = text(body.body, 8000);
    if (!title || !message) return send(req, res, 400, v.layout('New thread', ctxOf(res), v.messagePage('Empty thread', 'A thread needs a title and a message.')));
    const { threadId } = metrics.phase('db', () => db.createThread(board.id, Number(user.id), title, message));
    await invalidate(threadId, board.id);
    res.redirect(303, `/t/${threadId}`);
  });

  app.post('/t/:id/reply', async (req, res, next) => {
    const user = requireUser(req, res);
    if (!user) return;
    const id = Number(req.params.id);
    const t = Number.isSafeInteger(id) ? await threadInfo(id) : null;
    if (!t) return next();
    const body = req.body as Record<string, unknown>;
    const message = text(body.body, 8000);
    if (!message) return send(req, res, 400, v.layout('Reply', ctxOf(res), v.messagePage('Empty reply', 'Write something first.')));
    const wanted = typeof body.replyTo === 'string' && /^\d{1,12}$/.test(body.replyTo) ? Number(body.replyTo) : undefined;
    const parent = wanted === undefined ? undefined : metrics.phase('db', () => db.post(wanted));
    const replyTo = parent && db.db.prepare('SELECT thread_id FROM posts WHERE id = ?').pluck().get(parent.id) === id ? parent : undefined;
    const postId = metrics.phase('db', () => db.createPost(id, Number(user.id), message, replyTo?.id ?? null));
    await invalidate(id, t.board_id);
    const post = metrics.phase('db', () => db.post(postId))!;
    const count = db.postCount(id);
    const href = `/t/${id}/post/${postId}`;
    // Live: every reader of this thread on every instance; the replied-to author on their own channel.
    await metrics.phase('redis', async () => {
      await bus.publish(`thread:${id}`, { id: postId, html: v.postItem(post, id), href }).catch(() => undefined);
      if (replyTo && String(replyTo.user_id) !== user.id) {
        await bus.publish(`user:${replyTo.user_id}`, { text: `${user.name} replied to you in “${t.title}”`, href }).catch(() => undefined);
      }
    });
    res.redirect(303, `/t/${id}?page=${Math.ceil(count / POSTS_PER_PAGE)}#p${postId}`);
  });

  // ---- the end of the line: our own 404 and error pages, nothing that names the software ----

  app.use((req, res) => send(req, res, 404, v.layout('Not found', ctxOf(res), v.messagePage('Not found', 'There is nothing here.'))));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    const code = status >= 400 && status < 600 ? status : 500;
    if (code >= 500) console.error('request failed:', err instanceof Error ? err.message : String(err));
    if (res.headersSent) return void res.end();
    const ctx: v.PageContext = { user: undefined, csrf: '', ...(res.locals as Partial<Locals>) };
    send(req, res, code, v.layout('Error', ctx, v.messagePage(code >= 500 ? 'Something went wrong' : 'Bad request', 'Please try again.')));
  });

  return {
    app,
    cache,
    bus,
    async close() {
      await bus.close();
      await Promise.allSettled([cache.close(), limiter.close(), sessions.close()]);
    },
  };
}

/** The matched route pattern (`/t/:id`); for a route with several fixed paths, the one that matched. */
function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') return `${req.baseUrl}${path}`;
  if (Array.isArray(path) && path.includes(req.path)) return req.path;
  return 'other';
}

function cookie(req: Request, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * One compressed HTML response: brotli (or gzip) for bodies over 1 KiB — every byte is slow over Tor. Pages are
 * per-user or change with every post, so they are `private, no-cache`; static assets get a year.
 */
function send(req: Request, res: Response, status: number, html: string): void {
  const accept = String(req.headers['accept-encoding'] ?? '');
  let body: Buffer = Buffer.from(html);
  res.status(status);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Security-Policy', v.CSP);
  res.setHeader('Cache-Control', 'private, no-cache');
  res.setHeader('Vary', 'Accept-Encoding, Cookie');
  if (body.length > 1024) {
    if (accepts(accept, 'br')) {
      body = brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } });
      res.setHeader('Content-Encoding', 'br');
    } else if (accepts(accept, 'gzip')) {
      body = gzipSync(body, { level: 6 });
      res.setHeader('Content-Encoding', 'gzip');
    }
  }
  res.setHeader('Content-Length', String(body.length));
  res.end(req.method === 'HEAD' ? undefined : body);
}

function accepts(header: string, coding: string): boolean {
  for (const member of header.toLowerCase().split(',', 32)) {
    const [name, ...params] = member.split(';').map((s) => s.trim());
    if (name !== coding) continue;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

/** `login` / `register` for the auth forms (the `route` part of their limit's subject), else undefined. */
function authKind(url: string): 'login' | 'register' | undefined {
  const path = url.split('?', 1)[0];
  return path === '/login' ? 'login' : path === '/register' ? 'register' : undefined;
}

/** Which limits a request is checked against: auth forms per circuit, every other form post per user. */
function limitsOf(req: PipelineRequest): CheckOptions | false {
  if (req.method !== 'POST') return false;
  const kind = authKind(req.url);
  if (kind) return { rules: [kind] };
  return req.url.split('?', 1)[0] === '/logout' ? false : { rules: ['post'] };
}
