/** tor-network: whether tor reached the Tor network (from the supervisor's state; bootstrap lines of tor's log). */
import type { StackState } from '../../supervisor/state-file.js';
import { finding, type Finding } from '../types.js';

export function checkTorNetwork(state: StackState | undefined): Finding {
  const id = 'tor-network';
  const title = 'tor reached the Tor network';
  if (!state) return finding(id, 'warn', title, 'skipped: the stack is not running', 'Start it with `onionscale up`.');
  const t = state.tor;
  if (t.reached) {
    // Reaching the network is not enough: visitors need the descriptor on the HSDirs (tor's HS_DESC UPLOADED).
    const unpublished = (Array.isArray(state.onions) ? state.onions : []).filter((o) => (o.descriptor?.uploaded ?? 0) === 0).map((o) => o.service);
    if (unpublished.length === 0) return finding(id, 'ok', title, `${t.network} network, bootstrapped ${t.bootstrap}%, every onion published`);
    return finding(
      id,
      'warn',
      title,
      `${t.network} network, bootstrapped ${t.bootstrap}%, but not published yet: ${unpublished.join(', ')}`,
      'Wait a minute after `up` (tor uploads descriptors shortly after bootstrap); if it stays so, read logs/tor.log.',
    );
  }
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
