/**
 * systemd units for running the stack in production without the supervisor: Redis, one unit per app instance,
 * haproxy, tor, and `onionscale.target` grouping them. They start the same programs with the same rendered config
 * files and the same instance commands (`instanceCommand`) as `onionscale up`. Pure: model in, units out.
 */
import type { AppModel, InstanceModel, StackModel } from '../config/model.js';
import { instanceCommand, type Runtime } from '../config/instance.js';
import { checkInt, systemdEnvironment, systemdExecArg, systemdName, systemdPathListEntry, systemdValue, unsafeValue } from './escape.js';
import { header } from './header.js';

export interface SystemdOptions {
  runtime: Runtime;
  /** The unprivileged user every service runs as (default `onionscale`; create it with `useradd --system`). */
  user?: string;
}

export interface SystemdUnit {
  name: string;
  content: string;
}

export const TARGET_UNIT = 'onionscale.target';
export const REDIS_UNIT = 'onionscale-redis.service';
export const HAPROXY_UNIT = 'onionscale-haproxy.service';
export const TOR_UNIT = 'onionscale-tor.service';

export function instanceUnitName(inst: InstanceModel): string {
  return `onionscale-${systemdName('instance id', inst.id)}.service`;
}

export function renderSystemdUnits(model: StackModel, options: SystemdOptions): SystemdUnit[] {
  const user = systemdName('user', options.user ?? 'onionscale');
  const ctx: Ctx = { model, user, protectHome: protectHome(model, options.runtime) };
  const units: SystemdUnit[] = [];
  if (model.redis.enabled) units.push(redisUnit(ctx));
  for (const app of model.apps) for (const inst of app.instances) units.push(instanceUnit(ctx, app, inst, options.runtime));
  units.push(haproxyUnit(ctx), torUnit(ctx));
  units.unshift(targetUnit(model, units.map((u) => u.name)));
  return units;
}

interface Ctx {
  model: StackModel;
  user: string;
  protectHome: 'yes' | 'read-only';
}

/**
 * `ProtectHome=yes` hides /home entirely, and ReadWritePaths cannot bring a path back from there. A stack kept
 * under a home directory (the default `.onionscale` next to a config in ~/site) gets `read-only` instead.
 */
function protectHome(model: StackModel, rt: Runtime): 'yes' | 'read-only' {
  const paths = [model.paths.root, model.baseDir, rt.node, rt.instancesDir];
  for (const app of model.apps) {
    if (app.run.kind === 'command') paths.push(app.run.cwd);
    if (app.run.kind === 'static') paths.push(app.run.dir);
  }
  return paths.some((p) => /^\/(home|root|run\/user)(\/|$)/.test(p)) ? 'read-only' : 'yes';
}

function exec(field: string, file: string, args: readonly string[]): string {
  // `$$` un-escaping applies to arguments; whether systemd applies it to the program path is not documented, so
  // a `$` there is refused rather than rendered into a unit that may run something else.
  if (file.includes('$')) throw unsafeValue(`${field}[0]`, 'a program path with "$" cannot be expressed safely in a unit');
  return [file, ...args].map((a, i) => systemdExecArg(`${field}[${i}]`, a)).join(' ');
}

