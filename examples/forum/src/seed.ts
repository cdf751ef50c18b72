/**
 * Deterministic seed data: the same boards, users, threads and posts for a given size on every machine (a fixed
 * PRNG, fixed timestamps), written with prepared statements inside the caller's transaction — 100k posts take
 * well under two seconds.
 */
import type BetterSqlite3 from 'better-sqlite3';

export interface SeedReport {
  boards: number;
  users: number;
  threads: number;
  posts: number;
  ms: number;
}

export const BOARDS: readonly { slug: string; title: string; description: string }[] = [
  { slug: 'general', title: 'General', description: 'Anything that fits nowhere else.' },
  { slug: 'onions', title: 'Running onion services', description: 'tor, haproxy, keys, descriptors and uptime.' },
  { slug: 'privacy', title: 'Privacy', description: 'Threat models, habits and tools.' },
  { slug: 'dev', title: 'Development', description: 'Code, builds, tests and reviews.' },
  { slug: 'ops', title: 'Operations', description: 'Monitoring, backups and incidents.' },
  { slug: 'crypto', title: 'Cryptography', description: 'Primitives, protocols and their pitfalls.' },
  { slug: 'hardware', title: 'Hardware', description: 'Small servers, routers and power.' },
  { slug: 'meta', title: 'About this forum', description: 'Feedback and announcements.' },
];

const WORDS = (
  'circuit relay onion service guard descriptor introduction rendezvous latency cache redis haproxy instance ' +
  'session limit stream replay event board thread post reply measure restart backoff socket loopback config ' +
  'key rotate secret hash verify token browser page fragment query index write read commit lock wait answer ' +
  'question simple small fast slow quiet loud early late always never maybe often rarely today tomorrow'
).split(' ');

/** mulberry32: tiny, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE_TIME = Date.UTC(2026, 0, 1);

export function seedForum(db: BetterSqlite3.Database, posts: number): SeedReport {
  const t0 = performance.now();
  const rand = prng(0x5eed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const sentence = (min: number, max: number) => {
    const n = min + Math.floor(rand() * (max - min + 1));
    const words = Array.from({ length: n }, () => pick(WORDS));
    const s = words.join(' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  };

  const addBoard = db.prepare('INSERT INTO boards (slug, title, description) VALUES (?, ?, ?)');
  for (const b of BOARDS) addBoard.run(b.slug, b.title, b.description);

  const userCount = Math.max(10, Math.ceil(posts / 200));
  // Seeded accounts cannot log in: '!' is no valid password hash.
  const addUser = db.prepare('INSERT INTO users (name, pass, created) VALUES (?, ?, ?)');
  for (let i = 1; i <= userCount; i++) addUser.run(`user${String(i).padStart(4, '0')}`, '!', BASE_TIME + i * 1000);

  const threadCount = posts === 0 ? 0 : Math.max(BOARDS.length, Math.ceil(posts / 20));
  const addThread = db.prepare('INSERT INTO threads (id, board_id, title, user_id, created) VALUES (?, ?, ?, ?, ?)');
  const addPost = db.prepare('INSERT INTO posts (thread_id, user_id, body, created, reply_to) VALUES (?, ?, ?, ?, NULL)');
  let time = BASE_TIME + userCount * 1000;
  // Every thread gets its opening post first, then the rest are spread at random.
  for (let t = 1; t <= threadCount; t++) {
    const user = 1 + Math.floor(rand() * userCount);
    time += 1000 + Math.floor(rand() * 60_000);
    addThread.run(t, 1 + ((t - 1) % BOARDS.length), sentence(3, 8), user, time);
    addPost.run(t, user, sentence(8, 40), time);
  }
  for (let p = threadCount; p < posts; p++) {
    time += 500 + Math.floor(rand() * 10_000);
    addPost.run(1 + Math.floor(rand() * threadCount), 1 + Math.floor(rand() * userCount), sentence(5, 60), time);
  }
  return { boards: BOARDS.length, users: userCount, threads: threadCount, posts, ms: Math.round(performance.now() - t0) };
}
