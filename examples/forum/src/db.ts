/**
 * The forum's embedded database: one SQLite file (better-sqlite3) shared by every instance on the machine.
 *
 * WAL mode lets the instances read concurrently while one writes; `busy_timeout` makes a writer wait for another
 * instance's write instead of failing. Seeding happens inside one `BEGIN IMMEDIATE` transaction that first checks
 * whether another instance has seeded already, so exactly one instance seeds and the others wait for its commit.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { seedForum, type SeedReport } from './seed.js';

export type Db = BetterSqlite3.Database;

export interface Board {
  id: number;
  slug: string;
  title: string;
  description: string;
}
export interface BoardSummary extends Board {
  threads: number;
  posts: number;
  last: number | null;
}
export interface ThreadRow {
  id: number;
  title: string;
  author: string;
  created: number;
  posts: number;
  last: number;
}
export interface Thread {
  id: number;
  board_id: number;
  title: string;
  user_id: number;
  created: number;
}
export interface PostRow {
  id: number;
  body: string;
  created: number;
  author: string;
  user_id: number;
  reply_to: number | null;
}
export interface User {
  id: number;
  name: string;
  pass: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, pass TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS boards (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, title TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (id INTEGER PRIMARY KEY, board_id INTEGER NOT NULL REFERENCES boards(id), title TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id), created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, thread_id INTEGER NOT NULL REFERENCES threads(id),
  user_id INTEGER NOT NULL REFERENCES users(id), body TEXT NOT NULL, created INTEGER NOT NULL, reply_to INTEGER);
CREATE INDEX IF NOT EXISTS posts_thread ON posts(thread_id, id);
CREATE INDEX IF NOT EXISTS threads_board ON threads(board_id);
`;

export interface OpenOptions {
  file: string;
  /** Posts to generate when the file is new (0: boards only). */
  seedPosts: number;
  log?: (line: string) => void;
}

export interface ForumDb {
  db: Db;
  /** The secret shared by every instance (session cookies, CSRF), made once with the database. */
  secret: string;
  seeded: SeedReport | undefined;
  boards(): BoardSummary[];
  board(slug: string): Board | undefined;
  boardById(id: number): Board | undefined;
  threads(boardId: number, limit: number, offset: number): ThreadRow[];
  threadCount(boardId: number): number;
  thread(id: number): Thread | undefined;
  posts(threadId: number, limit: number, offset: number): PostRow[];
  postCount(threadId: number): number;
  post(id: number): PostRow | undefined;
  userByName(name: string): User | undefined;
  createUser(name: string, pass: string): number | undefined;
  createThread(boardId: number, userId: number, title: string, body: string): { threadId: number; postId: number };
  createPost(threadId: number, userId: number, body: string, replyTo: number | null): number;
  /** Replies to this user's posts by others, newest first. */
  replies(userId: number, limit: number): (PostRow & { thread_id: number; title: string })[];
  close(): void;
}

