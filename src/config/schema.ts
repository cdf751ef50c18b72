/**
 * The schema of `onionscale.yaml`: the documentation of the config file and the source of its JSON Schema
 * (`onionscale schema`). It parses and normalizes single values (durations, sizes, listen addresses); rules that
 * span fields (port clashes, references between sections) live in `load.ts`.
 */
import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { parseDuration, parseSize } from '../units.js';

/** Carried in `params.code` of a custom issue so `load.ts` can report our stable code. */
function issue(code: ErrorCode, message: string) {
  return { code: 'custom' as const, message, params: { code } };
}

// Every value may end up in a config file: CR/LF and other control characters are config injection.
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export const safeString = z.string().check((ctx) => {
  if (CONTROL_CHARS.test(ctx.value)) {
    ctx.issues.push({ ...issue('OSC_ERR_CONFIG_CONTROL_CHAR', 'must not contain newlines or control characters'), input: ctx.value });
  }
});

const name = safeString.regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be lower-case letters, digits and dashes (max 31), starting with a letter');

export const duration = z
  .string()
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.issues.push({ ...issue('OSC_ERR_CONFIG_DURATION', `"${text.replace(CONTROL_CHARS, '?')}" is not a duration like 30s, 5m or 24h`), input: text });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'A duration: a number and one of ms, s, m, h, d (e.g. 30s, 24h).' });

export const size = z
  .string()
  .transform((text, ctx) => {
    const bytes = parseSize(text);
    if (bytes === undefined) {
      ctx.issues.push({ ...issue('OSC_ERR_CONFIG_SIZE', `"${text.replace(CONTROL_CHARS, '?')}" is not a size like 64kb or 256mb`), input: text });
      return z.NEVER;
    }
    return bytes;
  })
  .meta({ description: 'A size: a number and one of b, kb, mb, gb (e.g. 256mb).' });

const port = z.number().int().min(1).max(65535);

export type Listen = { kind: 'unix'; path: string | undefined } | { kind: 'tcp'; host: string; port: number };

/**
 * A listener: `unix` (a socket in the state directory), `unix:/abs/path.sock`, `127.0.0.1:8080`, `[::1]:8080`
 * or a bare port (bound to 127.0.0.1). Anything but loopback is refused: behind tor nothing needs to be reachable
 * from the network, and a 0.0.0.0 listener is the classic onion-service leak.
 */
export const listen = z
  .union([safeString, port])
  .transform((value, ctx): Listen => {
    if (typeof value === 'number') return { kind: 'tcp', host: '127.0.0.1', port: value };
    if (value === 'unix') return { kind: 'unix', path: undefined };
    if (value.startsWith('unix:')) {
      const path = value.slice(5);
      if (!path.startsWith('/')) {
        ctx.issues.push({ ...issue('OSC_ERR_CONFIG_VALUE', 'a unix socket path must be absolute (unix:/run/site.sock)'), input: value });
        return z.NEVER;
      }
      return { kind: 'unix', path };
    }
    const m = /^(?:\[(::1)\]|(127\.\d{1,3}\.\d{1,3}\.\d{1,3})|(localhost)):(\d{1,5})$/.exec(value);
    const p = m ? Number(m[4]) : NaN;
    if (!m || !(p >= 1 && p <= 65535)) {
      ctx.issues.push({
        ...issue(
          'OSC_ERR_CONFIG_VALUE',
          `"${value}" is not a loopback listener: use unix, unix:/path.sock, 127.0.0.1:PORT, [::1]:PORT or a port (0.0.0.0 and public addresses are refused)`,
        ),
        input: value,
      });
      return z.NEVER;
    }
    return { kind: 'tcp', host: m[1] ?? m[2] ?? '127.0.0.1', port: p };
  })
  .meta({ description: 'unix | unix:/abs/path.sock | 127.0.0.1:PORT | [::1]:PORT | PORT. Loopback only.' });

