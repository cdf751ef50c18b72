/**
 * key-modes: the onion key, the Redis password and the logs are readable by their owner only. Whoever reads
 * hs_ed25519_secret_key can impersonate the onion address forever; tor itself refuses a HiddenServiceDir that
 * others can read, but nothing stops a later `chmod -R a+r` or a restored backup with loose modes.
 */
import { join } from 'node:path';
import type { StackModel } from '../../config/model.js';
import { finding, type Finding } from '../types.js';

export interface FileInfo {
  mode: number;
  uid: number;
  isDirectory: boolean;
}

/** `stat` without throwing: undefined when the path does not exist. */
export type StatFn = (path: string) => FileInfo | undefined;

interface Rule {
  path: string;
  what: string;
  /** Permission bits that must be clear. */
  forbidden: number;
  /** How to describe the wanted mode in the message. */
  want: string;
  dir: boolean;
  /** A missing file is only a warning (not created yet). */
  optional: boolean;
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

function rules(model: StackModel, listDir: (dir: string) => string[]): Rule[] {
  const p = model.paths;
  const out: Rule[] = [];
  for (const s of model.services) {
    out.push({ path: s.hiddenServiceDir, what: `HiddenServiceDir of ${s.name}`, forbidden: 0o077, want: '0700', dir: true, optional: true });
    out.push({ path: join(s.hiddenServiceDir, 'hs_ed25519_secret_key'), what: `onion secret key of ${s.name}`, forbidden: 0o077, want: '0600', dir: false, optional: true });
  }
  // Whoever reads the control cookie controls tor (and can read the onion key through it).
  out.push({ path: p.torControlCookie, what: 'tor control cookie', forbidden: 0o077, want: '0600', dir: false, optional: true });
  out.push({ path: p.secrets, what: 'secrets directory', forbidden: 0o077, want: '0700', dir: true, optional: true });
  if (model.redis.enabled) {
    out.push({ path: p.redisPasswordFile, what: 'Redis password file', forbidden: 0o077, want: '0600', dir: false, optional: true });
  }
  out.push({ path: p.run, what: 'run directory (sockets, state)', forbidden: 0o077, want: '0700', dir: true, optional: true });
  out.push({ path: p.logs, what: 'logs directory', forbidden: 0o007, want: 'not accessible to others (0700 or 0750)', dir: true, optional: true });
  for (const name of listDir(p.logs)) {
    out.push({ path: join(p.logs, name), what: `log ${name}`, forbidden: 0o004, want: 'not world-readable (0600)', dir: false, optional: true });
  }
  return out;
}

export function checkKeyModes(model: StackModel, stat: StatFn, uid: number, listDir: (dir: string) => string[]): Finding {
  const id = 'key-modes';
  const title = 'onion keys, secrets and logs are private to their owner';
  const bad: string[] = [];
  const missing: string[] = [];
  let checked = 0;
  for (const r of rules(model, listDir)) {
    const info = stat(r.path);
    if (!info) {
      missing.push(r.what);
      continue;
    }
    checked++;
    if (info.isDirectory !== r.dir) bad.push(`${r.what} (${r.path}) is ${info.isDirectory ? 'a directory' : 'not a directory'}`);
    else if (info.mode & r.forbidden) bad.push(`${r.what} (${r.path}) has mode ${octal(info.mode)}, want ${r.want}`);
    if (info.uid !== uid) bad.push(`${r.what} (${r.path}) is owned by uid ${info.uid}, not uid ${uid} (the auditing user)`);
  }
  const notYet = missing.length ? `; not created yet: ${missing.join(', ')}` : '';
  if (bad.length) {
    return finding(
      id,
      'fail',
      title,
      bad.join('; ') + notYet,
      'chmod 700 the directories and 600 the files (e.g. chmod 600 <HiddenServiceDir>/hs_ed25519_secret_key), owned by the user that runs the stack; anyone who read the key can impersonate the onion address: consider a new address.',
    );
  }
  const keysMissing = missing.some((m) => m.startsWith('onion secret key'));
  return finding(
    id,
    keysMissing ? 'warn' : 'ok',
    title,
    `${checked} path(s) checked, modes and owner fine${notYet}`,
    'Start the stack once (`onionscale up`) so tor creates the keys, then audit again.',
  );
}
