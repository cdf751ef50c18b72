#!/usr/bin/env node
/**
 * The onionscale CLI. ONE error boundary (`main`): commands throw, never call `process.exit` themselves.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
 */
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_FILE, loadConfigFile } from '../config/load.js';
import type { Runtime } from '../config/instance.js';
import { configJsonSchema } from '../config/schema.js';
import { formatAudit, runAudit } from '../audit/index.js';
import { formatDoctor, runDoctor } from '../audit/doctor.js';
import { ConfigError, OnionscaleError, isOnionscaleError } from '../errors.js';
import { renderHaproxyConfig, renderRedisConf, renderSystemdUnits, renderTorrc } from '../render/index.js';
import { remoteDown, remoteStatus } from '../supervisor/remote.js';
import { controlRequest } from '../supervisor/control.js';
import { readState } from '../supervisor/state-file.js';
import { Stack, controlSocketPath } from '../supervisor/stack.js';
import { joinTestnet } from '../testnet/join.js';
import { TESTNET_HELP, testnetCommand } from '../testnet/cli.js';
import { formatStatus } from './format.js';
import { STARTER_CONFIG } from './starter.js';

const here = dirname(fileURLToPath(import.meta.url));
const runtime: Runtime = { node: process.execPath, instancesDir: resolve(here, '../instances') };

const HELP = `onionscale — run and scale a Tor onion service

usage: onionscale <verb> [options]

verbs:
  init [--force]            write a commented onionscale.yaml
  check                     validate the config; all problems at once
  up [--verbose]            start redis → instances → haproxy → tor and supervise them (Ctrl-C stops)
  status [--json]           show the running stack (from any shell)
  down                      stop the running stack (from any shell)
  reload                    apply the config file to the running stack without dropping requests: haproxy
                            master-worker reload, tor SIGHUP, rolling restart of every instance
  scale <app> <N>           run N instances of an app (add/remove at runtime, haproxy keeps running)
  audit [--json]            check the stack for onion-service pitfalls (public listeners, key modes,
                            Redis auth, leaking headers, PROXY enforcement, admin pages, egress); exit 1 on a failure
  doctor [--json]           the audit plus Redis limits/AOF, unix socket modes, own error pages, no admin page
                            through the onion, clock sanity: a pass/fail table with a fix per check; exit 1 on a failure
  render <what> [--state-dir DIR]
                            print a production file: tor | haproxy | redis | systemd
${TESTNET_HELP}
  schema                    print the config's JSON Schema
  help                      this text

options:
  -c, --config FILE         config file (default: ./onionscale.yaml or $ONIONSCALE_CONFIG)
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  force: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  json: { type: 'boolean' },
  'state-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  // testnet (src/testnet/cli.ts)
  dir: { type: 'string' },
  relays: { type: 'string' },
  latency: { type: 'string' },
  'owner-pid': { type: 'string' },
  wait: { type: 'string' },
  version: { type: 'boolean' },
} as const;

function usage(message: string): OnionscaleError {
  return new OnionscaleError('OSC_ERR_CLI_USAGE', message);
}

export async function main(argv: string[], io: Io): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (isOnionscaleError(err)) {
      io.err(err instanceof ConfigError ? err.describe() : `error: ${err.describe()}`);
      return err instanceof ConfigError || err.code.startsWith('OSC_ERR_CONFIG') || err.code === 'OSC_ERR_CLI_USAGE' ? 2 : 1;
    }
    io.err(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (cause) {
    throw usage(cause instanceof Error ? cause.message : String(cause));
  }
  const { values, positionals } = parsed;
  const [verb = 'help', ...rest] = positionals;
  const configFile = resolve(values.config ?? process.env.ONIONSCALE_CONFIG ?? DEFAULT_CONFIG_FILE);
  const load = () => loadConfigFile(configFile, values['state-dir'] ? { stateDir: resolve(values['state-dir']) } : {});

  if (values.version) {
    const pkg = JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { version: string };
    io.out(pkg.version);
    return 0;
  }
  if (values.help || verb === 'help') {
    io.out(HELP);
    return 0;
  }
  switch (verb) {
    case 'init': {
      if (existsSync(configFile) && !values.force) {
        throw new OnionscaleError('OSC_ERR_CONFIG_EXISTS', `${configFile} already exists`);
      }
      writeFileSync(configFile, STARTER_CONFIG);
      io.out(`wrote ${configFile}\nnext: onionscale up`);
      return 0;
    }
    case 'check': {
      const m = load();
      const instances = m.apps.reduce((n, a) => n + a.instances.length, 0);
      io.out(`${configFile}: ok — ${m.services.length} onion service(s), ${m.apps.length} app(s) with ${instances} instance(s), redis ${m.redis.enabled ? 'on' : 'off'}`);
      return 0;
    }
    case 'schema':
      io.out(JSON.stringify(configJsonSchema(), null, 2));
      return 0;
    case 'render': {
      const what = rest[0];
      const m = load();
      switch (what) {
        case 'tor':
          io.out(renderTorrc(joinTestnet(m)));
          return 0;
        case 'haproxy':
          io.out(renderHaproxyConfig(m));
          return 0;
        case 'redis':
          io.out(renderRedisConf(m));
          return 0;
        case 'systemd':
          for (const unit of renderSystemdUnits(m, { runtime })) io.out(`# ---- ${unit.name} ----\n${unit.content}`);
          return 0;
        default:
          throw usage(`render what? one of: tor, haproxy, redis, systemd (got ${what ?? 'nothing'})`);
      }
    }
    case 'status': {
      const m = load();
      const st = remoteStatus(m);
      if (!st) {
        if (values.json) io.out(JSON.stringify({ running: false }));
        else io.out(`not running (no state in ${m.paths.root})`);
        return 3;
      }
      if (values.json) io.out(JSON.stringify({ running: st.supervisorAlive, ...st.state }, null, 2));
      else io.out(formatStatus(st.state, st.supervisorAlive));
      return st.supervisorAlive ? 0 : 3;
    }
    case 'down': {
      const m = load();
      const result = await remoteDown(m, io.out);
      io.out(result === 'stopped' ? 'stopped' : 'nothing was running');
      return 0;
    }
    case 'audit': {
      const m = load();
      const report = await runAudit(m, readState(m.paths.stateFile));
      io.out(values.json ? JSON.stringify(report, null, 2) : formatAudit(report));
      return report.summary.exitCode;
    }
    case 'reload':
    case 'scale': {
      const m = load();
      let req: { op: 'reload' } | { op: 'scale'; app: string; count: number } = { op: 'reload' };
      if (verb === 'scale') {
        const [app, n] = rest;
        if (!app || !n || !/^\d+$/.test(n)) throw usage('usage: onionscale scale <app> <N>');
        req = { op: 'scale', app, count: Number(n) };
      }
      const result = await controlRequest(controlSocketPath(m), req, (line) => io.out(`  ${line}`));
      io.out(values.json ? JSON.stringify(result) : `${verb}: done`);
      return 0;
    }
    case 'doctor': {
      const m = load();
      const report = await runDoctor(m, readState(m.paths.stateFile));
      io.out(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
      return report.summary.exitCode;
    }
    case 'testnet':
      return testnetCommand(rest[0], values, load, io);
    case 'up':
      // tor.network: testnet → the running testnet's DirAuthority lines (OSC_ERR_TESTNET_NOT_UP when it is down).
      return up(() => joinTestnet(load()), io, Boolean(values.verbose));
    default:
      throw usage(`unknown verb "${verb}"`);
  }
}