const dos = z
  .strictObject({
    introDefense: z
      .strictObject({
        rate: z.number().int().min(1).max(0x7fffffff).default(25).meta({ description: 'HiddenServiceEnableIntroDoSRatePerSec' }),
        burst: z.number().int().min(1).max(0x7fffffff).default(200).meta({ description: 'HiddenServiceEnableIntroDoSBurstPerSec' }),
      })
      .optional()
      .meta({ description: 'Rate-limit introductions at the introduction points (HiddenServiceEnableIntroDoSDefense).' }),
    pow: z
      .strictObject({
        queueRate: z.number().int().min(1).default(250).meta({ description: 'HiddenServicePoWQueueRate' }),
        queueBurst: z.number().int().min(1).default(2500).meta({ description: 'HiddenServicePoWQueueBurst' }),
      })
      .optional()
      .meta({ description: 'Proof-of-work defense: clients solve a puzzle when the service is under load.' }),
    maxStreams: z.number().int().min(0).max(65535).optional().meta({ description: 'HiddenServiceMaxStreams per circuit' }),
    maxStreamsCloseCircuit: z.boolean().default(true).meta({ description: 'Close circuits that exceed maxStreams.' }),
    introPoints: z.number().int().min(3).max(20).optional().meta({ description: 'HiddenServiceNumIntroductionPoints' }),
  })
  .prefault({});

export const onionServiceSchema = z.strictObject({
  name,
  app: name.optional().meta({ description: 'The app this service routes to (default: the first app).' }),
  ports: z
    .array(port)
    .min(1)
    .default([80])
    .meta({ description: 'Virtual ports of the onion service; all reach the balancer frontend.' }),
  listen: listen.prefault('unix').meta({ description: 'Where haproxy listens for this service (tor connects here).' }),
  dos,
});

const appBase = {
  name,
  instances: z.number().int().min(1).max(64).default(2),
  basePort: port.optional().meta({ description: 'First instance port on 127.0.0.1; instance i gets basePort + i.' }),
  env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'env names are upper-case letters, digits and _'), safeString).default({}),
  readyTimeout: duration.prefault('30s').meta({ description: 'How long `up` waits for an instance to answer /healthz.' }),
};

export const appSchema = z.union([
  z.strictObject({
    ...appBase,
    command: z
      .union([safeString.min(1), z.array(safeString).min(1)])
      .meta({ description: 'The program: an argv list, or a string run with /bin/sh -c. It must listen on $PORT (127.0.0.1).' }),
    cwd: safeString.optional(),
  }),
  z.strictObject({ ...appBase, static: safeString.min(1).meta({ description: 'A folder served by built-in static instances.' }) }),
  z.strictObject({
    ...appBase,
    builtin: z
      .enum(['sample', 'forum'])
      .meta({ description: 'A built-in app: sample (a tiny page) or forum (the demo forum of examples/forum, docs/forum.md).' }),
  }),
]);

const balancer = z
  .strictObject({
    circuitHeader: safeString
      .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'must be an HTTP header name')
      .default('X-Onion-Circuit')
      .meta({ description: 'Request header carrying the circuit address; haproxy always overwrites it.' }),
    healthPath: safeString.regex(/^\/[A-Za-z0-9/_.-]*$/, 'must be an absolute path without query').default('/healthz'),
    healthInterval: duration.prefault('2s'),
    retries: z.number().int().min(0).max(10).default(2),
    timeouts: z
      .strictObject({
        connect: duration.prefault('3s'),
        client: duration.prefault('5m').meta({ description: 'Idle time allowed on a client connection; SSE heartbeats must be more frequent.' }),
        server: duration.prefault('5m'),
        httpRequest: duration.prefault('15s').meta({ description: 'Time to receive a full request head (slowloris guard).' }),
        keepAlive: duration.prefault('30s'),
        queue: duration.prefault('10s'),
      })
      .prefault({}),
    perCircuit: z
      .strictObject({
        maxConnections: z.number().int().min(1).default(30).meta({ description: 'Concurrent connections per Tor circuit.' }),
        requestRate: z.number().int().min(1).default(300).meta({ description: 'Requests per circuit per window before 429.' }),
        window: duration.prefault('10s'),
      })
      .prefault({}),
    maxConnections: z.number().int().min(1).default(4096).meta({ description: 'haproxy maxconn.' }),
    maxBodySize: size
      .prefault('16mb')
      .meta({ description: 'Largest request body (declared Content-Length) haproxy forwards; bigger ones get 413 before reaching an instance.' }),
    adminSocket: z.boolean().default(true).meta({ description: 'haproxy runtime API on a 0600 unix socket in the state dir.' }),
  })
  .prefault({});

