/**
 * haproxy.cfg (haproxy 2.6, Debian 12): one frontend per onion service (tor connects to it with a PROXY line), one
 * backend per app (its instances), per-circuit limits in stick tables. Pure: model in, text out.
 * Keywords are in haproxy's configuration.txt (2.6).
 */
import type { AppModel, InstanceModel, OnionServiceModel, StackModel } from '../config/model.js';
import { formatDuration } from '../units.js';
import { checkInt, haproxyArg, loopbackAddress } from './escape.js';
import { header } from './header.js';
import { ERROR_STATUSES, errorFilePath } from './pages.js';

/** tor's `HiddenServiceExportCircuitID haproxy` source addresses: fc00:dead:beef:4dad::<32-bit circuit ID>. */
export const CIRCUIT_PREFIX = 'fc00:dead:beef:4dad::/64';

/** Response headers that name software or hops; removed from app responses and haproxy's own. */
const DISCLOSING_HEADERS = ['Server', 'X-Powered-By', 'Via'] as const;

const I = '    ';

/** Errors haproxy's HTTP/1 mux answers with its built-in page whatever errorfile says (mux_h1.c, h1_send_error). */
const SILENT_STATUSES: ReadonlySet<number> = new Set([400, 408]);

/** A duration in haproxy's syntax (`5m`, `2500ms`): exact, and readable next to the YAML it came from. */
function time(field: string, ms: number): string {
  return formatDuration(checkInt(field, ms));
}

/** What the supervisor knows beyond the model once the stack runs (`onionscale scale`). */
export interface HaproxyRenderOptions {
  /** The running instances per app name, when they differ from the model's. */
  instances?: Readonly<Record<string, readonly InstanceModel[]>>;
  /**
   * Server lines per backend, at least the running instances: the rest are rendered `disabled` (maintenance) so
   * `onionscale scale` enables them through the runtime API without a reload (issue 7).
   */
  slots?: number;
}

export function renderHaproxyConfig(model: StackModel, options: HaproxyRenderOptions = {}): string {
  const b = model.balancer;
  const t = b.timeouts;
  const out: string[] = [...header(model, '#'), ''];

  out.push(
    'global',
    `${I}# Foreground (the supervisor runs \`haproxy -db -f\`, systemd \`-Ws\`): no daemon here, logs to stdout.`,
    `${I}log stdout format raw local0`,
    `${I}maxconn ${checkInt('balancer.maxConnections', b.maxConnections, 1)}`,
  );
  if (b.adminSocket) {
    out.push(
      `${I}# Runtime API (drain/ready servers) on a 0600 unix socket: never a TCP port, never a stats web page.`,
      `${I}# expose-fd listeners: on a master-worker reload (-W, SIGUSR2) the new worker takes the listening sockets`,
      `${I}# over from the old one, so no connection is refused while it starts.`,
      `${I}stats socket ${haproxyArg('paths.haproxyAdminSocket', model.paths.haproxyAdminSocket)} mode 600 level admin expose-fd listeners`,
    );
  }

  out.push(
    '',
    'defaults',
    `${I}mode http`,
    `${I}log global`,
    `${I}option httplog`,
    `${I}option dontlognull`,
    `${I}# SSE and other long responses live while bytes flow: app heartbeats must come more often than the`,
    `${I}# client and server timeouts below, or haproxy closes the stream as idle.`,
    `${I}timeout connect ${time('balancer.timeouts.connect', t.connect)}`,
    `${I}timeout client ${time('balancer.timeouts.client', t.client)}`,
    `${I}timeout server ${time('balancer.timeouts.server', t.server)}`,
    `${I}# Upgraded connections (WebSocket) idle as long as a client may.`,
    `${I}timeout tunnel ${time('balancer.timeouts.client', t.client)}`,
    `${I}# Slowloris guard: the whole request head must arrive within this.`,
    `${I}timeout http-request ${time('balancer.timeouts.httpRequest', t.httpRequest)}`,
    `${I}timeout http-keep-alive ${time('balancer.timeouts.keepAlive', t.keepAlive)}`,
    `${I}timeout queue ${time('balancer.timeouts.queue', t.queue)}`,
    `${I}# A failed attempt goes to another instance. haproxy itself retries any method (configuration.txt,`,
    `${I}# "retry-on"); each backend below limits retries after a request was sent to GET/HEAD/OPTIONS.`,
    `${I}option redispatch`,
    `${I}retries ${checkInt('balancer.retries', b.retries, 0, 100)}`,
    `${I}retry-on conn-failure empty-response response-timeout 0rtt-rejected`,
    `${I}# Our own small pages: no software name or version, no-store.`,
  );
  for (const status of ERROR_STATUSES) {
    if (SILENT_STATUSES.has(status)) continue;
    out.push(`${I}errorfile ${status} ${haproxyArg(`errorfile ${status}`, errorFilePath(model, status))}`);
  }
  out.push(
    `${I}# 400 and 408 for unparsable or too slow requests come from haproxy's HTTP/1 layer, which ignores errorfile`,
    `${I}# pages and sends its stock text (a fingerprint) unless the page is empty: close those silently (issue 7).`,
    ...[...SILENT_STATUSES].map((status) => `${I}errorfile ${status} /dev/null`),
  );

  for (const service of model.services) out.push('', ...frontendLines(model, service));
  for (const app of model.apps) out.push('', ...backendLines(model, app, options));
  return out.join('\n') + '\n';
}

