/**
 * torrc for the one tor process that publishes every onion service of the stack. Pure: model in, text out.
 * Options are in tor 0.4.9's manual (tor(1)); the testnet lines come from /work/shared/TOR-TESTNET.md.
 */
import type { OnionServiceModel, StackModel } from '../config/model.js';
import { OnionscaleError } from '../errors.js';
import { checkInt, checkValue, commentText, loopbackAddress, torUnsplittable, torValue } from './escape.js';
import { header } from './header.js';

export interface TorrcOptions {
  /** Adds `__OwningControllerProcess`: tor exits by itself when this PID (the supervisor) dies. */
  owningPid?: number;
}

export function renderTorrc(model: StackModel, options: TorrcOptions = {}): string {
  const out: string[] = [...header(model, '#')];
  const line = (key: string, value: string | number, field: string) => out.push(`${key} ${torValue(field, value)}`);

  out.push(
    '',
    '## Process: foreground under the supervisor (or systemd), log to stdout where it is captured.',
    'RunAsDaemon 0',
    'Log notice stdout',
    '## Scrub addresses from log lines: logs leak less if they are ever shared.',
    'SafeLogging 1',
    '## Batch state writes: fewer disk writes, nothing lost that matters for an onion service.',
    'AvoidDiskWrites 1',
  );
  line('DataDirectory', model.paths.torData, 'paths.torData');
  out.push('## Control port on a unix socket in the 0700 run directory, cookie auth: the supervisor reads descriptor');
  out.push('## upload events here (is the onion published?). Never a TCP control port: anything local could reach it.');
  const control = `unix:${torUnsplittable('paths.torControlSocket', model.paths.torControlSocket)}`;
  out.push(`ControlPort ${torValue('paths.torControlSocket', control)}`);
  out.push('CookieAuthentication 1');
  line('CookieAuthFile', model.paths.torControlCookie, 'paths.torControlCookie');
  if (options.owningPid !== undefined) {
    out.push('## Exit when the supervisor dies, so no orphan keeps publishing the service.');
    out.push(`__OwningControllerProcess ${checkInt('owningPid', options.owningPid, 1)}`);
  }

  out.push('');
  if (model.tor.socksPort === undefined) {
    out.push('## No SOCKS proxy: this tor only serves onions; apps get one when tor.socksPort is set.', 'SocksPort 0');
  } else {
    out.push('## Egress for apps that must fetch through Tor (loopback only).');
    out.push(`SocksPort ${loopbackAddress('tor.socksPort', '127.0.0.1', model.tor.socksPort)}`);
  }

  out.push('', ...networkLines(model));
  for (const service of model.services) out.push('', ...serviceLines(service));
  return out.join('\n') + '\n';
}

function networkLines(model: StackModel): string[] {
  const network = model.tor.network;
  if (network === 'public') return ['## Network: the public Tor network (tor defaults).'];
  if (network === 'disabled') {
    return ['## Network: disabled. tor builds no circuits; used for checks and offline runs.', 'DisableNetwork 1'];
  }
  if ('testnet' in network) {
    // Pure renderer: the testnet's DirAuthority lines come from its state file, read by joinTestnet() beforehand.
    throw new OnionscaleError('OSC_ERR_TESTNET_NOT_UP', 'tor.network: testnet was not resolved to the testnet\'s DirAuthority lines (run through `onionscale up`, which joins it)');
  }
  const out = [
    '## Network: a private test network; never mix these settings with the public network.',
    'TestingTorNetwork 1',
    '## Fetch directory info at once instead of waiting, and build circuits with 2/3 of the (few) paths known.',
    'FetchDirInfoEarly 1',
    'PathsNeededToBuildCircuits 0.67',
  ];
  network.dirAuthorities.forEach((auth, i) => {
    // The text after "DirAuthority" holds spaces by design: unquoted, only control characters are refused.
    out.push(`DirAuthority ${checkValue(`tor.network.dirAuthorities[${i}]`, auth)}`);
  });
  return out;
}

function serviceLines(s: OnionServiceModel): string[] {
  const f = (what: string) => `onion.services[${s.name}].${what}`;
  const target =
    s.listen.kind === 'unix'
      ? `unix:${torUnsplittable(f('listen'), s.listen.path)}`
      : loopbackAddress(f('listen'), s.listen.host, s.listen.port);
  const out = [
    `## Onion service ${commentText(f('name'), s.name)} → haproxy frontend (${target})`,
    `HiddenServiceDir ${torValue(f('hiddenServiceDir'), s.hiddenServiceDir)}`,
  ];
  // Quote the whole value only when the target needs it (tor unquotes a value that starts with `"`).
  const plain = torValue(f('listen'), target) === target;
  s.ports.forEach((port, i) => {
    const value = `${checkInt(f(`ports[${i}]`), port, 1, 65535)} ${target}`;
    out.push(`HiddenServicePort ${plain ? value : torValue(f('listen'), value)}`);
  });
  out.push(
    '## Prefix each stream with a PROXY line whose source address carries the circuit ID (per-circuit limits).',
    'HiddenServiceExportCircuitID haproxy',
  );

  const dos = s.dos;
  if (dos.introDefense) {
    out.push(
      '## DoS: rate-limit introductions at the introduction points.',
      'HiddenServiceEnableIntroDoSDefense 1',
      `HiddenServiceEnableIntroDoSRatePerSec ${checkInt(f('dos.introDefense.rate'), dos.introDefense.rate, 1)}`,
      `HiddenServiceEnableIntroDoSBurstPerSec ${checkInt(f('dos.introDefense.burst'), dos.introDefense.burst, 1)}`,
    );
  }
  if (dos.pow) {
    out.push(
      '## DoS: clients solve a proof-of-work puzzle when the service is overloaded.',
      'HiddenServicePoWDefensesEnabled 1',
      `HiddenServicePoWQueueRate ${checkInt(f('dos.pow.queueRate'), dos.pow.queueRate, 1)}`,
      `HiddenServicePoWQueueBurst ${checkInt(f('dos.pow.queueBurst'), dos.pow.queueBurst, 1)}`,
    );
  }
  if (dos.maxStreams !== undefined) {
    out.push(
      '## DoS: cap concurrent streams per rendezvous circuit (0 = unlimited).',
      `HiddenServiceMaxStreams ${checkInt(f('dos.maxStreams'), dos.maxStreams, 0, 65535)}`,
      `HiddenServiceMaxStreamsCloseCircuit ${dos.maxStreamsCloseCircuit ? 1 : 0}`,
    );
  }
  if (dos.introPoints !== undefined) {
    out.push(`HiddenServiceNumIntroductionPoints ${checkInt(f('dos.introPoints'), dos.introPoints, 3, 20)}`);
  }
  return out;
}
