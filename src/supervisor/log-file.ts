/**
 * One service's log in `logs/<service>.log`: buffered appends (a busy haproxy logs a line per request; the
 * supervisor's event loop must not block on a sync write each time) and size-based rotation to `<name>.log.1`, so
 * a long-running stack never fills the disk. Write errors (disk full) are swallowed: logs must not stop the stack.
 */
import { createWriteStream, openSync, renameSync, statSync, type WriteStream } from 'node:fs';

export const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;

export class LogFile {
  readonly path: string;
  readonly #maxBytes: number;
  #stream: WriteStream;
  #size: number;

  constructor(path: string, maxBytes = DEFAULT_MAX_LOG_BYTES) {
    this.path = path;
    this.#maxBytes = maxBytes;
    this.#size = sizeOf(path);
    this.#stream = this.#open();
  }

  write(line: string): void {
    const text = line + '\n';
    if (this.#size > 0 && this.#size + text.length > this.#maxBytes) this.#rotate();
    this.#size += Buffer.byteLength(text);
    this.#stream.write(text);
  }

  /** Flush and close; resolves once the data is on disk. Idempotent. */
  close(): Promise<void> {
    const s = this.#stream;
    if (s.closed || s.writableFinished) return Promise.resolve();
    return new Promise((resolve) => s.end(() => resolve()));
  }

  #open(): WriteStream {
    // Open synchronously: a rotation right after must find the file already open, or the old stream's lazy open
    // would land on the new file.
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'a', 0o600);
    } catch {
      // Unwritable log dir: the stream below reports (and swallows) the error.
    }
    const s = fd === undefined ? createWriteStream(this.path, { flags: 'a', mode: 0o600 }) : createWriteStream(this.path, { fd });
    s.on('error', () => {});
    return s;
  }

  #rotate(): void {
    // Rename first: the old stream keeps writing its buffered lines into the renamed file (same inode).
    try {
      renameSync(this.path, `${this.path}.1`);
    } catch {
      // Nothing to rotate (file removed by hand): start over.
    }
    this.#stream.end();
    this.#stream = this.#open();
    this.#size = 0;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
