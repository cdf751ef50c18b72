/**
 * Config goes parse (YAML) → validate + normalize (schema) → cross-field rules → frozen model, and every problem
 * of every stage is reported together as `path: message [CODE]` (STYLE.md, changesets).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, OnionscaleError, type ConfigProblem, type ErrorCode } from '../errors.js';
import { appSchema, configSchema, onionServiceSchema, type ParsedConfig } from './schema.js';
import {
  deepFreeze,
  describeListen,
  type AppModel,
  type OnionServiceModel,
  type ResolvedListen,
  type StackModel,
  type StatePaths,
} from './model.js';

export const DEFAULT_CONFIG_FILE = 'onionscale.yaml';
const DEFAULT_BASE_PORT = 8081;
/** sun_path is 108 bytes on Linux; keep room for the terminating NUL. */
const MAX_UNIX_PATH = 107;

export interface LoadOptions {
  /** Override `stateDir` (e.g. `/var/lib/onionscale` when rendering production files). */
  stateDir?: string;
}

export function loadConfigFile(file: string, options: LoadOptions = {}): StackModel {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new OnionscaleError('OSC_ERR_CONFIG_NOT_FOUND', `cannot read config file ${path}`, { cause, details: { file: path } });
  }
  return parseConfig(text, path, options);
}

/** Parse YAML text as the config file at `file` (used for relative paths and messages). */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): StackModel {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '',
        message: e.message.split('\n')[0] ?? e.message,
        code: 'OSC_ERR_CONFIG_YAML',
      })),
    );
  }
  let raw: unknown;
  try {
    // toJS() resolves aliases: the yaml library throws on an alias bomb ("billion laughs"), an uncoded error.
    raw = doc.toJS() ?? {};
  } catch (cause) {
    throw new ConfigError(file, [{ path: '', message: cause instanceof Error ? cause.message : String(cause), code: 'OSC_ERR_CONFIG_YAML' }]);
  }
  const result = configSchema.safeParse(raw);
  if (result.success) {
    const model = buildModel(result.data, file, options);
    const problems = crossFieldProblems(model);
    if (problems.length > 0) throw new ConfigError(file, problems);
    return deepFreeze(model);
  }
  // Report cross-field problems too, from the parts that did validate: all problems at once.
  const problems = result.error.issues.flatMap((i) => toProblems(i));
  const partial = lenientParse(raw);
  if (partial) problems.push(...crossFieldProblems(buildModel(partial, file, options)));
  throw new ConfigError(file, problems);
}

/**
 * The config with every invalid section replaced by its default and every invalid app or service left out, or
 * `undefined` when even that does not parse. Only used to find cross-field problems next to schema problems;
 * indices of dropped entries are kept by leaving holes, so paths still point at the user's lines.
 */