export async function openForumDb(options: OpenOptions): Promise<ForumDb> {
  let Database: typeof BetterSqlite3;
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (err) {
    throw new Error(`the forum needs the better-sqlite3 package (npm install better-sqlite3): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
  const db = new Database(options.file, { timeout: 120_000 });
  db.pragma('busy_timeout = 120000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);

  // Exactly one instance seeds: the first to take the write lock finds no `seeded` row and seeds inside the same
  // transaction; the others block on the lock (busy_timeout) and then find the row.
  let seeded: SeedReport | undefined;
  const init = db.transaction(() => {
    const done = db.prepare('SELECT v FROM meta WHERE k = ?').pluck().get('seeded');
    if (done === undefined) {
      db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run('secret', randomBytes(32).toString('base64url'));
      seeded = seedForum(db, options.seedPosts);
      db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run('seeded', JSON.stringify(seeded));
    }
  });
  init.immediate();
  if (seeded) options.log?.(`seeded ${seeded.posts} posts in ${seeded.threads} threads (${seeded.ms} ms)`);
  const secret = db.prepare('SELECT v FROM meta WHERE k = ?').pluck().get('secret') as string;

  const q = {
    // Post and thread counts are aggregated on every call (no denormalized counters): uncached, this listing
    // costs real milliseconds on the seeded data — which is what the query cache is there to hide.
    boards: db.prepare(`SELECT b.id, b.slug, b.title, b.description,
        (SELECT COUNT(*) FROM threads t WHERE t.board_id = b.id) AS threads,
        (SELECT COUNT(*) FROM posts p JOIN threads t ON t.id = p.thread_id WHERE t.board_id = b.id) AS posts,
        (SELECT MAX(p.created) FROM posts p JOIN threads t ON t.id = p.thread_id WHERE t.board_id = b.id) AS last
      FROM boards b ORDER BY b.id`),
    board: db.prepare('SELECT id, slug, title, description FROM boards WHERE slug = ?'),
    boardById: db.prepare('SELECT id, slug, title, description FROM boards WHERE id = ?'),
    threads: db.prepare(`SELECT t.id, t.title, u.name AS author, t.created, COUNT(p.id) AS posts, MAX(p.created) AS last
      FROM threads t JOIN users u ON u.id = t.user_id JOIN posts p ON p.thread_id = t.id
      WHERE t.board_id = ? GROUP BY t.id ORDER BY last DESC, t.id DESC LIMIT ? OFFSET ?`),
    threadCount: db.prepare('SELECT COUNT(*) FROM threads WHERE board_id = ?').pluck(),
    thread: db.prepare('SELECT id, board_id, title, user_id, created FROM threads WHERE id = ?'),
    posts: db.prepare(`SELECT p.id, p.body, p.created, u.name AS author, p.user_id, p.reply_to FROM posts p JOIN users u ON u.id = p.user_id
      WHERE p.thread_id = ? ORDER BY p.id LIMIT ? OFFSET ?`),
    postCount: db.prepare('SELECT COUNT(*) FROM posts WHERE thread_id = ?').pluck(),
    post: db.prepare('SELECT p.id, p.body, p.created, u.name AS author, p.user_id, p.reply_to FROM posts p JOIN users u ON u.id = p.user_id WHERE p.id = ?'),
    userByName: db.prepare('SELECT id, name, pass FROM users WHERE name = ?'),
    createUser: db.prepare('INSERT INTO users (name, pass, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING'),
    createThread: db.prepare('INSERT INTO threads (board_id, title, user_id, created) VALUES (?, ?, ?, ?)'),
    createPost: db.prepare('INSERT INTO posts (thread_id, user_id, body, created, reply_to) VALUES (?, ?, ?, ?, ?)'),
    replies: db.prepare(`SELECT p.id, p.body, p.created, u.name AS author, p.user_id, p.reply_to, p.thread_id, t.title
      FROM posts mine JOIN posts p ON p.reply_to = mine.id JOIN users u ON u.id = p.user_id JOIN threads t ON t.id = p.thread_id
      WHERE mine.user_id = ? AND p.user_id != ? ORDER BY p.id DESC LIMIT ?`),
  };
  const newThread = db.transaction((boardId: number, userId: number, title: string, body: string) => {
    const now = Date.now();
    const threadId = Number(q.createThread.run(boardId, title, userId, now).lastInsertRowid);
    const postId = Number(q.createPost.run(threadId, userId, body, now, null).lastInsertRowid);
    return { threadId, postId };
  });

  return {
    db,
    secret,
    seeded,
    boards: () => q.boards.all() as BoardSummary[],
    board: (slug) => q.board.get(slug) as Board | undefined,
    boardById: (id) => q.boardById.get(id) as Board | undefined,
    threads: (boardId, limit, offset) => q.threads.all(boardId, limit, offset) as ThreadRow[],
    threadCount: (boardId) => q.threadCount.get(boardId) as number,
    thread: (id) => q.thread.get(id) as Thread | undefined,
    posts: (threadId, limit, offset) => q.posts.all(threadId, limit, offset) as PostRow[],
    postCount: (threadId) => q.postCount.get(threadId) as number,
    post: (id) => q.post.get(id) as PostRow | undefined,
    userByName: (name) => q.userByName.get(name) as User | undefined,
    createUser: (name, pass) => {
      const r = q.createUser.run(name, pass, Date.now());
      return r.changes === 1 ? Number(r.lastInsertRowid) : undefined;
    },
    createThread: (boardId, userId, title, body) => newThread(boardId, userId, title, body),
    createPost: (threadId, userId, body, replyTo) => Number(q.createPost.run(threadId, userId, body, Date.now(), replyTo).lastInsertRowid),
    replies: (userId, limit) => q.replies.all(userId, userId, limit) as (PostRow & { thread_id: number; title: string })[],
    close: () => db.close(),
  };
}
