/**
 * The whole chain on one machine: Redis → app instances (each answers /healthz) → haproxy → tor (onion hostname).
 * Started in that order, stopped in reverse; crashed services restart with backoff. The model comes in validated
 * and frozen; this module writes the rendered files, owns the processes and reports state to `run/state.json`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { instanceCommand, type Runtime } from '../config/instance.js';
import { describeListen, type AppModel, type InstanceModel, type ResolvedListen, type StackModel } from '../config/model.js';
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
import { ControlServer, type ControlRequest } from './control.js';
import { HaproxyApi } from './haproxy-api.js';
import { LogFile } from './log-file.js';

export interface StackOptions {
  runtime: Runtime;
  /** Progress and prefixed service logs for the terminal. */
  print?: (line: string) => void;
  /** Echo every service log line to `print` (they always go to logs/<service>.log). */
  verbose?: boolean;
  spawn?: SpawnFn;
  /** Re-read the config for `onionscale reload` (the CLI passes its loader); default: keep the model `up` started with. */
  reloadModel?: () => StackModel;
}

/** haproxy server lines per backend: the running instances plus disabled spares that `scale` enables at runtime. */
export const SERVER_SLOTS = 16;
/** How long `reload`/`scale` wait for a drained instance's requests (SSE streams are cut by the instance's own stop). */
const DRAIN_TIMEOUT_MS = 10_000;

/** The control socket of a running `up` (see control.ts). */
export const controlSocketPath = (model: StackModel) => join(model.paths.run, 'control.sock');

/**
 * Supervisor events for metrics and the dashboard (STYLE.md §9): `{ type: 'state', service, state, pid }`,
 * `{ type: 'restart', service, attempt, delayMs }`, `{ type: 'tor-bootstrap', percent, summary }`,
 * `{ type: 'descriptor', action: 'UPLOAD' | 'UPLOADED' | 'FAILED', address }`.
 */
export const SUPERVISOR_CHANNEL = 'onionscale:supervisor';
const events = channel(SUPERVISOR_CHANNEL);

const BOOTSTRAP_RE = /Bootstrapped (\d+)% \(([^)]*)\): (.*)$/;

