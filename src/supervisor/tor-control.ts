/**
 * Watches tor's control port (unix socket, cookie auth) for onion descriptor events, so `up` and `status` can say
 * whether each onion is actually published — bootstrap 100% only means tor reached the network.
 * Protocol: tor's control-spec (AUTHENTICATE <hex cookie>, SETEVENTS HS_DESC; async replies start with "650 ").
 */
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';

export interface DescriptorEvent {
  /** `UPLOAD` (attempt), `UPLOADED` (an HSDir accepted it) or `FAILED`. */
  action: 'UPLOAD' | 'UPLOADED' | 'FAILED';
  /** The onion address without `.onion`. */
  address: string;
}

const HS_DESC_RE = /^650 HS_DESC (UPLOAD|UPLOADED|FAILED) ([a-z2-7]{56}) /;

/** One control-port line to a descriptor event, or `undefined` for anything else (other events, replies). */
export function parseDescriptorEvent(line: string): DescriptorEvent | undefined {
  const m = HS_DESC_RE.exec(line);
  return m ? { action: m[1] as DescriptorEvent['action'], address: m[2]! } : undefined;
}

export class TorControlWatcher {
  readonly #socketPath: string;
  readonly #cookieFile: string;
  readonly #onEvent: (e: DescriptorEvent) => void;
  #socket: Socket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(socketPath: string, cookieFile: string, onEvent: (e: DescriptorEvent) => void) {
    this.#socketPath = socketPath;
    this.#cookieFile = cookieFile;
    this.#onEvent = onEvent;
  }

  /** Connect now and again whenever the connection ends (tor restarted), until `stop()`. Never throws. */
  start(): void {
    if (this.#stopped || this.#socket) return;
    void this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  async #connect(): Promise<void> {
    let cookie: string;
    try {
      cookie = (await readFile(this.#cookieFile)).toString('hex');
    } catch {
      return this.#retry();
    }
    if (this.#stopped) return;
    const s = connect(this.#socketPath);
    this.#socket = s;
    let buf = '';
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`AUTHENTICATE ${cookie}\r\nSETEVENTS HS_DESC\r\n`));
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        // A refused AUTHENTICATE or SETEVENTS ends the session; tor closes it and we retry later.
        const event = parseDescriptorEvent(line);
        if (event) this.#onEvent(event);
      }
      if (buf.length > 64 * 1024) s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (this.#socket === s) this.#socket = undefined;
      this.#retry();
    });
  }

  #retry(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#connect(), 1000);
    this.#timer.unref();
  }
}
