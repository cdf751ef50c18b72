/**
 * The whole chain on one machine: Redis → app instances (each answers /healthz) → haproxy → tor (onion hostname).
 * Started in that order, stopped in reverse; crashed services restart with backoff. The model comes in validated
 * and frozen; this module writes the rendered files, owns the processes and reports state to `run/state.json`.
 */
import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instanceCommand, type Runtime } from '../config/instance.js';
import { describeListen, type ResolvedListen, type StackModel } from '../config/model.js';
import { OnionscaleError } from '../errors.js';
import {
  ERROR_STATUSES,
  errorFilePath,
  renderErrorFile,
  renderHaproxyConfig,
  renderRedisAuthConf,
  renderRedisConf,
  renderTorrc,
} from '../render/index.js';
import { findBinary } from './binaries.js';
import { isAlive, refOf, signal } from './processes.js';
import { canConnect, waitConnect, waitFile, waitHttp, waitRedis } from './readiness.js';
import { Service, type SpawnFn } from './service.js';
import { readState, removeState, writeState, type StackPhase, type StackState, type TorStatus } from './state-file.js';
import { TorControlWatcher } from './tor-control.js';
import { LogFile } from './log-file.js';

export interface StackOptions {
  runtime: Runtime;
  /** Progress and prefixed service logs for the terminal. */
  print?: (line: string) => void;
  /** Echo every service log line to `print` (they always go to logs/<service>.log). */
  verbose?: boolean;
  spawn?: SpawnFn;
}

/**
 * Supervisor events for metrics and the dashboard (STYLE.md §9): `{ type: 'state', service, state, pid }`,
 * `{ type: 'restart', service, attempt, delayMs }`, `{ type: 'tor-bootstrap', percent, summary }`,
 * `{ type: 'descriptor', action: 'UPLOAD' | 'UPLOADED' | 'FAILED', address }`.
 */
export const SUPERVISOR_CHANNEL = 'onionscale:supervisor';
const events = channel(SUPERVISOR_CHANNEL);

const BOOTSTRAP_RE = /Bootstrapped (\d+)% \(([^)]*)\): (.*)$/;

export class Stack {
  readonly model: StackModel;
  readonly services: Service[] = [];
  readonly #options: StackOptions;
  readonly #print: (line: string) => void;
  #phase: StackPhase = 'starting';
  #password = '';
  #tor: TorStatus;
  #error: string | undefined;
  #startedAt = new Date().toISOString();
  #stopping: Promise<void> | undefined;
  /** Descriptor uploads per onion address (without .onion), from tor's control port. */
  readonly #published = new Map<string, { uploaded: number; failed: number; lastUploadAt?: string }>();
  #control: TorControlWatcher | undefined;
  readonly #logs = new Map<string, LogFile>();

  constructor(model: StackModel, options: StackOptions) {
    this.model = model;
    this.#options = options;
    this.#print = options.print ?? (() => {});
    const net = model.tor.network;
    this.#tor = { network: typeof net === 'string' ? net : 'testing', bootstrap: 0, summary: 'not started', reached: false };
  }

  get phase(): StackPhase {
    return this.#phase;
  }
  get tor(): TorStatus {
    return this.#tor;
  }