async function up(load: () => ReturnType<typeof loadConfigFile>, io: Io, verbose: boolean): Promise<number> {
  const model = load();
  const stack = new Stack(model, { runtime, print: io.out, verbose, reloadModel: load });
  let signals = 0;
  let stopped: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      io.err(`${sig} again: stopping without waiting`);
      for (const s of stack.services) if (s.pid) process.kill(s.pid, 'SIGKILL');
      return;
    }
    io.out(`\n${sig}: stopping (reverse order) …`);
    void stack.down().then(() => stopped?.());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const done = new Promise<void>((r) => (stopped = r));
  io.out(`onionscale: starting the stack from ${model.configFile}`);
  try {
    await stack.up();
  } catch (err) {
    if (signals > 0) {
      await done;
      return 0;
    }
    throw err;
  }
  if (signals === 0) {
    io.out('');
    io.out(formatStatus(stack.snapshot()));
    io.out(`\nlogs: ${model.paths.logs}/<service>.log — Ctrl-C or \`onionscale down\` stops everything`);
  }
  await done;
  io.out('all services stopped');
  return 0;
}

// Run when executed directly (bin), not when imported by tests.
// npm's bin is a symlink: compare real paths.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv.slice(2), {
    out: (s) => process.stdout.write(s + '\n'),
    err: (s) => process.stderr.write(s + '\n'),
  });
  process.exitCode = code;
}
