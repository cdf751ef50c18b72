/**
 * How one app instance is run: program, arguments, environment. Pure derivation from the model, shared by the
 * supervisor (`up`) and the systemd renderer so both run instances the same way.
 */
import { describeListen, type AppModel, type InstanceModel, type StackModel } from './model.js';

export interface Runtime {
  /** Absolute path of the node binary that runs built-in instances. */
  node: string;
  /** Folder with the built-in instance scripts (dist/instances). */
  instancesDir: string;
}

export interface InstanceCommand {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

/** Environment every instance gets. Never the Redis password itself: only the path of its 0600 file. */
export function instanceEnv(model: StackModel, app: AppModel, inst: InstanceModel): Record<string, string> {
  const env: Record<string, string> = {
    ...app.env,
    HOST: '127.0.0.1',
    PORT: String(inst.port),
    ONIONSCALE_APP: app.name,
    ONIONSCALE_INSTANCE: inst.id,
    ONIONSCALE_CIRCUIT_HEADER: model.balancer.circuitHeader,
    ONIONSCALE_HEALTH_PATH: model.balancer.healthPath,
  };
  if (model.redis.enabled) {
    env.ONIONSCALE_REDIS = describeListen(model.redis.listen);
    env.ONIONSCALE_REDIS_PASSWORD_FILE = model.paths.redisPasswordFile;
  }
  if (model.tor.socksPort !== undefined) env.ONIONSCALE_TOR_SOCKS = `127.0.0.1:${model.tor.socksPort}`;
  return env;
}

export function instanceCommand(model: StackModel, app: AppModel, inst: InstanceModel, rt: Runtime): InstanceCommand {
  const env = instanceEnv(model, app, inst);
  const run = app.run;
  switch (run.kind) {
    case 'command':
      return typeof run.command === 'string'
        ? // `exec` so the shell is replaced and the PID we supervise is the app itself.
          { file: '/bin/sh', args: ['-c', `exec ${run.command}`], cwd: run.cwd, env }
        : { file: run.command[0]!, args: run.command.slice(1), cwd: run.cwd, env };
    case 'static':
      return { file: rt.node, args: [`${rt.instancesDir}/static.js`, run.dir], cwd: model.baseDir, env };
    case 'builtin':
      return { file: rt.node, args: [`${rt.instancesDir}/${run.name}.js`], cwd: model.baseDir, env };
  }
}
