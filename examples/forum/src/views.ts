/**
 * Server-rendered HTML: every page works with JavaScript disabled (Tor Browser's Safest level). One small inline
 * stylesheet and one small inline script per page — no external resource, so a page costs one round trip. The CSP
 * allows exactly those two inline blocks by hash, nothing else.
 */
import { createHash } from 'node:crypto';
import type { Board, BoardSummary, PostRow, ThreadRow } from './db.js';

export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const CSS = `*{box-sizing:border-box}body{margin:0 auto;max-width:52rem;padding:0 1rem 3rem;font:16px/1.5 system-ui,sans-serif;color:#1d1d1f;background:#fbfbf8}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.8rem 0;border-bottom:2px solid #7d4698;margin-bottom:1rem}
header a.home{font-weight:700;color:#7d4698;text-decoration:none;font-size:1.2rem}nav{display:flex;gap:.8rem;align-items:center}
a{color:#5a2e77}table{width:100%;border-collapse:collapse}td,th{padding:.45rem .3rem;border-bottom:1px solid #e3e0ea;text-align:left;vertical-align:top}
th{font-size:.85rem;color:#555}.n{text-align:right;white-space:nowrap;color:#555}.muted{color:#666;font-size:.9rem}
ol.posts{list-style:none;padding:0}ol.posts>li{border:1px solid #e3e0ea;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0;background:#fff}
.meta{font-size:.85rem;color:#666;display:flex;gap:.8rem;flex-wrap:wrap}.body{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0 0}
form.box{display:grid;gap:.5rem;max-width:32rem;margin:1rem 0}form.box label{display:grid;gap:.2rem}input,textarea,button{font:inherit;padding:.4rem .5rem}textarea{min-height:7rem}
button{background:#7d4698;color:#fff;border:0;border-radius:4px;cursor:pointer;justify-self:start;padding:.4rem 1rem}form.inline{display:inline}
form.inline button{background:none;color:#5a2e77;text-decoration:underline;padding:0}.err{background:#fde8e8;border:1px solid #e0a0a0;padding:.5rem .8rem;border-radius:4px}
.pages{display:flex;gap:.4rem;flex-wrap:wrap;margin:1rem 0}.pages a,.pages b{padding:.1rem .5rem;border:1px solid #e3e0ea;border-radius:4px}
#live{list-style:none;padding:.4rem .8rem;margin:0 0 1rem;background:#eef7ee;border:1px solid #9c9;border-radius:4px}.reply-to{font-size:.85rem;color:#555}`;

// Progressive enhancement only: live posts in the open thread, reply notifications, reconnect with replay
// (EventSource resends Last-Event-ID by itself; the server replays what was missed, on any instance).
const JS = `(function(){var d=document.body.dataset;if(!window.EventSource||!d.channels)return;
var es=new EventSource('/events?channels='+encodeURIComponent(d.channels)),live=document.getElementById('live');
function note(t,h){var li=document.createElement('li'),a=document.createElement('a');a.href=h;a.textContent=t;li.appendChild(a);live.insertBefore(li,live.firstChild);live.hidden=false}
es.addEventListener('osc/reset',function(){location.reload()});
if(d.thread)es.addEventListener('thread:'+d.thread,function(e){var m=JSON.parse(e.data),l=document.getElementById('posts');
if(document.getElementById('p'+m.id))return;if(l&&l.dataset.last==='1')l.insertAdjacentHTML('beforeend',m.html);else note('New post in this thread',m.href)});
if(d.user)es.addEventListener('user:'+d.user,function(e){var m=JSON.parse(e.data);note(m.text,m.href)});})();`;

const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