const redis = z
  .strictObject({
    enabled: z.boolean().default(true),
    listen: listen.prefault('unix').meta({ description: 'unix (default, a 0700 directory) or a loopback port.' }),
    maxmemory: size.prefault('256mb'),
    maxmemoryPolicy: z
      .enum(['allkeys-lru', 'allkeys-lfu', 'volatile-lru', 'volatile-lfu', 'noeviction'])
      .default('allkeys-lru'),
    appendonly: z.boolean().default(true),
  })
  .prefault({});

const tor = z
  .strictObject({
    network: z
      .union([
        z.enum(['public', 'disabled']),
        z.strictObject({
          dirAuthorities: z
            .array(safeString.regex(/^[A-Za-z0-9]+ .+$/, 'must be the text after "DirAuthority"'))
            .min(1)
            .meta({ description: 'DirAuthority lines of a private Tor network (enables TestingTorNetwork).' }),
        }),
        // Join the private network of `onionscale testnet up` (issue 9): its DirAuthority lines are read from the
        // testnet's state file when `up` starts tor (an OSC_ERR_TESTNET_NOT_UP error when it is not running).
        z
          .literal('testnet')
          .transform(() => ({ testnet: undefined as string | undefined }))
          .meta({ description: 'The testnet of `onionscale testnet up` in <stateDir>/testnet.' }),
        z.strictObject({
          testnet: safeString
            .min(1)
            .meta({ description: 'The state directory of `onionscale testnet up --dir DIR` (relative to this file).' }),
        }),
      ])
      .prefault('public')
      .meta({ description: 'public Tor, disabled (DisableNetwork 1), a private test network by its DirAuthority lines, or `testnet` / { testnet: DIR } to join `onionscale testnet up`.' }),
    socksPort: port
      .optional()
      .meta({ description: 'Egress: a SocksPort on 127.0.0.1 for apps that must fetch through Tor. Off by default.' }),
    bootstrapWait: duration
      .prefault('20s')
      .meta({ description: 'How long `up` waits for tor to reach the network before it reports and moves on.' }),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    stateDir: safeString.default('.onionscale').meta({ description: 'Runtime files, keys, logs; relative to this file.' }),
    onion: z
      .strictObject({ services: z.array(onionServiceSchema).min(1).prefault([{ name: 'main' }]) })
      .prefault({}),
    apps: z.array(appSchema).min(1).prefault([{ name: 'web', builtin: 'sample' }]),
    balancer,
    redis,
    tor,
    // The local dashboard (issue 6, docs/dashboard.md): 127.0.0.1 only, never routed by haproxy. Off unless configured.
    dashboard: z
      .strictObject({
        enabled: z.boolean().default(true),
        port: port.default(8090).meta({ description: 'The dashboard listens on 127.0.0.1:PORT (and nowhere else).' }),
      })
      .optional()
      .meta({ description: 'A local dashboard of every service: state, req/s, latency, cache hits, limiter blocks, SSE streams, Redis memory; Prometheus /metrics.' }),
    binaries: z
      .strictObject({
        tor: safeString.default('tor'),
        haproxy: safeString.default('haproxy'),
        redisServer: safeString.default('redis-server'),
      })
      .prefault({}),
  })
  .meta({ title: 'onionscale.yaml', description: 'One file for the whole stack: tor → haproxy → app instances → Redis.' });

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type AppConfig = ParsedConfig['apps'][number];
export type DosConfig = ParsedConfig['onion']['services'][number]['dos'];

export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
