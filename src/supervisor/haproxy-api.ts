/**
 * haproxy's runtime API (management.txt, "Unix Socket commands") on the 0600 admin socket the rendered haproxy.cfg
 * declares: one command per connection, the answer is everything until haproxy closes. Used by `reload` and
 * `scale` to drain, disable and enable servers without touching haproxy's configuration or process.
 */
import { connect } from 'node:net';
import { OnionscaleError } from '../errors.js';

/** Send one command; resolve with haproxy's answer. Rejects with OSC_ERR_STACK_HAPROXY_API on a socket error or timeout. */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n;]/.test(command)) {
    // One command per call: a newline or `;` would let a value smuggle a second command.
    return Promise.reject(new OnionscaleError('OSC_ERR_STACK_HAPROXY_API', 'a runtime API command must be one line without ";"'));
  }
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let data = '';
    s.setEncoding('utf8');
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    s.on('connect', () => s.write(command + '\n'));
    s.on('data', (c: string) => (data += c));
    s.on('error', (cause) =>
      reject(new OnionscaleError('OSC_ERR_STACK_HAPROXY_API', `haproxy runtime API (${command.split(' ').slice(0, 3).join(' ')}): ${cause.message}`, { cause })),
    );
    s.on('close', (hadError) => {
      if (!hadError) resolve(data);
    });
  });
}

export type ServerAdminState = 'ready' | 'drain' | 'maint';

/** A server line of `show stat`: what `reload` and `scale` wait on. */
export interface ServerStat {
  backend: string;
  server: string;
  /** Current sessions (requests in flight or streams open) on this server. */
  scur: number;
  /** Requests queued for this server. */
  qcur: number;
  /** `UP`, `DOWN`, `MAINT`, `DRAIN`, `UP 1/2`, `no check`, … */
  status: string;
}

/** Parse `show stat` CSV (header line `# pxname,svname,…`); only server rows. */
export function parseShowStat(csv: string): ServerStat[] {
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = lines.shift()?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const [px, sv, scur, qcur, status] = [col('pxname'), col('svname'), col('scur'), col('qcur'), col('status')];
  if (px < 0 || sv < 0 || scur < 0 || status < 0) return [];
  const out: ServerStat[] = [];
  for (const line of lines) {
    const f = line.split(',');
    const server = f[sv] ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND' || server === '') continue;
    out.push({ backend: f[px] ?? '', server, scur: Number(f[scur] ?? 0) || 0, qcur: Number(f[qcur] ?? 0) || 0, status: f[status] ?? '' });
  }
  return out;
}

export class HaproxyApi {
  readonly socketPath: string;
  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  async command(command: string): Promise<string> {
    const answer = await haproxyCommand(this.socketPath, command);
    // Errors come back as text; the known ones start like these (cli.c).
    if (/^(Unknown command|No such (server|backend)|Require '|Permission denied|'set server' |Invalid )/m.test(answer)) {
      throw new OnionscaleError('OSC_ERR_STACK_HAPROXY_API', `haproxy refused "${command}": ${answer.trim().slice(0, 200)}`);
    }
    return answer;
  }

  async servers(backend: string): Promise<ServerStat[]> {
    return parseShowStat(await this.command('show stat')).filter((s) => s.backend === backend);
  }

  async server(backend: string, server: string): Promise<ServerStat | undefined> {
    return (await this.servers(backend)).find((s) => s.server === server);
  }

  async setState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    await this.command(`set server ${backend}/${server} state ${state}`);
  }

  async setAddress(backend: string, server: string, host: string, port: number): Promise<void> {
    await this.command(`set server ${backend}/${server} addr ${host} port ${port}`);
  }

  /** The worker's PID (`show info`): changes after a master-worker reload. */
  async workerPid(): Promise<number | undefined> {
    const m = /^Pid: (\d+)$/m.exec(await this.command('show info'));
    return m ? Number(m[1]) : undefined;
  }

  /** Poll until `check(stat)` holds for the server, or throw OSC_ERR_STACK_TIMEOUT after `timeoutMs`. */
  async waitServer(backend: string, server: string, what: string, check: (s: ServerStat) => boolean, timeoutMs: number): Promise<ServerStat> {
    const deadline = Date.now() + timeoutMs;
    let last: ServerStat | undefined;
    for (;;) {
      last = await this.server(backend, server).catch(() => undefined);
      if (last && check(last)) return last;
      if (Date.now() > deadline) {
        throw new OnionscaleError('OSC_ERR_STACK_TIMEOUT', `${backend}/${server} not ${what} after ${timeoutMs} ms (status ${last?.status ?? 'unknown'}, ${last?.scur ?? '?'} in flight)`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