  /** Start everything; on failure stop what was started and throw. */
  async up(): Promise<void> {
    const m = this.model;
    this.#checkNotRunning();
    const bins = {
      redis: m.redis.enabled ? findBinary(m.binaries.redisServer, 'redis-server') : '',
      haproxy: findBinary(m.binaries.haproxy, 'haproxy'),
      tor: findBinary(m.binaries.tor, 'tor'),
    };
    this.#prepareDirectories();
    await this.#checkListeners();
    this.#writeFiles();
    this.#createServices(bins);
    this.#saveState();
    try {
      for (const svc of this.services) {
        // Ctrl-C during start-up: `down()` is already walking the list; starting more would leave orphans.
        if (this.#stopping) throw new OnionscaleError('OSC_ERR_STACK_START', 'stopped while starting');
        const t0 = Date.now();
        this.#print(`  … ${svc.name.padEnd(12)} starting`);
        await svc.start();
        this.#print(`  ✓ ${svc.name.padEnd(12)} ready in ${Date.now() - t0} ms  pid ${svc.pid}${svc.address ? `  ${svc.address}` : ''}`);
        if (svc.kind === 'tor') this.#watchDescriptors();
        this.#saveState();
      }
      await this.#waitForBootstrap();
      this.#phase = 'running';
      this.#saveState();
    } catch (err) {
      this.#phase = 'failed';
      this.#error = err instanceof Error ? err.message : String(err);
      const svc = this.services.find((s) => s.state === 'failed');
      if (svc && svc.lastLines.length > 0) {
        this.#print(`  ✗ ${svc.name}: last lines of logs/${svc.name}.log:`);
        for (const line of svc.lastLines.slice(-8)) this.#print(`      ${this.#redact(line)}`);
      }
      await this.down();
      throw err;
    }
  }

  /** Stop everything in reverse order. Idempotent; concurrent calls share one teardown. */
  down(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#phase !== 'failed') this.#phase = 'stopping';
      this.#control?.stop();
      this.#saveState();
      for (const svc of [...this.services].reverse()) {
        if (svc.state === 'idle' || svc.state === 'stopped') continue;
        this.#print(`  ■ stopping ${svc.name}`);
        await svc.stop();
      }
      for (const s of this.model.services) if (s.listen.kind === 'unix') rmSync(s.listen.path, { force: true });
      removeState(this.model.paths.stateFile);
      await Promise.all([...this.#logs.values()].map((l) => l.close()));
      if (this.#phase !== 'failed') this.#phase = 'stopped';
    })();
    return this.#stopping;
  }

  snapshot(): StackState {
    const m = this.model;
    return {
      version: 1,
      phase: this.#phase,
      supervisor: refOf(process.pid) ?? { pid: process.pid, startTime: 0 },
      configFile: m.configFile,
      stateDir: m.paths.root,
      startedAt: this.#startedAt,
      services: this.services.map((s) => {
        const ref = refOf(s.pid);
        return {
          name: s.name,
          kind: s.kind as 'redis' | 'app' | 'haproxy' | 'tor',
          state: s.state,
          ...(ref ? { pid: ref.pid, startTime: ref.startTime } : {}),
          ...(s.address ? { address: s.address } : {}),
          restarts: s.restarts,
        };
      }),
      onions: m.services.map((s) => {
        const hostname = readHostname(s.hiddenServiceDir);
        const descriptor = hostname ? this.#published.get(hostname.replace(/\.onion$/, '')) : undefined;
        return {
          service: s.name,
          app: s.app,
          ports: s.ports,
          ...(hostname ? { hostname } : {}),
          descriptor: { uploaded: descriptor?.uploaded ?? 0, failed: descriptor?.failed ?? 0, ...(descriptor?.lastUploadAt ? { lastUploadAt: descriptor.lastUploadAt } : {}) },
        };
      }),
      tor: this.#tor,
      ...(this.#error ? { error: this.#error } : {}),
    };
  }

  #saveState(): void {
    if (this.#stopping && this.#phase !== 'stopping') return;
    try {
      writeState(this.model.paths.stateFile, this.snapshot());
    } catch {
      // The run directory vanished (removed by hand): status from other shells is lost, the stack keeps running.
    }
  }

  #checkNotRunning(): void {
    const prev = readState(this.model.paths.stateFile);
    if (prev && isAlive(prev.supervisor)) {
      throw new OnionscaleError('OSC_ERR_STACK_RUNNING', `a stack is already running from ${this.model.paths.root} (supervisor pid ${prev.supervisor.pid})`);
    }
    if (prev) {
      // A supervisor that died without cleaning up (SIGKILL): stop what it left behind, by PID and start time.
      for (const s of prev.services) {
        if (s.pid !== undefined && s.startTime !== undefined) signal({ pid: s.pid, startTime: s.startTime }, 'SIGTERM');
      }
      removeState(this.model.paths.stateFile);
    }
  }

  #prepareDirectories(): void {
    const p = this.model.paths;
    // tor refuses a DataDirectory or HiddenServiceDir readable by others; secrets and sockets stay private too.
    const dirs = [p.root, p.run, p.logs, p.secrets, p.torData, p.hiddenServices, p.redisData, p.haproxyErrors, ...this.model.services.map((s) => s.hiddenServiceDir)];
    for (const d of dirs) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      chmodSync(d, 0o700);
    }
    for (const s of this.model.services) {
      for (const f of ['hs_ed25519_secret_key', 'hs_ed25519_public_key', 'hostname']) {
        const file = join(s.hiddenServiceDir, f);
        if (existsSync(file)) chmodSync(file, 0o600);
      }
    }
  }

