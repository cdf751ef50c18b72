/**
 * `onionscale audit`: check a stack (running or not) for the classic onion-service pitfalls. Framework-free; every
 * reader of the outside world (/proc, file modes, the haproxy.cfg on disk) can be injected for tests.
 *
 *   const report = await runAudit(loadConfigFile(file), readState(model.paths.stateFile));
 *   console.log(formatAudit(report)); process.exitCode = report.summary.exitCode;
 */
import { randomInt } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StackModel } from '../config/model.js';
import { renderHaproxyConfig } from '../render/haproxy.js';
import type { StackState } from '../supervisor/state-file.js';
import { checkClockSkew } from './checks/clock-skew.js';
import { assessCircuitEcho, assessEtag, assessHeaders, assessNoProxy, type ProbeResult } from './checks/http.js';
import { checkAdminPage, circuitHeaderConfig } from './checks/haproxy-config.js';
import { checkKeyModes, type StatFn } from './checks/key-modes.js';
import { checkRedisAuth } from './checks/redis-auth.js';
import { checkListenPublic, checkTorEgress, socketView, type SocketView } from './checks/sockets.js';
import { checkTorNetwork } from './checks/tor-network.js';
import { exchange, getRequest, parseHead, proxyLine } from './http-probe.js';
import { realProc, stackProcesses, type ProcReader } from './proc.js';
import { readTcpSockets } from './tcp-table.js';
import { combine, finding, summarize, type AuditReport, type Finding } from './types.js';

export type { AuditReport, AuditSummary, Finding, Level } from './types.js';
export { formatAudit } from './format.js';

export interface AuditOptions {
  proc?: ProcReader;
  stat?: StatFn;
  /** The user the files must belong to (default: the auditing process's uid). */
  uid?: number;
  listDir?: (dir: string) => string[];
  /** Per network probe (HTTP exchange, Redis connect). */
  timeoutMs?: number;
}

const realStat: StatFn = (path) => {
  try {
    const s = statSync(path);
    return { mode: s.mode, uid: s.uid, isDirectory: s.isDirectory() };
  } catch {
    return undefined;
  }
};

const realListDir = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/** The haproxy.cfg haproxy was started with; the rendered one when there is none on disk (stack never started). */
function haproxyConfig(model: StackModel): { text: string; source: string } {
  try {
    return { text: readFileSync(model.paths.haproxyConfig, 'utf8'), source: model.paths.haproxyConfig };
  } catch {
    return { text: renderHaproxyConfig(model), source: 'the rendered haproxy.cfg (none on disk yet)' };
  }
}

/** The end of a log: the latest lines matter, and a log may reach 10 MiB before the supervisor rotates it. */
function logTail(path: string, bytes = 256 * 1024): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, bytes));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.toString('utf8');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** A state file is written by us, but it is still input: anything malformed counts as no state. */
function usableState(model: StackModel, state: StackState | undefined): StackState | undefined {
  if (!state || state.stateDir !== model.paths.root) return undefined;
  if (!Array.isArray(state.services) || !Array.isArray(state.onions) || typeof state.tor !== 'object' || state.tor === null) return undefined;
  return state;
}

async function probeFrontends(model: StackModel, state: StackState, timeoutMs: number) {
  // A random circuit per audit: per-circuit rate limits never see the audit twice. The forged header names a
  // different circuit, so a reflected value is unambiguous.
  const circuit = randomInt(1, 0xffffffff);
  const forged = `fc00:dead:beef:4dad::${randomInt(0x1000, 0x10000).toString(16)}:f0f0`;
  const header = model.balancer.circuitHeader;
  const results = await Promise.all(
    model.services.map(async (service) => {
      // The hostname comes from a file on disk: only a well-formed v3 address goes into the request line.
      const known = state.onions.find((o) => o.service === service.name)?.hostname;
      const host = known && /^[a-z2-7]{56}\.onion$/.test(known) ? known : `${service.name}.onion`;
      const port = service.ports[0] ?? 80;
      const probe = async (payload: string): Promise<ProbeResult> => {
        const r = await exchange(service.listen, payload, timeoutMs);
        const head = parseHead(r.data);
        return { service, ...(head ? { head } : {}), ...('error' in r ? { error: r.error } : {}) };
      };
      const [tor, bare] = await Promise.all([
        probe(proxyLine(circuit, port) + getRequest(host, { [header]: forged })),
        probe(getRequest(host)),
      ]);
      return { tor, bare };
    }),
  );
  return { results, forged };
}

function skipped(id: string, title: string): Finding {
  return finding(id, 'warn', title, 'skipped: the stack is not running', 'Start it with `onionscale up`, then audit again.');
}

const TITLES = {
  headers: 'responses name no software, version or hop',
  circuit: 'a client cannot forge the circuit header',
  noProxy: 'connections without tor\'s PROXY line are refused',
  etag: 'no inode-based ETags',
};

export async function runAudit(model: StackModel, state: StackState | undefined, options: AuditOptions = {}): Promise<AuditReport> {
  const proc = options.proc ?? realProc;
  const timeoutMs = options.timeoutMs ?? 5000;
  // A state file of another state directory says nothing about this one.
  const ours = usableState(model, state);
  const procs = ours ? stackProcesses(ours, proc) : undefined;
  const running = ours !== undefined && procs !== undefined && procs.processes.length > 0;
  const view: SocketView | undefined = running && procs ? socketView(procs, readTcpSockets(proc), proc) : undefined;
  const cfg = haproxyConfig(model);

  const [redis, probes] = await Promise.all([
    running || !model.redis.enabled ? checkRedisAuth(model, timeoutMs) : Promise.resolve(undefined),
    running && ours ? probeFrontends(model, ours, timeoutMs) : Promise.resolve(undefined),
  ]);

  const findings: Finding[] = [
    checkListenPublic(view),
    checkKeyModes(model, options.stat ?? realStat, options.uid ?? process.getuid?.() ?? 0, options.listDir ?? realListDir),
    redis ?? skipped('redis-auth', 'Redis refuses clients without the password'),
    probes ? combine('headers', TITLES.headers, probes.results.map((r) => assessHeaders(r.tor))) : skipped('headers', TITLES.headers),
    combine('circuit-header', TITLES.circuit, [
      ...circuitHeaderConfig(model, cfg),
      ...(probes ? probes.results.map((r) => assessCircuitEcho(r.tor, probes.forged)) : []),
    ]),
    probes ? combine('no-proxy-refused', TITLES.noProxy, probes.results.map((r) => assessNoProxy(r.bare))) : skipped('no-proxy-refused', TITLES.noProxy),
    probes ? combine('etag-inode', TITLES.etag, probes.results.map((r) => assessEtag(r.tor))) : skipped('etag-inode', TITLES.etag),
    checkTorEgress(model, view),
    checkAdminPage(cfg),
    checkTorNetwork(ours),
    checkClockSkew(logTail(join(model.paths.logs, 'tor.log'))),
  ];
  return { findings, summary: summarize(findings, running) };
}
