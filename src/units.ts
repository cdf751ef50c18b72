/**
 * Durations and sizes are strings at the edge (`'30s'`, `'256mb'`), parsed once into numbers (STYLE.md §10).
 */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const SIZE_RE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i;

/** Milliseconds for `'500ms' | '30s' | '5m' | '24h' | '7d'`; `undefined` when the string is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

/** Bytes for `'64kb' | '256mb' | '1gb'`; `undefined` when the string is not a size. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** The shortest exact unit form of a duration, for config files that want one (`90000` → `'90s'`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration in a library API: milliseconds, or a string such as `'30s'`. */
export type Duration = number | string;

/** Milliseconds from a number of ms or a duration string; `undefined` when it is neither or below `min`. */
export function durationMs(value: unknown, min = 0): number | undefined {
  const ms = typeof value === 'number' ? (Number.isFinite(value) ? Math.floor(value) : undefined) : typeof value === 'string' ? parseDuration(value) : undefined;
  return ms !== undefined && ms >= min ? ms : undefined;
}
