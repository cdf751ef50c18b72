/**
 * The validated, normalized, frozen stack model: what renderers and the supervisor consume. Every path is absolute,
 * every duration is milliseconds, every instance has its port. Nothing downstream re-reads the YAML.
 */
import type { DosConfig, ParsedConfig } from './schema.js';

export type ResolvedListen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface StatePaths {
  root: string;
  run: string;
  logs: string;
  secrets: string;
  torData: string;
  hiddenServices: string;
  redisData: string;
  haproxyConfig: string;
  haproxyAdminSocket: string;
  haproxyErrors: string;
  torConfig: string;
  /** tor's control port (unix socket, cookie auth): the supervisor watches descriptor uploads there. */
  torControlSocket: string;
  torControlCookie: string;
  redisConfig: string;
  redisAuthConfig: string;
  redisPasswordFile: string;
  stateFile: string;
}

export interface OnionServiceModel {
  name: string;
  app: string;
  ports: readonly number[];
  listen: ResolvedListen;
  hiddenServiceDir: string;
  dos: DosConfig;
}

export type AppRun =
  | { kind: 'command'; command: string | readonly string[]; cwd: string }
  | { kind: 'static'; dir: string }
  | { kind: 'builtin'; name: 'sample' | 'forum' };

export interface InstanceModel {
  /** `web-1`, `web-2`, … */
  id: string;
  index: number;
  port: number;
}

export interface AppModel {
  name: string;
  run: AppRun;
  env: Readonly<Record<string, string>>;
  readyTimeoutMs: number;
  instances: readonly InstanceModel[];
}

export interface StackModel {
  configFile: string;
  baseDir: string;
  paths: StatePaths;
  services: readonly OnionServiceModel[];
  apps: readonly AppModel[];
  balancer: ParsedConfig['balancer'];
  redis: Omit<ParsedConfig['redis'], 'listen'> & { listen: ResolvedListen };
  tor: ParsedConfig['tor'];
  binaries: ParsedConfig['binaries'];
  /** The local dashboard (127.0.0.1:port); undefined when not configured or disabled. */
  dashboard?: { port: number };
}

export function describeListen(l: ResolvedListen): string {
  return l.kind === 'unix' ? `unix:${l.path}` : l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
