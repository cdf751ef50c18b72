/** tor-network: whether tor reached the Tor network (from the supervisor's state; bootstrap lines of tor's log). */
import type { StackState } from '../../supervisor/state-file.js';
import { finding, type Finding } from '../types.js';

export function checkTorNetwork(state: StackState | undefined): Finding {
  const id = 'tor-network';
  const title = 'tor reached the Tor network';
  if (!state) return finding(id, 'warn', title, 'skipped: the stack is not running', 'Start it with `onionscale up`.');
  const t = state.tor;
  if (t.reached) return finding(id, 'ok', title, `${t.network} network, bootstrapped ${t.bootstrap}%`);
  const why =
    t.network === 'disabled'
      ? 'network disabled by config (tor.network: disabled): the onion is not reachable'
      : `${t.network} network, bootstrapped ${t.bootstrap}% (${t.summary || 'no progress yet'})`;
  return finding(
    id,
    'warn',
    title,
    why,
    t.network === 'disabled'
      ? 'Set tor.network: public to publish the onion service.'
      : 'Check logs/tor.log: a clock more than a few hours off, a firewall, or censorship (bridges) keep tor from bootstrapping.',
  );
}
