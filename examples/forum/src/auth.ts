/**
 * Passwords and CSRF tokens.
 *
 * Passwords: scrypt (memory-hard, in node:crypto — no native dependency), N = 2^15, r = 8, p = 1 (32 MiB, tens of
 * ms per hash), run on libuv's thread pool so hashing never blocks the event loop. Stored as
 * `scrypt$<N>$<r>$<p>$<salt>$<hash>` so the cost can be raised later without breaking old hashes.
 *
 * CSRF: signed double-submit. A random nonce lives in an HttpOnly SameSite=Strict cookie; every form carries
 * HMAC(secret, nonce | user id). A cross-site page can neither read the cookie nor compute the HMAC, and a token
 * taken before login is worthless after it (the user id is part of the MAC).
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const N = 2 ** 15;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

// Verifying against this when the account does not exist keeps "no such user" as slow as "wrong password".
let dummy: Promise<string> | undefined;

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? (await (dummy ??= hashPassword('not a password')))).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    await hashPassword(password); // same cost as a real check (seeded accounts have no password)
    return false;
  }
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return stored !== undefined && key.length === expected.length && timingSafeEqual(key, expected);
}

export const CSRF_COOKIE = 'osc_csrf';

export function newCsrfNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function csrfToken(secret: string, nonce: string, userId: string | undefined): string {
  return createHmac('sha256', secret).update(`csrf|${nonce}|${userId ?? ''}`).digest('base64url');
}

export function csrfValid(secret: string, nonce: string | undefined, userId: string | undefined, token: unknown): boolean {
  if (!nonce || typeof token !== 'string' || token.length > 100) return false;
  const want = Buffer.from(csrfToken(secret, nonce, userId));
  const got = Buffer.from(token);
  return want.length === got.length && timingSafeEqual(want, got);
}
