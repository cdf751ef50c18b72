/**
 * unix-sockets (doctor): the stack's unix sockets (haproxy frontends tor connects to, haproxy's runtime API, the
 * supervisor's control socket, tor's control port, Redis) are reachable by their owner only: the socket file is
 * not writable by others and the run directory is 0700. A local user who can connect to the runtime API can take
 * servers out of rotation; one who can connect to a frontend can skip tor and forge PROXY lines.
 */
import { join } from 'node:path';
import type { StackModel } from '../../config/model.js';
import type { StatFn } from './key-modes.js';
import { finding, type Finding } from '../types.js';

const TITLE = 'unix sockets and the run directory are private';
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

export function unixSocketPaths(model: StackModel): { path: string; what: string }[] {
  const p = model.paths;
  return [
    ...model.services.flatMap((s) => (s.listen.kind === 'unix' ? [{ path: s.listen.path, what: `frontend of ${s.name}` }] : [])),
    ...(model.balancer.adminSocket ? [{ path: p.haproxyAdminSocket, what: 'haproxy runtime API' }] : []),
    { path: join(p.run, 'control.sock'), what: 'supervisor control socket' },
    { path: p.torControlSocket, what: 'tor control port' },
    ...(model.redis.enabled && model.redis.listen.kind === 'unix' ? [{ path: model.redis.listen.path, what: 'redis' }] : []),
  ];
}

export function checkUnixSockets(model: StackModel, stat: StatFn, uid: number): Finding {
  const id = 'unix-sockets';
  const bad: string[] = [];
  const run = stat(model.paths.run);
  if (run && (run.mode & 0o077) !== 0) bad.push(`${model.paths.run} is ${octal(run.mode)} (want 0700)`);
  if (run && run.uid !== uid) bad.push(`${model.paths.run} belongs to uid ${run.uid}`);
  let seen = 0;
  for (const { path, what } of unixSocketPaths(model)) {
    const s = stat(path);
    if (!s) continue;
    seen++;
    // Connecting to a unix socket needs write permission on it.
    if ((s.mode & 0o022) !== 0) bad.push(`${what} ${path} is ${octal(s.mode)} (others may connect)`);
  }
  if (bad.length) {
    return finding(
      id,
      'fail',
      TITLE,
      bad.join('; '),
      'chmod 700 the run directory and 600 the sockets (onionscale creates them so; something changed them). Everything reaching a frontend socket directly skips tor.',
    );
  }
  return finding(id, 'ok', TITLE, run ? `${seen} socket(s) in a ${octal(run.mode)} run directory` : 'no run directory yet');
}
