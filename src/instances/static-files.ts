/**
 * A small, careful static file handler for the seed's static site: no directory listings, no dotfiles, no path
 * traversal, content-hash ETags (never inode-based: they differ between instances and leak file-system details),
 * 304 on If-None-Match, HEAD without a body.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.pdf': 'application/pdf',
};

/** Files bigger than this are not served (a static onion site has no business with them; use a real file host). */
const MAX_FILE = 32 * 1024 * 1024;

interface Entry {
  mtimeMs: number;
  size: number;
  etag: string;
  body: Buffer;
}

export function staticHandler(root: string) {
  const base = resolve(root);
  const cache = new Map<string, Entry>();

  async function load(path: string): Promise<Entry | undefined> {
    let st = await stat(path).catch(() => undefined);
    if (st?.isDirectory()) {
      path = join(path, 'index.html');
      st = await stat(path).catch(() => undefined);
    }
    if (!st?.isFile() || st.size > MAX_FILE) return undefined;
    const hit = cache.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit;
    const body = await readFile(path);
    const entry = { mtimeMs: st.mtimeMs, size: st.size, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    if (cache.size > 1000) cache.clear();
    cache.set(path, entry);
    return entry;
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://onion.invalid').pathname);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
      return;
    }
    const target = resolve(base, '.' + pathname);
    const inside = target === base || target.startsWith(base + sep);
    const hidden = pathname.split('/').some((seg) => seg.startsWith('.'));
    const entry = inside && !hidden && !pathname.includes('\0') ? await load(target) : undefined;
    if (!entry) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const type = TYPES[extname(target === base ? 'index.html' : target).toLowerCase()] ?? (pathname.endsWith('/') ? TYPES['.html']! : 'application/octet-stream');
    const headers = { etag: entry.etag, 'content-type': type, 'cache-control': 'public, max-age=60', 'x-content-type-options': 'nosniff' };
    const inm = req.headers['if-none-match'];
    if (typeof inm === 'string' && inm.split(',').some((t) => t.trim() === entry.etag || t.trim() === '*')) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': entry.size });
    res.end(req.method === 'HEAD' ? undefined : entry.body);
  };
}