export class Stack {
  #model: StackModel;
  readonly services: Service[] = [];
  /** The running instances per app (the model's until `scale` changes them). */
  readonly #instances = new Map<string, InstanceModel[]>();
  #controlServer: ControlServer | undefined;
  /** Operations from the control socket run one at a time. */
  #op: Promise<unknown> = Promise.resolve();
  #bins = { redis: '', haproxy: '', tor: '' };
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
    this.#model = model;
    for (const app of model.apps) this.#instances.set(app.name, [...app.instances]);
    this.#options = options;
    this.#print = options.print ?? (() => {});
    const net = model.tor.network;
    this.#tor = { network: typeof net === 'string' ? net : 'testing', bootstrap: 0, summary: 'not started', reached: false };
  }

  get model(): StackModel {
    return this.#model;
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
    this.#bins = bins;
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
      this.#controlServer = new ControlServer(controlSocketPath(m), (req, progress) => this.#handleControl(req, progress));
      await this.#controlServer.start();
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
      await this.#controlServer?.close();
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
          kind: s.kind as 'redis' | 'app' | 'haproxy' | 'tor' | 'dashboard',
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
      ...(m.dashboard ? [{ what: 'dashboard', listen: { kind: 'tcp', host: '127.0.0.1', port: m.dashboard.port } as const }] : []),
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
    write(p.haproxyConfig, this.#haproxyText(m));
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
    const watch = (svc: Service, at = this.services.length) => {
      svc.on('state', (state) => {
        this.#saveState();
        if (events.hasSubscribers) events.publish({ type: 'state', service: svc.name, state, pid: svc.pid });
      });
      svc.on('restart', (n, delay) => {
        this.#print(`  ! ${svc.name} exited; restart ${n} in ${delay} ms`);
        if (events.hasSubscribers) events.publish({ type: 'restart', service: svc.name, attempt: n, delayMs: delay });
      });
      this.services.splice(at, 0, svc);
      return svc;
    };
    this.#watch = watch;
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
      for (const inst of app.instances) watch(this.#appService(app, inst));
    }
    watch(
      new Service({
        name: 'haproxy',
        kind: 'haproxy',
        address: m.services.map((s) => describeListen(s.listen)).join(', '),
        // -W: master-worker, so SIGUSR2 reloads the config seamlessly (the master keeps its PID; old workers finish
        // their connections). -db: stay in the foreground.
        command: { file: bins.haproxy, args: ['-W', '-db', '-f', p.haproxyConfig], cwd: p.run },
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
    // The local dashboard (issue 6, docs/dashboard.md): 127.0.0.1 only, never behind haproxy; reads the instances'
    // figures from Redis and the services' states from run/state.json.
    if (m.dashboard) {
      const port = m.dashboard.port;
      const env: Record<string, string> = { DASHBOARD_PORT: String(port), ONIONSCALE_STATE_FILE: p.stateFile };
      if (m.redis.enabled) Object.assign(env, { ONIONSCALE_REDIS: describeListen(m.redis.listen), ONIONSCALE_REDIS_PASSWORD_FILE: p.redisPasswordFile });
      const rt = this.#options.runtime;
      watch(
        new Service({
          name: 'dashboard',
          kind: 'dashboard',
          address: `http://127.0.0.1:${port}/`,
          command: { file: rt.node, args: [join(rt.instancesDir, '..', 'dashboard', 'main.js')], cwd: p.run, env },
          ready: (signal) => waitHttp(port, '/healthz', signal),
          readyTimeoutMs: 15_000,
          ...common('dashboard'),
        }),
      );
    }
  }

  #watch: ((svc: Service, at?: number) => Service) | undefined;

  #appService(app: AppModel, inst: InstanceModel): Service {
    const m = this.#model;
    return new Service({
      name: inst.id,
      kind: 'app',
      address: `127.0.0.1:${inst.port}`,
      command: instanceCommand(m, app, inst, this.#options.runtime),
      ready: (signal) => waitHttp(inst.port, this.#model.balancer.healthPath, signal),
      readyTimeoutMs: app.readyTimeoutMs,
      spawn: this.#options.spawn,
      onLine: (line: string) => this.#log(inst.id, line),
    });
  }

  #haproxyText(m: StackModel): string {
    const slots = Math.max(SERVER_SLOTS, ...m.apps.map((a) => a.instances.length), ...[...this.#instances.values()].map((l) => l.length));
    return renderHaproxyConfig(m, { instances: Object.fromEntries(this.#instances), slots });
  }

  #api(): HaproxyApi {
    if (!this.#model.balancer.adminSocket) {
      throw new OnionscaleError('OSC_ERR_STACK_HAPROXY_API', 'reload and scale need haproxy\'s runtime API: set balancer.adminSocket: true (the default)');
    }
    return new HaproxyApi(this.#model.paths.haproxyAdminSocket);
  }

  #service(name: string): Service {
    const svc = this.services.find((s) => s.name === name);
    if (!svc) throw new OnionscaleError('OSC_ERR_STACK_NOT_RUNNING', `no service ${name} in this stack`);
    return svc;
  }

  /** One control request at a time: a reload and a scale must not drain the same server twice. */
  #handleControl(req: ControlRequest, progress: (line: string) => void): Promise<unknown> {
    const run = async (): Promise<unknown> => {
      if (this.#phase !== 'running' && this.#phase !== 'starting') throw new OnionscaleError('OSC_ERR_STACK_NOT_RUNNING', `the stack is ${this.#phase}`);
      const say = (line: string) => {
        this.#print(`  ~ ${line}`);
        progress(line);
      };
      switch (req.op) {
        case 'ping':
          return { phase: this.#phase };
        case 'reload':
          return this.reload(say);
        case 'scale':
          return this.scale(req.app, req.count, say);
      }
    };
    const next = this.#op.then(run, run);
    this.#op = next.catch(() => {});
    return next;
  }

  /**
   * Apply the config file again, without dropping a request: haproxy.cfg by a master-worker reload, torrc by SIGHUP
   * (same keys, same onion address), then every instance in turn: drain in haproxy, wait for its requests,
   * restart, health check, back in rotation. Instance counts changed in the file are applied like `scale`.
   */
  async reload(progress: (line: string) => void = () => {}): Promise<{ haproxyWorker?: number; instances: string[] }> {
    const next = this.#options.reloadModel?.() ?? this.#model;
    const why = incompatible(this.#model, next);
    if (why.length) throw new OnionscaleError('OSC_ERR_STACK_RELOAD_INCOMPATIBLE', `cannot apply to the running stack: ${why.join('; ')}`);
    this.#model = next;
    for (const svc of this.services) {
      const app = next.apps.find((a) => svc.kind === 'app' && this.#instances.get(a.name)?.some((i) => i.id === svc.name));
      const inst = app && this.#instances.get(app.name)?.find((i) => i.id === svc.name);
      if (app && inst) svc.setCommand(instanceCommand(next, app, inst, this.#options.runtime));
    }
    const worker = await this.reloadHaproxy(progress);
    this.reloadTor(progress);
    const restarted: string[] = [];
    for (const app of next.apps) {
      for (const inst of [...(this.#instances.get(app.name) ?? [])]) {
        progress(`restarting ${inst.id}`);
        await this.#cycle(app, inst, (svc) => svc.restart());
        restarted.push(inst.id);
      }
      if ((this.#instances.get(app.name)?.length ?? 0) !== app.instances.length) await this.scale(app.name, app.instances.length, progress);
    }
    this.#saveState();
    return { ...(worker ? { haproxyWorker: worker } : {}), instances: restarted };
  }

  /** Render haproxy.cfg, have haproxy check it, then SIGUSR2 the master; resolves once a new worker answers. */
  async reloadHaproxy(progress: (line: string) => void = () => {}): Promise<number | undefined> {
    const m = this.#model;
    const file = m.paths.haproxyConfig;
    const tmp = `${file}.new`;
    writeFileSync(tmp, this.#haproxyText(m), { mode: 0o600 });
    const check = await run(this.#bins.haproxy, ['-c', '-q', '-f', tmp]);
    if (check.code !== 0) {
      rmSync(tmp, { force: true });
      throw new OnionscaleError('OSC_ERR_STACK_RELOAD_REJECTED', `haproxy rejected the new haproxy.cfg: ${check.output.trim().slice(0, 400)}`);
    }
    renameSync(tmp, file);
    const haproxy = this.#service('haproxy');
    if (!m.balancer.adminSocket) {
      haproxy.signal('SIGUSR2');
      return undefined;
    }
    const api = this.#api();
    const before = await api.workerPid();
    progress(`haproxy: reloading (worker ${before ?? '?'})`);
    haproxy.signal('SIGUSR2');
    const deadline = Date.now() + 15_000;
    for (;;) {
      const now = await api.workerPid().catch(() => undefined);
      if (now !== undefined && now !== before) {
        progress(`haproxy: new worker ${now}`);
        return now;
      }
      if (Date.now() > deadline) throw new OnionscaleError('OSC_ERR_STACK_TIMEOUT', 'haproxy did not start a new worker within 15 s; read logs/haproxy.log');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Render torrc and SIGHUP tor: it re-reads the file and keeps its keys, circuits and onion address. */
  reloadTor(progress: (line: string) => void = () => {}): void {
    const file = this.#model.paths.torConfig;
    writeFileSync(file, renderTorrc(this.#model, { owningPid: process.pid }), { mode: 0o600 });
    if (this.#service('tor').signal('SIGHUP')) progress('tor: SIGHUP sent (config re-read, same onion address)');
  }

  /**
   * Run `action` on an instance while haproxy sends it nothing: drain (no new requests), wait until its requests
   * are done, maintenance, action, then ready and wait until haproxy's health check sees it UP.
   */
  async #cycle(app: AppModel, inst: InstanceModel, action: (svc: Service) => Promise<void>, back = true): Promise<void> {
    const api = this.#api();
    const backend = `app-${app.name}`;
    const svc = this.#service(inst.id);
    await api.setState(backend, inst.id, 'drain');
    await api.waitServer(backend, inst.id, 'drained', (s) => s.scur === 0 && s.qcur === 0, DRAIN_TIMEOUT_MS).catch(() => {});
    await api.setState(backend, inst.id, 'maint');
    await action(svc);
    if (!back) return;
    await api.setState(backend, inst.id, 'ready');
    await api.waitServer(backend, inst.id, 'UP', (s) => s.status.startsWith('UP'), app.readyTimeoutMs + this.#model.balancer.healthInterval * 4);
  }

  /** Add or remove instances of an app at runtime: spare haproxy server slots are enabled or put back in maintenance. */
  async scale(appName: string, count: number, progress: (line: string) => void = () => {}): Promise<{ app: string; instances: string[] }> {
    const m = this.#model;
    const app = m.apps.find((a) => a.name === appName);
    const list = this.#instances.get(appName);
    if (!app || !list) throw new OnionscaleError('OSC_ERR_STACK_SCALE', `no app "${appName}" (apps: ${m.apps.map((a) => a.name).join(', ')})`);
    const slots = Math.max(SERVER_SLOTS, app.instances.length);
    if (!Number.isInteger(count) || count < 1 || count > slots) {
      throw new OnionscaleError('OSC_ERR_STACK_SCALE', `${appName}: count must be 1..${slots} (haproxy has ${slots} server slots; more needs instances: N in the config and a restart)`);
    }
    const api = this.#api();
    const backend = `app-${app.name}`;
    while (list.length < count) {
      const index = list.length;
      const inst: InstanceModel = { id: `${app.name}-${index + 1}`, index, port: await this.#pickPort(app, index) };
      progress(`starting ${inst.id} on 127.0.0.1:${inst.port}`);
      const last = list.at(-1);
      const at = last ? this.services.findIndex((s) => s.name === last.id) + 1 : this.services.findIndex((s) => s.kind === 'haproxy');
      const svc = this.#watch!(this.#appService(app, inst), at);
      try {
        await svc.start();
        await api.setAddress(backend, inst.id, '127.0.0.1', inst.port);
        await api.setState(backend, inst.id, 'ready');
        await api.waitServer(backend, inst.id, 'UP', (s) => s.status.startsWith('UP'), app.readyTimeoutMs + m.balancer.healthInterval * 4);
      } catch (err) {
        await api.setState(backend, inst.id, 'maint').catch(() => {});
        await svc.stop();
        this.services.splice(this.services.indexOf(svc), 1);
        this.#saveState();
        throw err;
      }
      list.push(inst);
      this.#persistHaproxyConfig();
      progress(`${inst.id} is serving`);
    }
    while (list.length > count) {
      const inst = list.at(-1)!;
      progress(`stopping ${inst.id}`);
      await this.#cycle(app, inst, (svc) => svc.stop(), false);
      const svc = this.#service(inst.id);
      svc.removeAllListeners();
      this.services.splice(this.services.indexOf(svc), 1);
      list.pop();
      this.#persistHaproxyConfig();
      this.#saveState();
    }
    this.#saveState();
    return { app: appName, instances: list.map((i) => i.id) };
  }

  /** Keep haproxy.cfg on disk in step with the running instances, so a restart or reload of haproxy keeps them. */
  #persistHaproxyConfig(): void {
    const file = this.#model.paths.haproxyConfig;
    writeFileSync(`${file}.tmp`, this.#haproxyText(this.#model), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** basePort + index when no other listener of the stack uses it and it is free; else a port the OS picks. */
  async #pickPort(app: AppModel, index: number): Promise<number> {
    const m = this.#model;
    const base = app.instances[0]!.port;
    const taken = new Set<number>([
      ...[...this.#instances.values()].flat().map((i) => i.port),
      ...m.apps.flatMap((a) => a.instances.map((i) => i.port)),
      ...(m.redis.listen.kind === 'tcp' ? [m.redis.listen.port] : []),
      ...(m.tor.socksPort ? [m.tor.socksPort] : []),
      ...(m.dashboard ? [m.dashboard.port] : []),
      ...m.services.flatMap((s) => (s.listen.kind === 'tcp' ? [s.listen.port] : [])),
    ]);
    const preferred = base + index;
    if (preferred <= 65535 && !taken.has(preferred) && (await listenable(preferred))) return preferred;
    for (let i = 0; i < 20; i++) {
      const p = await listenable(0);
      if (typeof p === 'number' && !taken.has(p)) return p;
    }
    throw new OnionscaleError('OSC_ERR_STACK_PORT_IN_USE', `no free loopback port for ${app.name}-${index + 1}`);
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

/** Resolves with the port when 127.0.0.1:<port> can be bound (0: the port the OS picked), false otherwise. */
function listenable(port: number): Promise<number | false> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => {
      const a = srv.address();
      const got = typeof a === 'object' && a ? a.port : false;
      srv.close(() => resolve(got));
    });
  });
}

function run(file: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** What a reload cannot change in a running stack: sockets, ports, state paths, Redis, which program an app runs. */
function incompatible(a: StackModel, b: StackModel): string[] {
  const out: string[] = [];
  const same = (what: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${what} changed`);
  };
  same('state directory paths', a.paths, b.paths);
  same('onion services (names, listeners)', a.services.map((s) => [s.name, s.app, s.listen, s.hiddenServiceDir]), b.services.map((s) => [s.name, s.app, s.listen, s.hiddenServiceDir]));
  same('apps (names, programs, base ports)', a.apps.map((x) => [x.name, x.run, x.instances[0]?.port]), b.apps.map((x) => [x.name, x.run, x.instances[0]?.port]));
  same('redis', a.redis, b.redis);
  same('binaries', a.binaries, b.binaries);
  same('tor.socksPort', a.tor.socksPort, b.tor.socksPort);
  same('dashboard', a.dashboard, b.dashboard);
  return out;
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
