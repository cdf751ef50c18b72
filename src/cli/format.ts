/** The one status table `up` and `status` print. */
import type { StackState } from '../supervisor/state-file.js';

export function formatStatus(state: StackState, supervisorAlive = true): string {
  const rows = [['SERVICE', 'STATE', 'PID', 'RESTARTS', 'ADDRESS']];
  for (const s of state.services) rows.push([s.name, s.state, s.pid ? String(s.pid) : '-', String(s.restarts), s.address ?? '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  lines.push('');
  for (const o of state.onions) {
    lines.push(`onion ${o.service}: ${o.hostname ? `http://${o.hostname}` : '(no hostname yet)'}  ports ${o.ports.join(',')} → ${o.app}`);
    if (state.tor.network !== 'disabled' && o.descriptor) {
      const d = o.descriptor;
      lines.push(
        d.uploaded > 0
          ? `  descriptor: published (${d.uploaded} upload${d.uploaded === 1 ? '' : 's'} accepted by HSDirs, last ${d.lastUploadAt ?? '?'})`
          : `  descriptor: not published yet${d.failed > 0 ? ` (${d.failed} upload(s) failed)` : ''} — visitors cannot reach it until it is`,
      );
    }
  }
  const t = state.tor;
  const tor =
    t.network === 'disabled'
      ? 'disabled by config (DisableNetwork 1): the onion address exists but is not published'
      : t.reached
        ? `reached (${t.network === 'testing' ? 'private test network' : 'Tor network'}, bootstrapped 100%)`
        : `NOT reached yet: bootstrapped ${t.bootstrap}% (${t.summary}). tor keeps trying; the site is reachable over Tor once this reaches 100%.`;
  lines.push(`tor network: ${tor}`);
  lines.push(`supervisor: pid ${state.supervisor.pid}${supervisorAlive ? '' : ' (NOT running)'}, phase ${state.phase}, state in ${state.stateDir}`);
  if (state.error) lines.push(`error: ${state.error}`);
  return lines.join('\n');
}
