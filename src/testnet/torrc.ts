/**
 * torrc lines of the testnet's nodes. Pure: values in, lines out. Settings, order and traps come from
 * /work/shared/TOR-TESTNET.md (measured with Debian's tor 0.4.9.11): equal bandwidth weights, a fast voting
 * schedule, every relay a possible guard and HSDir. Nothing here can reach the public network: every node runs
 * `TestingTorNetwork 1` with only the private DirAuthority lines.
 */
import { OnionscaleError } from '../errors.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function safe(field: string, value: string): string {
  if (CONTROL.test(value)) {
    throw new OnionscaleError('OSC_ERR_RENDER_UNSAFE_VALUE', `testnet: ${field} contains a newline or control character`, { details: { field } });
  }
  return value;
}

export interface CommonNode {
  name: string;
  dataDir: string;
  dirAuthorityLines: readonly string[];
  /** `__OwningControllerProcess`: the node exits when this PID does. */
  ownerPid?: number | undefined;
}

/** Lines every node shares. `ShutdownWaitLength 0`: relays exit at once on SIGTERM instead of draining 30 s. */
export function commonLines(n: CommonNode): string[] {
  return [
    'TestingTorNetwork 1',
    `DataDirectory ${safe('dataDir', n.dataDir)}`,
    `Nickname ${safe('name', n.name)}`,
    'RunAsDaemon 0',
    `Log notice file ${safe('dataDir', n.dataDir)}/notice.log`,
    'ShutdownWaitLength 0',
    'PathsNeededToBuildCircuits 0.67',
    ...(n.ownerPid === undefined ? [] : [`__OwningControllerProcess ${n.ownerPid}`]),
    ...n.dirAuthorityLines.map((l) => `DirAuthority ${safe('dirAuthorityLines', l)}`),
  ];
}

/**
 * A relay's ORPort. With latency emulation it listens on `orPort` without advertising it, and advertises
 * `advertisedOrPort` (the delaying proxy) without listening there, so every peer's connection crosses the proxy.
 */
export function relayLines(orPort: number, advertisedOrPort: number): string[] {
  const ports =
    advertisedOrPort === orPort
      ? [`ORPort 127.0.0.1:${orPort}`]
      : [`ORPort 127.0.0.1:${orPort} NoAdvertise`, `ORPort 127.0.0.1:${advertisedOrPort} NoListen`];
  return ['SocksPort 0', ...ports, 'Address 127.0.0.1', 'AssumeReachable 1', 'ExitRelay 0', 'ExitPolicy reject *:*'];
}

export function authorityLines(dirPort: number, bandwidthFile: string): string[] {
  return [
    `DirPort 127.0.0.1:${dirPort}`,
    'AuthoritativeDirectory 1',
    'V3AuthoritativeDirectory 1',
    // Every relay may be a guard and an HSDir: in a 5-node network tor would otherwise have too few.
    'TestingDirAuthVoteGuard *',
    'TestingDirAuthVoteHSDir *',
    'TestingV3AuthInitialVotingInterval 5',
    'TestingV3AuthInitialVoteDelay 2',
    'TestingV3AuthInitialDistDelay 2',
    'V3AuthVotingInterval 10',
    'V3AuthVoteDelay 2',
    'V3AuthDistDelay 2',
    'V3AuthNIntervalsValid 2',
    'AuthDirVoteStableGuaranteeMinUptime 0',
    'AuthDirVoteStableGuaranteeMTBF 0',
    // Equal weights: without them early onion circuits pick the same authority as guard and last hop and fail.
    `V3BandwidthsFile ${safe('bandwidthFile', bandwidthFile)}`,
  ];
}

/** The client: SOCKS (IsolateSOCKSAuth is tor's default) and a cookie ControlPort, both on 127.0.0.1. */
export function clientLines(socksPort: number, controlPort: number): string[] {
  return [`SocksPort 127.0.0.1:${socksPort}`, `ControlPort 127.0.0.1:${controlPort}`, 'CookieAuthentication 1', 'FetchDirInfoEarly 1'];
}

/** `DirAuthority` text for one authority; `orPort` is the advertised one (the proxy's with latency on). */
export function dirAuthorityLine(a: { name: string; orPort: number; dirPort: number; v3ident: string; fingerprint: string }): string {
  return `${a.name} orport=${a.orPort} no-v2 v3ident=${a.v3ident} 127.0.0.1:${a.dirPort} ${a.fingerprint}`;
}

/** Nicknames the microdesc consensus lists with the Running flag. */
export function runningNodes(consensus: string): Set<string> {
  const running = new Set<string>();
  let current: string | undefined;
  for (const line of consensus.split('\n')) {
    if (line.startsWith('r ')) current = line.split(' ')[1];
    else if (line.startsWith('s ') && current && line.split(' ').includes('Running')) running.add(current);
  }
  return running;
}