/** The page CSP: only our inline style and script (by hash), same-origin forms and the SSE endpoint. */
export const CSP = [
  "default-src 'none'",
  `style-src ${sha(CSS)}`,
  `script-src ${sha(JS)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface PageContext {
  user: { id: string; name: string } | undefined;
  csrf: string;
  /** SSE channels this page listens to (comma-separated); none = no live updates. */
  channels?: string[];
  thread?: number;
}

export function layout(title: string, ctx: PageContext, main: string): string {
  const data: string[] = [];
  if (ctx.channels?.length) data.push(`data-channels="${esc(ctx.channels.join(','))}"`);
  if (ctx.thread !== undefined) data.push(`data-thread="${ctx.thread}"`);
  if (ctx.user) data.push(`data-user="${esc(ctx.user.id)}"`);
  const nav = ctx.user
    ? `<span>Signed in as <b>${esc(ctx.user.name)}</b></span><a href="/replies">Replies</a>
<form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="${esc(ctx.csrf)}"><button>Log out</button></form>`
    : `<a href="/login">Log in</a><a href="/register">Register</a>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>${esc(title)} · onion forum</title><style>${CSS}</style></head>
<body ${data.join(' ')}><header><a class="home" href="/">onion forum</a><nav>${nav}</nav></header>
<ul id="live" hidden aria-live="polite"></ul>
<main>${main}</main><script>${JS}</script></body></html>`;
}

const when = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString().slice(0, 16).replace('T', ' '));

export function boardsPage(boards: readonly BoardSummary[]): string {
  const rows = boards
    .map(
      (b) => `<tr><td><a href="/b/${esc(b.slug)}">${esc(b.title)}</a><div class="muted">${esc(b.description)}</div></td>
<td class="n">${b.threads}</td><td class="n">${b.posts}</td><td class="n">${when(b.last)}</td></tr>`,
    )
    .join('');
  return `<h1>Boards</h1><table><thead><tr><th>Board</th><th class="n">Threads</th><th class="n">Posts</th><th class="n">Last post</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function pager(base: string, page: number, pages: number): string {
  if (pages <= 1) return '';
  const items: string[] = [];
  const show = new Set([1, 2, pages - 1, pages, page - 2, page - 1, page, page + 1, page + 2]);
  let gap = false;
  for (let p = 1; p <= pages; p++) {
    if (!show.has(p)) {
      if (!gap) items.push('<span>…</span>');
      gap = true;
      continue;
    }
    gap = false;
    items.push(p === page ? `<b aria-current="page">${p}</b>` : `<a href="${base}?page=${p}">${p}</a>`);
  }
  return `<nav class="pages" aria-label="pages">${items.join('')}</nav>`;
}

export function boardPage(board: Board, threads: readonly ThreadRow[], page: number, pages: number, ctx: PageContext): string {
  const rows = threads
    .map(
      (t) => `<tr><td><a href="/t/${t.id}">${esc(t.title)}</a><div class="muted">by ${esc(t.author)}</div></td>
<td class="n">${t.posts}</td><td class="n">${when(t.last)}</td></tr>`,
    )
    .join('');
  const form = ctx.user
    ? `<h2>New thread</h2><form class="box" method="post" action="/b/${esc(board.slug)}"><input type="hidden" name="csrf" value="${esc(ctx.csrf)}">
<label>Title <input name="title" required maxlength="120"></label><label>Message <textarea name="body" required maxlength="8000"></textarea></label><button>Create thread</button></form>`
    : `<p class="muted"><a href="/login?next=/b/${esc(board.slug)}">Log in</a> to start a thread.</p>`;
  return `<p class="muted"><a href="/">Boards</a> ›</p><h1>${esc(board.title)}</h1><p class="muted">${esc(board.description)}</p>
${pager(`/b/${esc(board.slug)}`, page, pages)}<table><thead><tr><th>Thread</th><th class="n">Posts</th><th class="n">Last post</th></tr></thead><tbody>${rows}</tbody></table>
${pager(`/b/${esc(board.slug)}`, page, pages)}${form}`;
}

export function postItem(p: PostRow, threadId: number): string {
  return `<li id="p${p.id}"><div class="meta"><b>${esc(p.author)}</b><span>${when(p.created)}</span><a href="/t/${threadId}/post/${p.id}">#${p.id}</a>
${p.reply_to ? `<span class="reply-to">reply to <a href="/t/${threadId}/post/${p.reply_to}">#${p.reply_to}</a></span>` : ''}
<a href="/t/${threadId}?reply=${p.id}#reply">reply</a></div><p class="body">${esc(p.body)}</p></li>`;
}

/** The cacheable part of a thread page: the same for every reader (no user, no token). */
export function postsFragment(posts: readonly PostRow[], threadId: number, last: boolean): string {
  return `<ol class="posts" id="posts" data-last="${last ? 1 : 0}">${posts.map((p) => postItem(p, threadId)).join('')}</ol>`;
}

export function threadPage(
  t: { id: number; title: string; board: Board },
  postsHtml: string,
  page: number,
  pages: number,
  ctx: PageContext,
  replyTo: number | undefined,
): string {
  const form = ctx.user
    ? `<h2 id="reply">Reply</h2><form class="box" method="post" action="/t/${t.id}/reply"><input type="hidden" name="csrf" value="${esc(ctx.csrf)}">
${replyTo ? `<input type="hidden" name="replyTo" value="${replyTo}"><p class="reply-to">Replying to #${replyTo}</p>` : ''}
<label>Message <textarea name="body" required maxlength="8000"></textarea></label><button>Post reply</button></form>`
    : `<p class="muted"><a href="/login?next=/t/${t.id}">Log in</a> to reply.</p>`;
  return `<p class="muted"><a href="/">Boards</a> › <a href="/b/${esc(t.board.slug)}">${esc(t.board.title)}</a> ›</p><h1>${esc(t.title)}</h1>
${pager(`/t/${t.id}`, page, pages)}${postsHtml}${pager(`/t/${t.id}`, page, pages)}${form}`;
}

export function authPage(kind: 'login' | 'register', ctx: PageContext, error: string | undefined, name: string, next: string): string {
  const title = kind === 'login' ? 'Log in' : 'Register';
  return `<h1>${title}</h1>${error ? `<p class="err" role="alert">${esc(error)}</p>` : ''}
<form class="box" method="post" action="/${kind}"><input type="hidden" name="csrf" value="${esc(ctx.csrf)}"><input type="hidden" name="next" value="${esc(next)}">
<label>Name <input name="name" required minlength="3" maxlength="24" pattern="[A-Za-z0-9_-]{3,24}" value="${esc(name)}" autocomplete="username"></label>
<label>Password <input name="password" type="password" required minlength="8" maxlength="200" autocomplete="${kind === 'login' ? 'current-password' : 'new-password'}"></label>
<button>${title}</button></form>
<p class="muted">${kind === 'login' ? 'No account? <a href="/register">Register</a>.' : 'Have an account? <a href="/login">Log in</a>.'}</p>`;
}

export function repliesPage(rows: readonly (PostRow & { thread_id: number; title: string })[]): string {
  const items = rows
    .map((r) => `<li><div class="meta"><b>${esc(r.author)}</b> in <a href="/t/${r.thread_id}/post/${r.id}">${esc(r.title)}</a><span>${when(r.created)}</span></div><p class="body">${esc(r.body)}</p></li>`)
    .join('');
  return `<h1>Replies to you</h1>${items ? `<ol class="posts">${items}</ol>` : '<p class="muted">No replies yet.</p>'}`;
}

export function messagePage(title: string, text: string): string {
  return `<h1>${esc(title)}</h1><p>${esc(text)}</p><p><a href="/">Back to the boards</a></p>`;
}