function frontendLines(model: StackModel, s: OnionServiceModel): string[] {
  const b = model.balancer;
  const pc = b.perCircuit;
  const f = (what: string) => `onion.services[${s.name}].${what}`;
  const h = haproxyArg('balancer.circuitHeader', b.circuitHeader);
  // accept-proxy: tor sends `PROXY TCP6 fc00:dead:beef:4dad::HHHH:LLLL ::1 <id & 0xffff> <virtport>` first.
  const bind =
    s.listen.kind === 'unix'
      ? `bind ${haproxyArg(f('listen'), `unix@${s.listen.path}`)} mode 600 accept-proxy`
      : `bind ${haproxyArg(f('listen'), loopbackAddress(f('listen'), s.listen.host, s.listen.port))} accept-proxy`;
  const window = checkInt('balancer.perCircuit.window', pc.window, 1);
  return [
    `frontend ${haproxyArg(f('name'), `onion-${s.name}`)}`,
    `${I}${bind}`,
    `${I}# The circuit header is ours alone: drop any a client sent, then set it from tor's PROXY source address.`,
    `${I}# The app reads the circuit ID from its last 32 bits.`,
    `${I}http-request del-header ${h}`,
    `${I}http-request set-header ${h} %[src] if { src ${CIRCUIT_PREFIX} }`,
    `${I}# Per-circuit limits: behind tor every client is loopback, the circuit is the only client identity.`,
    `${I}# Tracked in http-request: tcp-request connection rules run before the PROXY line is applied.`,
    `${I}stick-table type ipv6 size 200k expire ${time('balancer.perCircuit.window', window * 3)} store conn_cur,http_req_rate(${time('balancer.perCircuit.window', window)})`,
    `${I}http-request track-sc0 src`,
    `${I}# Both counters include the current request: "gt N" admits N.`,
    `${I}http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${checkInt('balancer.perCircuit.requestRate', pc.requestRate, 1)} }`,
    `${I}http-request deny deny_status 429 if { sc_conn_cur(0) gt ${checkInt('balancer.perCircuit.maxConnections', pc.maxConnections, 1)} }`,
    `${I}# A body bigger than balancer.maxBodySize never reaches an instance (a short page of ours, not a stock one).`,
    `${I}http-request return status 413 content-type "text/plain; charset=utf-8" string "request body too large" hdr cache-control no-store if { req.hdr_val(content-length) gt ${checkInt('balancer.maxBodySize', b.maxBodySize, 1)} }`,
    `${I}# No software names or hops in responses; http-after-response also covers haproxy's own responses.`,
    ...DISCLOSING_HEADERS.map((name) => `${I}http-response del-header ${name}`),
    ...DISCLOSING_HEADERS.map((name) => `${I}http-after-response del-header ${name}`),
    `${I}default_backend ${haproxyArg(f('app'), `app-${s.app}`)}`,
  ];
}

function backendLines(model: StackModel, app: AppModel, options: HaproxyRenderOptions): string[] {
  const b = model.balancer;
  const f = (what: string) => `apps[${app.name}].${what}`;
  const running = options.instances?.[app.name] ?? app.instances;
  const slots = Math.max(running.length, options.slots ?? 0);
  const last = running.at(-1) ?? app.instances.at(-1)!;
  const spare: InstanceModel[] = [];
  for (let i = 0; running.length + spare.length < slots; i++) {
    const index = last.index + 1 + i;
    // A spare slot's port is a placeholder: `scale` sets the real address (`set server … addr`) before enabling it.
    spare.push({ id: `${app.name}-${index + 1}`, index, port: Math.min(65535, last.port + 1 + i) });
  }
  return [
    `backend ${haproxyArg(f('name'), `app-${app.name}`)}`,
    `${I}# leastconn, not roundrobin: SSE streams stay open for minutes and would pile up on some instances.`,
    `${I}balance leastconn`,
    `${I}# Replaying a request that reached an instance is only safe for safe methods; connection failures`,
    `${I}# (nothing was sent) are still retried for every method.`,
    `${I}http-request disable-l7-retry unless { method GET HEAD OPTIONS }`,
    `${I}option httpchk`,
    `${I}http-check send meth GET uri ${haproxyArg('balancer.healthPath', b.healthPath)}`,
    `${I}http-check expect status 200`,
    `${I}default-server inter ${time('balancer.healthInterval', checkInt('balancer.healthInterval', b.healthInterval, 1))} fall 2 rise 1`,
    ...running.map(
      (inst) =>
        `${I}server ${haproxyArg(f('instances'), inst.id)} ${loopbackAddress(`${f('instances')}[${inst.id}]`, '127.0.0.1', inst.port)} check`,
    ),
    ...(spare.length ? [`${I}# Spare slots for \`onionscale scale\`: in maintenance until enabled through the runtime API.`] : []),
    ...spare.map(
      (inst) =>
        `${I}server ${haproxyArg(f('instances'), inst.id)} ${loopbackAddress(`${f('instances')}[${inst.id}]`, '127.0.0.1', inst.port)} check disabled`,
    ),
  ];
}