  async #checkListeners(): Promise<void> {
    const m = this.model;
    const listeners: { what: string; listen: ResolvedListen }[] = [
      ...m.services.map((s) => ({ what: `haproxy frontend for ${s.name}`, listen: s.listen })),
      ...m.apps.flatMap((a) => a.instances.map((i) => ({ what: i.id, listen: { kind: 'tcp', host: '127.0.0.1', port: i.port } as const }))),
      ...(m.redis.enabled ? [{ what: 'redis', listen: m.redis.listen }] : []),
      ...(m.tor.socksPort ? [{ what: 'tor SocksPort', listen: { kind: 'tcp', host: '127.0.0.1', port: m.tor.socksPort } as const }] : []),
    ];
    for (const { what, listen } of listeners) {
      if (await canConnect(listen, 500)) {
        throw new OnionscaleError('OSC_ERR_STACK_PORT_IN_USE', `${describeListen(listen)} (for ${what}) is already in use`, { details: { listen } });
      }
      // Nothing answers: a socket file left by a crash is stale.
      if (listen.kind === 'unix') rmSync(listen.path, { force: true });
    }
  }

  #writeFiles(): void {
    const m = this.model;
    const p = m.paths;
    const write = (file: string, text: string, mode = 0o600) => {
      writeFileSync(file, text, { mode });
      chmodSync(file, mode);
    };
    if (m.redis.enabled) {
      this.#password = existsSync(p.redisPasswordFile) ? readFileSync(p.redisPasswordFile, 'utf8').trim() : '';
      if (this.#password.length < 32) {
        this.#password = randomBytes(32).toString('base64url');
        write(p.redisPasswordFile, this.#password + '\n');
      }
      chmodSync(p.redisPasswordFile, 0o600);
      write(p.redisAuthConfig, renderRedisAuthConf(this.#password));
      write(p.redisConfig, renderRedisConf(m));
    }
    for (const status of ERROR_STATUSES) write(errorFilePath(m, status), renderErrorFile(status));
    write(p.haproxyConfig, renderHaproxyConfig(m));
    write(p.torConfig, renderTorrc(m, { owningPid: process.pid }));
    write(join(p.run, 'torrc-defaults'), '');
  }

  #createServices(bins: { redis: string; haproxy: string; tor: string }): void {
    const m = this.model;
    const p = m.paths;
    const common = (name: string) => ({
      spawn: this.#options.spawn,
      onLine: (line: string) => this.#log(name, line),
    });
    const watch = (svc: Service) => {
      svc.on('state', (state) => {
        this.#saveState();
        if (events.hasSubscribers) events.publish({ type: 'state', service: svc.name, state, pid: svc.pid });
      });
      svc.on('restart', (n, delay) => {
        this.#print(`  ! ${svc.name} exited; restart ${n} in ${delay} ms`);
        if (events.hasSubscribers) events.publish({ type: 'restart', service: svc.name, attempt: n, delayMs: delay });
      });
      this.services.push(svc);
      return svc;
    };
    if (m.redis.enabled) {
      watch(
        new Service({
          name: 'redis',
          kind: 'redis',
          address: describeListen(m.redis.listen),
          command: { file: bins.redis, args: [p.redisConfig], cwd: p.redisData },
          ready: (signal) => waitRedis(m.redis.listen, this.#password, signal),
          readyTimeoutMs: 15_000,
          ...common('redis'),
        }),
      );
    }
    for (const app of m.apps) {
      for (const inst of app.instances) {
        const cmd = instanceCommand(m, app, inst, this.#options.runtime);
        watch(
          new Service({
            name: inst.id,
            kind: 'app',
            address: `127.0.0.1:${inst.port}`,
            command: cmd,
            ready: (signal) => waitHttp(inst.port, m.balancer.healthPath, signal),
            readyTimeoutMs: app.readyTimeoutMs,
            ...common(inst.id),
          }),
        );
      }
    }
    watch(
      new Service({
        name: 'haproxy',
        kind: 'haproxy',
        address: m.services.map((s) => describeListen(s.listen)).join(', '),
        command: { file: bins.haproxy, args: ['-db', '-f', p.haproxyConfig], cwd: p.run },
        ready: async (signal) => {
          for (const s of m.services) await waitConnect(s.listen, signal);
        },
        readyTimeoutMs: 15_000,
        ...common('haproxy'),
      }),
    );
    watch(
      new Service({
        name: 'tor',
        kind: 'tor',
        address: m.tor.socksPort ? `socks 127.0.0.1:${m.tor.socksPort}` : undefined,
        command: { file: bins.tor, args: ['-f', p.torConfig, '--defaults-torrc', join(p.run, 'torrc-defaults')], cwd: p.torData },
        ready: async (signal) => {
          for (const s of m.services) await waitFile(join(s.hiddenServiceDir, 'hostname'), signal);
        },
        readyTimeoutMs: 60_000,
        ...common('tor'),
      }),
    );
  }

  /** Count descriptor uploads per onion (tor re-publishes periodically and after restarts; the watcher reconnects). */
  #watchDescriptors(): void {
    this.#control ??= new TorControlWatcher(this.model.paths.torControlSocket, this.model.paths.torControlCookie, (e) => {
      const entry = this.#published.get(e.address) ?? { uploaded: 0, failed: 0 };
      if (e.action === 'UPLOADED') {
        entry.uploaded++;
        entry.lastUploadAt = new Date().toISOString();
      } else if (e.action === 'FAILED') {
        entry.failed++;
      }
      this.#published.set(e.address, entry);
      this.#saveState();
      if (events.hasSubscribers) events.publish({ type: 'descriptor', action: e.action, address: e.address });
    });
    this.#control.start();
  }

  /** Wait up to `tor.bootstrapWait` for tor to reach the network; report either way (never hang). */
  async #waitForBootstrap(): Promise<void> {
    if (this.#tor.network === 'disabled') {
      this.#tor = { ...this.#tor, summary: 'network disabled by config (DisableNetwork 1)' };
      return;
    }
    const deadline = Date.now() + this.model.tor.bootstrapWait;
    if (!this.#tor.reached && this.model.tor.bootstrapWait > 0) this.#print(`  … tor          connecting to the Tor network (up to ${Math.round(this.model.tor.bootstrapWait / 1000)} s)`);
    while (!this.#tor.reached && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  }

  #log(name: string, raw: string): void {
    const line = this.#redact(raw);
    if (name === 'tor') {
      const b = BOOTSTRAP_RE.exec(line);
      if (b) {
        const pct = Number(b[1]);
        this.#tor = { ...this.#tor, bootstrap: pct, summary: b[3] ?? '', reached: pct >= 100 };
        this.#saveState();
        if (events.hasSubscribers) events.publish({ type: 'tor-bootstrap', percent: pct, summary: this.#tor.summary });
      }
    }
    let file = this.#logs.get(name);
    if (!file) {
      file = new LogFile(join(this.model.paths.logs, `${name}.log`));
      this.#logs.set(name, file);
    }
    file.write(`${new Date().toISOString()} ${line}`);
    if (this.#options.verbose) this.#print(`[${name}] ${line}`);
  }

  /** Secrets never reach logs: the Redis password is masked wherever a service prints it. */
  #redact(line: string): string {
    return this.#password ? line.split(this.#password).join('***') : line;
  }
}

function readHostname(dir: string): string | undefined {
  try {
    const file = join(dir, 'hostname');
    if (!statSync(file).isFile()) return undefined;
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
