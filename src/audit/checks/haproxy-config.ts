/**
 * Checks on the haproxy.cfg the running haproxy was started with. admin-page: no stats web page (behind tor every
 * visitor is 127.0.0.1, so "allow from localhost" admin pages are open to the world). circuit-header (config side):
 * every frontend deletes the circuit header a client sent before setting its own.
 */
import type { StackModel } from '../../config/model.js';
import { finding, type Finding, type Part } from '../types.js';

const SECTION = /^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|program|http-errors|ring|cache|mailers)(\s+(\S+))?/;

export interface HaproxySection {
  keyword: string;
  name: string;
  /** Directive lines, trimmed, comments removed. */
  lines: string[];
}

export function parseHaproxySections(text: string): HaproxySection[] {
  const out: HaproxySection[] = [];
  let current: HaproxySection | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trimEnd();
    if (!line.trim()) continue;
    const m = /^\S/.test(line) ? SECTION.exec(line) : null;
    if (m) {
      current = { keyword: m[1]!, name: m[3] ?? '', lines: [] };
      out.push(current);
    } else if (current) {
      current.lines.push(line.trim());
    }
  }
  return out;
}

// `stats uri|enable|realm|auth|admin|refresh|show-*|hide-version|scope` turn on the web page; `stats socket`
// (global, a 0600 unix socket) and `stats timeout`/`maxconn` are the runtime API and fine.
const STATS_PAGE = /^stats\s+(uri|enable|realm|auth|admin|refresh|show-\S+|hide-version|scope|http-request)\b/i;
const EXPORTER = /^http-request\s+use-service\s+prometheus-exporter\b/i;

export function checkAdminPage(config: { text: string; source: string }): Finding {
  const id = 'admin-page';
  const title = 'the balancer serves no admin or stats page';
  const hits: string[] = [];
  for (const s of parseHaproxySections(config.text)) {
    for (const l of s.lines) {
      if (STATS_PAGE.test(l) || EXPORTER.test(l)) hits.push(`${s.keyword}${s.name ? ` ${s.name}` : ''}: "${l}"`);
    }
  }
  if (hits.length) {
    return finding(
      id,
      'fail',
      title,
      `${config.source} has ${hits.join('; ')}`,
      'Remove the stats page: everything arriving from tor comes from 127.0.0.1, so an admin page "only for localhost" is open to every visitor. Use the runtime API socket (stats socket … mode 600) instead.',
    );
  }
  return finding(id, 'ok', title, `${config.source}: no stats uri / stats enable / prometheus exporter`);
}

export function circuitHeaderConfig(model: StackModel, config: { text: string; source: string }): Part[] {
  const header = model.balancer.circuitHeader.toLowerCase();
  const frontends = parseHaproxySections(config.text).filter((s) => s.keyword === 'frontend' || s.keyword === 'listen');
  return model.services.map((svc): Part => {
    const f = frontends.find((s) => s.name === `onion-${svc.name}`);
    if (!f) {
      return { level: 'fail', detail: `${config.source} has no frontend onion-${svc.name}`, fix: 'Restart the stack so haproxy runs the rendered configuration.' };
    }
    const del = f.lines.findIndex((l) => /^http-request\s+del-header\s+(\S+)/i.exec(l)?.[1]?.toLowerCase() === header);
    const set = f.lines.findIndex((l) => /^http-request\s+set-header\s+(\S+)/i.exec(l)?.[1]?.toLowerCase() === header);
    if (del < 0 || (set >= 0 && set < del)) {
      return {
        level: 'fail',
        detail: `frontend onion-${svc.name} does not delete a client-sent ${model.balancer.circuitHeader} before setting it`,
        fix: `Add "http-request del-header ${model.balancer.circuitHeader}" before the set-header line: otherwise clients choose their own circuit identity.`,
      };
    }
    return { level: 'ok', detail: `frontend onion-${svc.name} drops a client-sent ${model.balancer.circuitHeader}` };
  });
}
