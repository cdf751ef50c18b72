/**
 * Three forum instances started at the same moment on one new SQLite file: exactly one seeds (inside its write
 * transaction), the others wait for it and serve the same data. The seed is deterministic: another file seeded
 * with the same size holds the same posts. Runs the built instance (dist/) without Redis (memory mode).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freePortRange } from '../helpers/ports.js';
import { ROOT } from '../helpers/stack.js';

const FORUM = join(ROOT, 'dist/instances/forum.js');

interface Instance {
  child: ChildProcess;
  port: number;
  output: () => string;
}

function start(port: number, file: string, posts: number): Instance {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), FORUM_DB: file, FORUM_SEED_POSTS: String(posts), ONIONSCALE_INSTANCE: `web-${port}` };
  delete env.ONIONSCALE_REDIS;
  const child = spawn(process.execPath, [FORUM], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return { child, port, output: () => out };
}

async function healthy(i: Instance, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (i.child.exitCode !== null) throw new Error(`instance on ${i.port} exited: ${i.output()}`);
    const ok = await fetch(`http://127.0.0.1:${i.port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`instance on ${i.port} not healthy in ${timeoutMs} ms: ${i.output()}`);
}

function stop(i: Instance): Promise<void> {
  if (i.child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    i.child.once('exit', () => r());
    i.child.kill('SIGTERM');
  });
}

const digest = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    const h = createHash('sha256');
    for (const row of db.prepare('SELECT id, thread_id, user_id, body, created FROM posts ORDER BY id').iterate()) h.update(JSON.stringify(row));
    return {
      posts: db.prepare('SELECT COUNT(*) FROM posts').pluck().get() as number,
      boards: db.prepare('SELECT COUNT(*) FROM boards').pluck().get() as number,
      seeded: db.prepare("SELECT COUNT(*) FROM meta WHERE k = 'seeded'").pluck().get() as number,
      journal: db.pragma('journal_mode', { simple: true }) as string,
      hash: h.digest('hex'),
    };
  } finally {
    db.close();
  }
};

test('three instances on one new database: one seeds, all serve; the seed is deterministic', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-seed-'));
  const base = await freePortRange(4);
  const shared = join(dir, 'shared.db');
  const instances = [0, 1, 2].map((i) => start(base + i, shared, 3000));
  const alone = start(base + 3, join(dir, 'alone.db'), 3000);
  try {
    await Promise.all([...instances, alone].map((i) => healthy(i, 30_000)));
    const seeders = instances.filter((i) => /seeded 3000 posts/.test(i.output()));
    assert.equal(seeders.length, 1, instances.map((i) => i.output()).join('\n'));

    // Every instance serves the same listing from the shared file.
    const pages = await Promise.all(instances.map((i) => fetch(`http://127.0.0.1:${i.port}/b/general`).then((r) => r.text())));
    const threads = pages.map((p) => [...p.matchAll(/href="\/t\/(\d+)"/g)].map((m) => m[1]).join(','));
    assert.ok(threads[0]!.length > 0);
    assert.deepEqual(new Set(threads).size, 1);
  } finally {
    await Promise.all([...instances, alone].map(stop));
  }
  try {
    const a = digest(shared);
    const b = digest(join(dir, 'alone.db'));
    assert.deepEqual({ posts: a.posts, boards: a.boards, seeded: a.seeded, journal: a.journal }, { posts: 3000, boards: 8, seeded: 1, journal: 'wal' });
    assert.equal(a.hash, b.hash, 'the same seed size gives the same posts');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