function lenientParse(raw: unknown): ParsedConfig | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const input: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const [key, schema] of Object.entries(configSchema.shape)) {
    if (key !== 'apps' && key !== 'onion' && !schema.safeParse(input[key]).success) delete input[key];
  }
  const keep = (list: unknown, schema: z.ZodType) =>
    Array.isArray(list) ? list.map((x: unknown) => (schema.safeParse(x).success ? x : undefined)) : undefined;
  const apps = keep(input.apps, appSchema);
  const onion = input.onion as { services?: unknown } | undefined;
  const services = keep(onion && typeof onion === 'object' ? onion.services : undefined, onionServiceSchema);
  delete input.apps;
  delete input.onion;
  const rest = configSchema.safeParse(input);
  if (!rest.success) return undefined;
  // Holes stay `undefined` so indices keep matching the file; buildModel and the rules skip them.
  const parse = <T>(list: unknown[] | undefined, schema: z.ZodType<T>, fallback: T[]): T[] =>
    list?.some((x) => x !== undefined) ? list.map((x) => (x === undefined ? (x as T) : schema.parse(x))) : fallback;
  return {
    ...rest.data,
    apps: parse(apps, appSchema, rest.data.apps),
    onion: { services: parse(services, onionServiceSchema, rest.data.onion.services) },
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

function toProblems(i: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): ConfigProblem[] {
  const path = [...prefix, ...i.path];
  switch (i.code) {
    case 'unrecognized_keys':
      return i.keys.map((k) => ({ path: formatPath([...path, k]), message: 'unknown key', code: 'OSC_ERR_CONFIG_UNKNOWN_KEY' }));
    case 'invalid_type':
      return [
        /received undefined$/.test(i.message)
          ? { path: formatPath(path), message: `is required (${i.expected})`, code: 'OSC_ERR_CONFIG_MISSING' }
          : { path: formatPath(path), message: `expected ${i.expected}, got ${/received (\w+)$/.exec(i.message)?.[1] ?? 'something else'}`, code: 'OSC_ERR_CONFIG_TYPE' },
      ];
    case 'invalid_union': {
      // An app is one of three shapes: report the branch that got furthest instead of three lists.
      const branches = i.errors.filter((b) => b.length > 0);
      const best = branches.sort((a, b) => score(a) - score(b))[0];
      if (best && best.some((b) => b.path.length > 0 || b.code !== 'invalid_type')) {
        return best.flatMap((b) => toProblems(b, path));
      }
      return [{ path: formatPath(path), message: i.message === 'Invalid input' ? 'has none of the allowed shapes' : i.message, code: 'OSC_ERR_CONFIG_TYPE' }];
    }
    case 'custom': {
      const code = (i.params as { code?: ErrorCode } | undefined)?.code ?? 'OSC_ERR_CONFIG_VALUE';
      return [{ path: formatPath(path), message: i.message, code }];
    }
    default:
      return [{ path: formatPath(path), message: lowerFirst(i.message.replace(/^Invalid (input|string|option): /, '')), code: 'OSC_ERR_CONFIG_VALUE' }];
  }
}

/** Lower is better: fewer problems, and problems deeper in the object (the branch matched the shape). */
function score(issues: readonly z.core.$ZodIssue[]): number {
  const unknown = issues.filter((i) => i.code === 'unrecognized_keys').length;
  const wrongShape = issues.filter((i) => i.code === 'invalid_type' && i.path.length === 0).length;
  return issues.length + unknown * 2 + wrongShape;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function statePaths(root: string): StatePaths {
  const run = join(root, 'run');
  const secrets = join(root, 'secrets');
  return {
    root,
    run,
    logs: join(root, 'logs'),
    secrets,
    torData: join(root, 'tor'),
    hiddenServices: join(root, 'tor', 'hs'),
    redisData: join(root, 'redis'),
    haproxyConfig: join(run, 'haproxy.cfg'),
    haproxyAdminSocket: join(run, 'haproxy-admin.sock'),
    haproxyErrors: join(run, 'errors'),
    torConfig: join(run, 'torrc'),
    torControlSocket: join(run, 'tor-control.sock'),
    torControlCookie: join(root, 'tor', 'control_auth_cookie'),
    redisConfig: join(run, 'redis.conf'),
    redisAuthConfig: join(secrets, 'redis-auth.conf'),
    redisPasswordFile: join(secrets, 'redis.password'),
    stateFile: join(run, 'state.json'),
  };
}

function resolveListen(l: { kind: 'unix'; path: string | undefined } | ResolvedListen, fallback: string): ResolvedListen {
  if (l.kind === 'unix') return { kind: 'unix', path: l.path ?? fallback };
  return l;
}

function buildModel(cfg: ParsedConfig, file: string, options: LoadOptions): StackModel {
  const baseDir = dirname(file);
  const rootDir = resolve(baseDir, options.stateDir ?? cfg.stateDir);
  const paths = statePaths(rootDir);
  let nextPort = DEFAULT_BASE_PORT;
  // After lenientParse an entry may be a hole (undefined): keep it as one.
  const apps: AppModel[] = cfg.apps.map((a) => {
    if (a === undefined) return a;
    const base = a.basePort ?? nextPort;
    nextPort = Math.max(nextPort, base + a.instances);
    const run: AppModel['run'] =
      'command' in a
        ? { kind: 'command', command: a.command, cwd: a.cwd === undefined ? baseDir : resolve(baseDir, a.cwd) }
        : 'static' in a
          ? { kind: 'static', dir: isAbsolute(a.static) ? a.static : resolve(baseDir, a.static) }
          : { kind: 'builtin', name: a.builtin };
    return {
      name: a.name,
      run,
      env: a.env,
      readyTimeoutMs: a.readyTimeout,
      instances: Array.from({ length: a.instances }, (_, i) => ({ id: `${a.name}-${i + 1}`, index: i, port: base + i })),
    };
  });
  const firstApp = apps.find((a) => a !== undefined)?.name ?? '';
  return {
    configFile: file,
    baseDir,
    paths,
    services: cfg.onion.services.map((s) => s === undefined ? (s as unknown as OnionServiceModel) : ({
      name: s.name,
      app: s.app ?? firstApp,
      ports: s.ports,
      listen: resolveListen(s.listen, join(paths.run, `${s.name}.sock`)),
      hiddenServiceDir: join(paths.hiddenServices, s.name),
      dos: s.dos,
    })),
    apps,
    balancer: cfg.balancer,
    redis: { ...cfg.redis, listen: resolveListen(cfg.redis.listen, join(paths.run, 'redis.sock')) },
    tor: cfg.tor,
    binaries: cfg.binaries,
    ...(cfg.dashboard?.enabled ? { dashboard: { port: cfg.dashboard.port } } : {}),
  };
}

/** Rules that span fields: unique names, references, port and socket clashes, socket path length. */
function crossFieldProblems(m: StackModel): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const dup = (list: readonly ({ name: string } | undefined)[], where: string) => {
    const seen = new Set<string>();
    list.forEach((x, i) => {
      if (x === undefined) return;
      if (seen.has(x.name)) {
        problems.push({ path: `${where}[${i}].name`, message: `"${x.name}" is used twice`, code: 'OSC_ERR_CONFIG_DUPLICATE_NAME' });
      }
      seen.add(x.name);
    });
  };
  dup(m.services, 'onion.services');
  dup(m.apps, 'apps');
  const apps = m.apps.filter((a) => a !== undefined);
  const appNames = new Set(apps.map((a) => a.name));
  m.services.forEach((s, i) => {
    if (s === undefined) return;
    if (!appNames.has(s.app) && apps.length === m.apps.length) {
      problems.push({
        path: `onion.services[${i}].app`,
        message: `no app is named "${s.app}" (apps: ${[...appNames].join(', ')})`,
        code: 'OSC_ERR_CONFIG_REFERENCE',
      });
    }
    const ports = new Set<number>();
    s.ports.forEach((p, j) => {
      if (ports.has(p)) problems.push({ path: `onion.services[${i}].ports[${j}]`, message: `virtual port ${p} is listed twice`, code: 'OSC_ERR_CONFIG_PORT_CLASH' });
      ports.add(p);
    });
  });

  // Every listener on this machine, by the config path that owns it.
  const listeners: { path: string; listen: ResolvedListen }[] = [];
  m.services.forEach((s, i) => s && listeners.push({ path: `onion.services[${i}].listen`, listen: s.listen }));
  m.apps.forEach((a, i) => {
    if (a === undefined) return;
    for (const inst of a.instances) {
      listeners.push({ path: `apps[${i}] (instance ${inst.id})`, listen: { kind: 'tcp', host: '127.0.0.1', port: inst.port } });
    }
    if (a.instances.at(-1)!.port > 65535) {
      problems.push({ path: `apps[${i}].basePort`, message: `instances would need ports above 65535`, code: 'OSC_ERR_CONFIG_VALUE' });
    }
  });
  if (m.redis.enabled) listeners.push({ path: 'redis.listen', listen: m.redis.listen });
  if (m.dashboard) listeners.push({ path: 'dashboard.port', listen: { kind: 'tcp', host: '127.0.0.1', port: m.dashboard.port } });
  if (m.tor.socksPort !== undefined) {
    listeners.push({ path: 'tor.socksPort', listen: { kind: 'tcp', host: '127.0.0.1', port: m.tor.socksPort } });
  }
  if (/\s/.test(m.paths.run)) {
    // tor reads socket paths (ControlPort, HiddenServicePort) up to the first space; quoting is refused.
    problems.push({ path: 'stateDir', message: `${m.paths.root} contains whitespace, which tor cannot use in socket paths`, code: 'OSC_ERR_CONFIG_VALUE' });
  }
  const owner = new Map<string, string>();
  for (const { path, listen } of listeners) {
    // 127.0.0.1:80 and [::1]:80 are different sockets; 127.0.0.2 too — but keep it simple and strict: one port, one owner.
    const key = listen.kind === 'unix' ? `unix:${listen.path}` : `tcp:${listen.port}`;
    const first = owner.get(key);
    if (first !== undefined) {
      problems.push({ path, message: `${describeListen(listen)} is already used by ${first}`, code: 'OSC_ERR_CONFIG_PORT_CLASH' });
    } else {
      owner.set(key, path);
    }
    if (listen.kind === 'unix' && path.startsWith('onion.') && /\s/.test(listen.path)) {
      // tor splits HiddenServicePort values on spaces (quoting is refused too): such a socket cannot be reached.
      problems.push({ path, message: `socket path ${listen.path} contains whitespace, which tor cannot use; pick a stateDir without spaces`, code: 'OSC_ERR_CONFIG_VALUE' });
    }
    if (listen.kind === 'unix' && Buffer.byteLength(listen.path) > MAX_UNIX_PATH) {
      problems.push({
        path,
        message: `socket path ${listen.path} is longer than ${MAX_UNIX_PATH} bytes; use a shorter stateDir`,
        code: 'OSC_ERR_CONFIG_VALUE',
      });
    }
  }
  return problems;
}
