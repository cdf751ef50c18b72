/**
 * One supervised child process with explicit states (after concurrently's `Command`). Spawning and the clock are
 * injected so the state machine is unit-tested without real processes.
 *
 *   idle → starting → ready ⇄ (crashed → backoff → starting) → stopping → stopped
 *                    ↘ failed (never became ready during `start()`)
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { OnionscaleError } from '../errors.js';
import { Backoff, type BackoffOptions } from './backoff.js';

export type ServiceState = 'idle' | 'starting' | 'ready' | 'backoff' | 'stopping' | 'stopped' | 'failed';

export interface ServiceCommand {
  file: string;
  args: readonly string[];
  cwd?: string;
  env?: Record<string, string>;
}

export type SpawnFn = (file: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { unref?(): unknown };
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ServiceOptions {
  name: string;
  kind: string;
  address?: string;
  command: ServiceCommand;
  /** Resolves once the service is ready; should honour the signal. Rejects to keep waiting is NOT allowed: loop inside. */
  ready: (signal: AbortSignal) => Promise<void>;
  readyTimeoutMs: number;
  /** Called for every line the process prints (stdout and stderr). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  restart?: boolean;
  backoff?: BackoffOptions;
  stopGraceMs?: number;
  spawn?: SpawnFn;
  clock?: Clock;
}

export interface ServiceEvents {
  state: [state: ServiceState, service: Service];
  exit: [code: number | null, signal: NodeJS.Signals | null, service: Service];
  restart: [attempt: number, delayMs: number, service: Service];
}

export class Service extends EventEmitter<ServiceEvents> {
  readonly name: string;
  readonly kind: string;
  readonly address: string | undefined;
  #state: ServiceState = 'idle';
  #child: ChildProcess | undefined;
  #startedAt = 0;
  #restarts = 0;
  #timer: unknown;
  #readyAbort: AbortController | undefined;
  #lastLines: string[] = [];
  /** Until the first start succeeded, a crash fails `start()` instead of scheduling a restart. */
  #initial = true;
  readonly #options: ServiceOptions;
  #command: ServiceCommand;
  readonly #spawn: SpawnFn;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: ServiceOptions) {
    super();
    this.name = options.name;
    this.kind = options.kind;
    this.address = options.address;
    this.#options = options;
    this.#command = options.command;
    this.#spawn = options.spawn ?? ((file, args, opts) => nodeSpawn(file, args as string[], opts));
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff(options.backoff);
  }

  get state(): ServiceState {
    return this.#state;
  }
  get pid(): number | undefined {
    return this.#child?.pid;
  }
  get restarts(): number {
    return this.#restarts;
  }
  /** The last lines the process printed: what an error message shows when it failed to start. */
  get lastLines(): readonly string[] {
    return this.#lastLines;
  }

  #setState(state: ServiceState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state, this);
  }

  /** The command the next start or restart runs (`onionscale reload` after a config change). */
  setCommand(command: ServiceCommand): void {
    this.#command = command;
  }

  /** Send a signal to the running process (SIGHUP: tor re-reads its config; SIGUSR2: haproxy master reloads). */
  signal(sig: NodeJS.Signals): boolean {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return false;
    return child.kill(sig);
  }

  /** Stop (SIGTERM, grace, SIGKILL), then start and resolve once ready again; rejects (state `failed`) if it is not. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Start and resolve once ready; reject (state `failed`) if it exits or is not ready in time. */
  async start(): Promise<void> {
    if (this.#state !== 'idle' && this.#state !== 'stopped' && this.#state !== 'failed') return;
    this.#initial = true;
    await this.#launch(true);
  }

  async #launch(first: boolean): Promise<void> {
    this.#setState('starting');
    const { file, args, cwd, env } = this.#command;
    let child: ChildProcess;
    try {
      child = this.#spawn(file, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (cause) {
      this.#setState('failed');
      throw new OnionscaleError('OSC_ERR_STACK_START', `${this.name}: cannot run ${file}`, { cause });
    }
    this.#child = child;
    this.#startedAt = this.#clock.now();
    this.#pipe(child);
    let exitedBeforeReady: ((err: Error) => void) | undefined;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        this.emit('exit', code, signal, this);
        exitedBeforeReady?.(
          new OnionscaleError('OSC_ERR_STACK_START', `${this.name} exited (${signal ?? `code ${code}`}) before it was ready`, {
            details: { service: this.name, lastLines: [...this.#lastLines] },
          }),
        );
        this.#onExit();
      });
    });
    child.once('error', (cause) => {
      exitedBeforeReady?.(new OnionscaleError('OSC_ERR_STACK_START', `${this.name}: cannot run ${file}: ${cause.message}`, { cause }));
    });

    const abort = new AbortController();
    this.#readyAbort = abort;
    const timeout = new Promise<never>((_, reject) => {
      const t = this.#clock.setTimeout(
        () =>
          reject(
            new OnionscaleError('OSC_ERR_STACK_TIMEOUT', `${this.name} was not ready after ${this.#options.readyTimeoutMs} ms`, {
              details: { service: this.name, lastLines: [...this.#lastLines] },
            }),
          ),
        this.#options.readyTimeoutMs,
      );
      abort.signal.addEventListener('abort', () => this.#clock.clearTimeout(t));
    });
    const died = new Promise<never>((_, reject) => (exitedBeforeReady = reject));
    try {
      await Promise.race([this.#options.ready(abort.signal), timeout, died]);
      exitedBeforeReady = undefined;
      this.#initial = false;
      if (this.#state === 'starting') this.#setState('ready');
    } catch (err) {
      exitedBeforeReady = undefined;
      if (first) {
        this.#setState('failed');
        await this.#kill();
        throw err;
      }
      // A restart that fails to become ready: kill it and let the exit handler schedule the next attempt.
      if (this.#child === child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } finally {
      abort.abort();
      this.#readyAbort = undefined;
    }
  }

  #pipe(child: ChildProcess): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      let rest = '';
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) this.#line(line.replace(/\r$/, ''), stream);
      });
      child[stream]?.on('end', () => {
        if (rest) this.#line(rest, stream);
        rest = '';
      });
    }
  }

  #line(line: string, stream: 'stdout' | 'stderr'): void {
    this.#lastLines.push(line);
    if (this.#lastLines.length > 20) this.#lastLines.shift();
    this.#options.onLine?.(line, stream);
  }

  #onExit(): void {
    const state = this.#state;
    if (this.#initial || state === 'stopping' || state === 'stopped' || state === 'failed') return;
    if (this.#options.restart === false) {
      this.#setState('failed');
      return;
    }
    this.#readyAbort?.abort();
    const delay = this.#backoff.next(this.#clock.now() - this.#startedAt);
    this.#restarts++;
    this.#setState('backoff');
    this.emit('restart', this.#restarts, delay, this);
    const t = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === 'backoff') this.#launch(false).catch(() => {});
    }, delay);
    this.#timer = t;
  }

  /** Stop: SIGTERM, then SIGKILL after the grace period. Idempotent; resolves once the process is gone. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#state === 'idle' || this.#state === 'stopped') return;
    this.#readyAbort?.abort();
    this.#setState('stopping');
    await this.#kill();
    this.#setState('stopped');
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = this.#clock.setTimeout(() => child.kill('SIGKILL'), this.#options.stopGraceMs ?? 5000);
    await this.#exited;
    this.#clock.clearTimeout(t);
  }
}
