/**
 * The one errors module (STYLE.md §5). Every error onionscale throws is an `OnionscaleError` whose `code` is one of
 * `ERROR_CODES`; users match on `err.code`, never on the message. `docs/errors.md` lists every code and a test fails
 * when the two drift apart.
 *
 * Each entry says what went wrong in general and how to fix it; the message of a thrown error adds the specifics.
 */
export const ERROR_CODES = {
  // config
  OSC_ERR_CONFIG_NOT_FOUND: { status: 500, hint: 'Create one with `onionscale init`, or pass --config <file>.' },
  OSC_ERR_CONFIG_YAML: { status: 500, hint: 'Fix the YAML syntax at the line and column shown.' },
  OSC_ERR_CONFIG_INVALID: { status: 500, hint: 'Fix every problem listed; `onionscale schema` prints the JSON Schema.' },
  OSC_ERR_CONFIG_TYPE: { status: 500, hint: 'Give the value the type the schema expects.' },
  OSC_ERR_CONFIG_UNKNOWN_KEY: { status: 500, hint: 'Remove the key or fix its spelling.' },
  OSC_ERR_CONFIG_MISSING: { status: 500, hint: 'Add the required key.' },
  OSC_ERR_CONFIG_VALUE: { status: 500, hint: 'Use one of the allowed values or a value in range.' },
  OSC_ERR_CONFIG_CONTROL_CHAR: {
    status: 500,
    hint: 'Remove the newline or control character: values are written into config files verbatim.',
  },
  OSC_ERR_CONFIG_DURATION: { status: 500, hint: 'Write durations as a number and a unit: 500ms, 30s, 5m, 24h, 7d.' },
  OSC_ERR_CONFIG_SIZE: { status: 500, hint: 'Write sizes as a number and a unit: 64kb, 256mb, 1gb.' },
  OSC_ERR_CONFIG_PORT_CLASH: { status: 500, hint: 'Give every listener its own port or socket path.' },
  OSC_ERR_CONFIG_DUPLICATE_NAME: { status: 500, hint: 'Give every service and app a unique name.' },
  OSC_ERR_CONFIG_REFERENCE: { status: 500, hint: 'Point at a name defined elsewhere in the file.' },
  OSC_ERR_CONFIG_EXISTS: { status: 500, hint: 'Pass --force to overwrite the existing file.' },
  // renderers
  OSC_ERR_RENDER_UNSAFE_VALUE: {
    status: 500,
    hint: 'A value cannot be written safely into the config file (CR/LF or control characters, a non-loopback address, a number out of range, whitespace in a socket path); fix the field named in the message.',
  },
  // supervisor / CLI
  OSC_ERR_STACK_RUNNING: { status: 500, hint: 'Stop it first with `onionscale down`, or use another state directory.' },
  OSC_ERR_STACK_NOT_RUNNING: { status: 500, hint: 'Start it with `onionscale up`.' },
  OSC_ERR_STACK_START: { status: 500, hint: 'Read the service log in the state directory (logs/) for the cause.' },
  OSC_ERR_STACK_PORT_IN_USE: { status: 500, hint: 'Stop whatever listens there or pick another port in the config.' },
  OSC_ERR_STACK_BINARY_MISSING: {
    status: 500,
    hint: 'Install it: sudo apt-get install tor haproxy redis-server (or set its path in the config).',
  },
  OSC_ERR_STACK_TIMEOUT: { status: 500, hint: 'The service did not become ready in time; read its log in logs/.' },
  OSC_ERR_STACK_HAPROXY_API: {
    status: 500,
    hint: 'haproxy\'s runtime API (run/haproxy-admin.sock) did not answer or refused: is balancer.adminSocket on and haproxy running? Read logs/haproxy.log.',
  },
  OSC_ERR_STACK_CONTROL: {
    status: 500,
    hint: 'The running `up` did not answer on run/control.sock: check `onionscale status`; run the command as the user that runs the stack.',
  },
  OSC_ERR_STACK_RELOAD_INCOMPATIBLE: {
    status: 500,
    hint: 'These config changes cannot be applied to a running stack (names, ports, sockets, Redis, state paths): `onionscale down`, then `up`.',
  },
  OSC_ERR_STACK_RELOAD_REJECTED: {
    status: 500,
    hint: 'haproxy -c rejected the newly rendered haproxy.cfg; the running stack keeps the old one. Fix the config and reload again.',
  },
  OSC_ERR_STACK_SCALE: { status: 500, hint: 'Give an app name from the config and a count between 1 and the number of server slots shown.' },
  OSC_ERR_CLI_USAGE: { status: 500, hint: 'Run `onionscale help` for the verbs and their options.' },
  // HTTP / request input
  OSC_ERR_CIRCUIT_HEADER: {
    status: 400,
    hint: 'The circuit header must be the address haproxy derives from tor\'s PROXY line (fc00:dead:beef:4dad::HHHH:LLLL).',
  },
  OSC_ERR_CIRCUIT_REQUIRED: {
    status: 400,
    hint: 'This route is limited per Tor circuit: reach it through the onion service (haproxy sets the circuit header), not directly.',
  },
  OSC_ERR_BODY_TOO_LARGE: { status: 413, hint: 'Send a smaller body or raise the configured limit.' },
  OSC_ERR_BAD_REQUEST: { status: 400, hint: 'Fix the request.' },
  // cache
  OSC_ERR_CACHE_KEY: {
    status: 500,
    hint: 'Keys must be 1..1024 bytes without whitespace, control characters or `*`; pass { hashKey: true } to hash it.',
  },
  OSC_ERR_CACHE_VALUE_UNDEFINED: { status: 500, hint: 'Cache null instead of undefined, or skip the set.' },
  OSC_ERR_CACHE_VALUE_TOO_LARGE: { status: 500, hint: 'Store a smaller value or raise maxValueBytes.' },
  OSC_ERR_CACHE_SERIALIZE: { status: 500, hint: 'The value must survive the serializer (JSON by default).' },
  OSC_ERR_CACHE_LOADER_TIMEOUT: { status: 500, hint: 'The loader took longer than its timeout; raise it or speed it up.' },
  OSC_ERR_CACHE_OPTIONS: { status: 500, hint: 'Fix the cache option named in the message.' },
  OSC_ERR_CACHE_CLOSED: { status: 500, hint: 'The cache (or its store) was closed; create a new one.' },
  OSC_ERR_CACHE_TIMEOUT: {
    status: 500,
    hint: 'Redis answered slower than commandTimeout; the cache bypasses L2 until it recovers (never thrown to callers).',
  },
  // rate limits
  OSC_ERR_RATELIMIT_OPTIONS: { status: 500, hint: 'Fix the rate-limit rule or option named in the message.' },
  OSC_ERR_RATELIMIT_SUBJECT: {
    status: 400,
    hint: 'The request lacks what a rule is keyed by (a circuit header missing means the request bypassed the balancer).',
  },
  OSC_ERR_PIPELINE_OPTIONS: { status: 500, hint: 'Fix the request pipeline option named in the message.' },
  OSC_ERR_RATELIMITED: { status: 429, hint: 'Wait for the time given in Retry-After, then try again.' },
  // sessions
  OSC_ERR_SESSION_OPTIONS: { status: 500, hint: 'Fix the session option named in the message (secrets: at least 32 characters each).' },
  OSC_ERR_SESSION_VALUE: { status: 500, hint: 'Session values must be JSON-serializable and within maxFieldBytes; field names non-empty.' },
  OSC_ERR_SESSION_STORE: { status: 500, hint: 'Redis did not answer; the session could not be read or saved. It recovers by itself when Redis is back.' },
  // events
  OSC_ERR_EVENTS_OPTIONS: { status: 500, hint: 'Fix the events option named in the message.' },
  OSC_ERR_EVENTS_CHANNEL: { status: 400, hint: 'Channel names are 1–128 characters of letters, digits and . _ - : only.' },
  OSC_ERR_EVENTS_PAYLOAD: { status: 413, hint: 'Publish a smaller event or raise maxPayloadBytes.' },
  OSC_ERR_EVENTS_FORBIDDEN: { status: 403, hint: 'The authorize hook refused this channel for this request.' },
  OSC_ERR_EVENTS_CLOSED: { status: 500, hint: 'The event bus was closed; create a new one.' },
  // private Tor test network (onionscale testnet)
  OSC_ERR_TESTNET_NOT_UP: {
    status: 500,
    hint: 'Start it first: `onionscale testnet up` (same config, or --dir DIR matching tor.network.testnet); `onionscale testnet status` shows what is running.',
  },
  OSC_ERR_TESTNET_RUNNING: { status: 500, hint: 'A testnet already runs in this directory: use it, or stop it with `onionscale testnet down`.' },
  OSC_ERR_TESTNET_START: { status: 500, hint: 'The testnet did not come up; the message holds the tail of every node\'s log (notice.log in each node directory).' },
  OSC_ERR_TESTNET_OPTIONS: { status: 500, hint: 'Fix the testnet option named in the message (`onionscale help` lists them).' },
  OSC_ERR_TESTNET_CONTROL: { status: 500, hint: 'tor\'s control port did not answer or refused the command; is that tor running, and is the cookie file readable?' },
  OSC_ERR_TESTNET_SOCKS: { status: 500, hint: 'The Tor client could not open the stream: SOCKS reply 4 right after start-up means the descriptor is not published yet; retry.' },
} as const satisfies Record<string, { status: number; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  cause?: unknown;
  /** Machine-readable context (paths, names, ports); never secrets. */
  details?: Record<string, unknown>;
  /** HTTP status override; defaults to the code's status. */
  status?: number;
}

export class OnionscaleError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly hint: string;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OnionscaleError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.hint = ERROR_CODES[code].hint;
    this.details = options.details ?? {};
  }

  /** `message` followed by how to fix it: what the CLI prints. */
  describe(): string {
    return `${this.message}\n  fix: ${this.hint} [${this.code}]`;
  }
}

/** One problem in a config file, as `path: message`. */
export interface ConfigProblem {
  path: string;
  message: string;
  code: ErrorCode;
}

/** All problems of a config file at once (thrown after parse → normalize → cross-field rules). */
export class ConfigError extends OnionscaleError {
  readonly problems: readonly ConfigProblem[];
  readonly file: string;

  constructor(file: string, problems: readonly ConfigProblem[]) {
    const n = problems.length;
    super(
      'OSC_ERR_CONFIG_INVALID',
      `${file}: ${n} problem${n === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  ${p.path || '(root)'}: ${p.message} [${p.code}]`).join('\n'),
      { details: { file, problems } },
    );
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = file;
  }

  override describe(): string {
    return `${this.message}\n  fix: ${this.hint}`;
  }
}

export function isOnionscaleError(err: unknown): err is OnionscaleError {
  return err instanceof OnionscaleError;
}
