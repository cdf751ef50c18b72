/** Find a program on PATH (plus /usr/sbin and /sbin, where Debian puts tor and haproxy for non-root PATHs). */
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { OnionscaleError } from '../errors.js';

export function findBinary(name: string, what: string): string {
  const candidates = isAbsolute(name)
    ? [name]
    : [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'].filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new OnionscaleError('OSC_ERR_STACK_BINARY_MISSING', `${what} (${name}) is not installed or not on PATH`, { details: { binary: name } });
}
