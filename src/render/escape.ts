/**
 * The one gate every value passes before a renderer writes it into a config file (STYLE.md §2). The model is
 * validated already; this is defense in depth, because a CR/LF in a path or header name would let a config value
 * inject whole directives (e.g. a second `HiddenServicePort`, or a `stats socket` on a TCP port).
 *
 * `checkValue` is the gate; the format helpers below call it first and then quote for their format. Error
 * messages name the field and the offending character, never the value itself: values can be secrets.
 */
import { OnionscaleError } from '../errors.js';

// eslint-disable-next-line no-control-regex
const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

/** Characters every format here reads literally without quotes. */
const PLAIN = /^[A-Za-z0-9_@%:.,/+=-]+$/;

/** The error of this module: the field is named, the value never (it may be a secret). */
export function unsafeValue(field: string, why: string): OnionscaleError {
  // A field label can contain a (tampered) name: keep the message itself one clean line.
  const label = field.replace(new RegExp(CONTROL_CHAR.source, 'g'), '?');
  return new OnionscaleError('OSC_ERR_RENDER_UNSAFE_VALUE', `cannot render ${label}: ${why}`, { details: { field: label } });
}

/** Returns `value` as a string, or throws OSC_ERR_RENDER_UNSAFE_VALUE when it holds a control character. */
export function checkValue(field: string, value: string | number): string {
  if (typeof value === 'number') return String(checkInt(field, value));
  if (typeof value !== 'string') throw unsafeValue(field, `expected a string, got ${typeof value}`);
  const m = CONTROL_CHAR.exec(value);
  if (m) {
    const code = m[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase();
    throw unsafeValue(field, `contains the control character U+${code} at index ${m.index} (it would start a new directive)`);
  }
  return value;
}

/** A non-negative safe integer (ports, counts, milliseconds); NaN or 1.5 would render as a broken directive. */
export function checkInt(field: string, value: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw unsafeValue(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Renderers only ever point at loopback: a public address here is the classic onion-service leak. */
export function checkLoopbackHost(field: string, host: string): string {
  checkValue(field, host);
  if (host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return host;
  throw unsafeValue(field, 'is not a loopback address (127.0.0.0/8 or ::1)');
}

/** `host:port` with brackets for IPv6, accepted by tor, haproxy and node alike. */
export function loopbackAddress(field: string, host: string, port: number): string {
  const h = checkLoopbackHost(field, host);
  const p = checkInt(field, port, 1, 65535);
  return h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`;
}

/**
 * haproxy argument: plain when it needs nothing, else double quotes. Inside double quotes haproxy still expands
 * `$VAR` and reads `\` escapes, so `"`, `\` and `$` are escaped; `#` too, which is harmless and keeps it a literal
 * for readers who expect a comment there.
 */
export function haproxyArg(field: string, value: string | number): string {
  const v = checkValue(field, value);
  if (PLAIN.test(v) && !v.includes('%')) return v;
  return `"${v.replace(/["\\$#]/g, '\\$&')}"`;
}

/**
 * torrc value: plain, or a C-style quoted string (tor unquotes a value that starts with `"`). Quoting is needed
 * for spaces, `#` (a comment unquoted) and a trailing `\` (a line continuation unquoted).
 */
export function torValue(field: string, value: string | number): string {
  const v = checkValue(field, value);
  if (PLAIN.test(v)) return v;
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * A path tor splits on: `HiddenServicePort` splits its value on spaces before it reads `unix:` paths (tor 0.4.9
 * rejects `unix:"/a b.sock"` there), so whitespace cannot be expressed at all and is refused here.
 */
export function torUnsplittable(field: string, value: string): string {
  const v = checkValue(field, value);
  if (/\s/.test(v)) throw unsafeValue(field, 'contains a space, which tor cannot read in this directive; use a path without spaces');
  return v;
}

/** redis.conf argument: plain, or double quotes with `\` and `"` escaped (redis' sdssplitargs rules). */
export function redisArg(field: string, value: string | number): string {
  const v = checkValue(field, value);
  if (PLAIN.test(v)) return v;
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** A redis.conf argument that is always quoted (a password: arbitrary text, never shown in errors). */
export function redisQuoted(field: string, value: string): string {
  const v = checkValue(field, value);
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** `%` starts a systemd specifier (`%i`, `%h`) in almost every setting: double it. */
function systemdSpecifiers(v: string): string {
  return v.replace(/%/g, '%%');
}

/**
 * One word of an `ExecStart=` command line: always double-quoted, `\` and `"` escaped, `%` doubled, and `$` doubled
 * because systemd expands `$VAR` / `${VAR}` in command lines, quoted or not.
 */
export function systemdExecArg(field: string, value: string): string {
  const v = checkValue(field, value);
  return `"${systemdSpecifiers(v).replace(/["\\]/g, '\\$&').replace(/\$/g, '$$$$')}"`;
}

/** `Environment="K=V"`: quotes and backslashes escaped, `%` doubled; systemd does not expand `$` here. */
export function systemdEnvironment(field: string, key: string, value: string): string {
  checkValue(field, key);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw unsafeValue(field, 'is not a valid environment variable name');
  const kv = `${key}=${checkValue(field, value)}`;
  return `"${systemdSpecifiers(kv).replace(/["\\]/g, '\\$&')}"`;
}

/** One entry of a space-separated path list (`ReadWritePaths=`): quoted so spaces survive, `%` doubled. */
export function systemdPathListEntry(field: string, value: string): string {
  const v = checkValue(field, value);
  if (!v.startsWith('/')) throw unsafeValue(field, 'must be an absolute path');
  return `"${systemdSpecifiers(v).replace(/["\\]/g, '\\$&')}"`;
}

/**
 * A whole-line value (`WorkingDirectory=`, `Description=`): systemd takes the rest of the line verbatim but trims
 * it, so surrounding whitespace cannot be expressed; `%` is doubled.
 */
export function systemdValue(field: string, value: string): string {
  const v = checkValue(field, value);
  if (v !== v.trim() || v === '') throw unsafeValue(field, 'must not be empty or start or end with whitespace');
  return systemdSpecifiers(v);
}

/** A unit name part or a user name: a closed alphabet, so no quoting question arises. */
export function systemdName(field: string, value: string): string {
  const v = checkValue(field, value);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v)) throw unsafeValue(field, 'may only contain letters, digits, "_", "." and "-"');
  return v;
}

/** A comment line's text: only control characters matter (a newline would end the comment). */
export function commentText(field: string, value: string): string {
  return checkValue(field, value);
}