/** Hardening shared by every service: no privileges, a read-only system, only the sockets they need. */
function hardening(ctx: Ctx, writable: readonly { field: string; path: string }[], lowPorts: boolean): string[] {
  const out = [
    `User=${ctx.user}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ProtectHome=${ctx.protectHome}`,
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'UMask=0077',
  ];
  // A listener below 1024 (e.g. 127.0.0.1:80) needs exactly this one capability; everything else needs none.
  if (lowPorts) out.push('CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'AmbientCapabilities=CAP_NET_BIND_SERVICE');
  else out.push('CapabilityBoundingSet=');
  if (writable.length > 0) out.push(`ReadWritePaths=${writable.map((w) => systemdPathListEntry(w.field, w.path)).join(' ')}`);
  return out;
}

function unitFile(model: StackModel, sections: Record<string, string[]>): string {
  const out = [...header(model, '#'), '# Local changes: `systemctl edit <unit>` (a drop-in survives a re-render).'];
  for (const [name, lines] of Object.entries(sections)) out.push('', `[${name}]`, ...lines);
  return out.join('\n') + '\n';
}

const INSTALL = [`WantedBy=${TARGET_UNIT}`];

function targetUnit(model: StackModel, names: readonly string[]): SystemdUnit {
  return {
    name: TARGET_UNIT,
    content: unitFile(model, {
      Unit: ['Description=onionscale stack (tor, haproxy, app instances, Redis)', `Wants=${names.join(' ')}`],
      Install: ['WantedBy=multi-user.target'],
    }),
  };
}

function redisUnit(ctx: Ctx): SystemdUnit {
  const { model } = ctx;
  const p = model.paths;
  const listen = model.redis.listen;
  return {
    name: REDIS_UNIT,
    content: unitFile(model, {
      Unit: ['Description=onionscale Redis (cache, sessions, rate limits)', `PartOf=${TARGET_UNIT}`],
      Service: [
        'Type=simple',
        `ExecStart=${exec('redis ExecStart', model.binaries.redisServer, [p.redisConfig])}`,
        'Restart=on-failure',
        'RestartSec=1s',
        ...hardening(
          ctx,
          [
            { field: 'paths.redisData', path: p.redisData },
            // The unix socket is created in run/.
            ...(listen.kind === 'unix' ? [{ field: 'paths.run', path: p.run }] : []),
          ],
          listen.kind === 'tcp' && listen.port < 1024,
        ),
      ],
      Install: INSTALL,
    }),
  };
}

function instanceUnit(ctx: Ctx, app: AppModel, inst: InstanceModel, rt: Runtime): SystemdUnit {
  const { model } = ctx;
  const cmd = instanceCommand(model, app, inst, rt);
  const f = `apps[${app.name}] instance ${inst.id}`;
  const port = checkInt(`${f} port`, inst.port, 1, 65535);
  // Wants, not Requires: the library rides out a Redis restart (L1 cache, reconnects); Requires would also
  // restart every instance whenever Redis is restarted by hand.
  const redis = model.redis.enabled ? [`Wants=${REDIS_UNIT}`, `After=${REDIS_UNIT}`] : [];
  return {
    name: instanceUnitName(inst),
    content: unitFile(model, {
      Unit: [
        `Description=${systemdValue(`${f} description`, `onionscale app ${app.name}, instance ${inst.id} (127.0.0.1:${port})`)}`,
        ...redis,
        `PartOf=${TARGET_UNIT}`,
      ],
      Service: [
        'Type=simple',
        `WorkingDirectory=${systemdValue(`${f} cwd`, cmd.cwd)}`,
        // App env lands in the unit file (readable by local users via `systemctl show`): keep secrets in files.
        ...Object.entries(cmd.env)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([k, v]) => `Environment=${systemdEnvironment(`${f} env ${k}`, k, v)}`),
        `ExecStart=${exec(`${f} ExecStart`, cmd.file, cmd.args)}`,
        'Restart=on-failure',
        'RestartSec=1s',
        ...hardening(ctx, [], port < 1024),
      ],
      Install: INSTALL,
    }),
  };
}

function haproxyUnit(ctx: Ctx): SystemdUnit {
  const { model } = ctx;
  const bin = model.binaries.haproxy;
  const cfg = model.paths.haproxyConfig;
  const instances = model.apps.flatMap((a) => a.instances.map(instanceUnitName));
  const lowPorts = model.services.some((s) => s.listen.kind === 'tcp' && s.listen.port < 1024);
  return {
    name: HAPROXY_UNIT,
    content: unitFile(model, {
      Unit: [
        'Description=onionscale haproxy (balancer in front of the app instances)',
        // Wants, not Requires: a restarted instance must not restart haproxy (and drop every connection);
        // health checks take a missing instance out of rotation.
        ...(instances.length > 0 ? [`Wants=${instances.join(' ')}`, `After=${instances.join(' ')}`] : []),
        `PartOf=${TARGET_UNIT}`,
      ],
      Service: [
        // -Ws: master-worker with systemd readiness; USR2 reloads seamlessly (new workers, old ones drain).
        'Type=notify',
        `ExecStartPre=${exec('haproxy ExecStartPre', bin, ['-c', '-q', '-f', cfg])}`,
        `ExecStart=${exec('haproxy ExecStart', bin, ['-Ws', '-f', cfg])}`,
        `ExecReload=${exec('haproxy ExecReload', bin, ['-c', '-q', '-f', cfg])}`,
        'ExecReload=/bin/kill -USR2 $MAINPID',
        'KillMode=mixed',
        'SuccessExitStatus=143',
        'Restart=on-failure',
        'RestartSec=1s',
        // run/ holds the frontend sockets and the admin socket.
        ...hardening(ctx, [{ field: 'paths.run', path: model.paths.run }], lowPorts),
      ],
      Install: INSTALL,
    }),
  };
}

function torUnit(ctx: Ctx): SystemdUnit {
  const { model } = ctx;
  const bin = model.binaries.tor;
  // An empty defaults file: only our torrc counts, not a distribution's /etc/tor/torrc-defaults.
  const args = ['-f', model.paths.torConfig, '--defaults-torrc', '/dev/null'];
  return {
    name: TOR_UNIT,
    content: unitFile(model, {
      Unit: [
        'Description=onionscale tor (publishes the onion services)',
        // Started last: the descriptor goes out only when haproxy can take the first connection.
        `Wants=${HAPROXY_UNIT} network-online.target`,
        `After=${HAPROXY_UNIT} network-online.target`,
        `PartOf=${TARGET_UNIT}`,
      ],
      Service: [
        'Type=simple',
        `ExecStartPre=${exec('tor ExecStartPre', bin, ['--verify-config', ...args])}`,
        `ExecStart=${exec('tor ExecStart', bin, args)}`,
        // SIGHUP re-reads the torrc: added or changed onion services without losing the others' circuits.
        'ExecReload=/bin/kill -HUP $MAINPID',
        'Restart=on-failure',
        'RestartSec=5s',
        ...hardening(ctx, [{ field: 'paths.torData', path: model.paths.torData }], false),
      ],
      Install: INSTALL,
    }),
  };
}
