/**
 * clock-sanity (doctor): the system clock is plausible — not before a fixed floor (a reset RTC shows 1970 or the
 * image's build date) and, once tor has a consensus, inside its validity window. tor's own complaints are the
 * audit's clock-skew check; this one also works before tor ever reached a relay.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finding, type Finding } from '../types.js';

/** Earlier than this is certainly wrong (this code did not exist before). */
export const CLOCK_FLOOR = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;

export interface ConsensusTimes {
  validAfter: number;
  validUntil: number;
}

/** `valid-after` / `valid-until` of a cached consensus (dir-spec.txt: "YYYY-MM-DD HH:MM:SS", UTC). */
export function parseConsensusTimes(text: string): ConsensusTimes | undefined {
  const at = (k: string) => {
    const m = new RegExp(`^${k} (\\d{4}-\\d\\d-\\d\\d) (\\d\\d:\\d\\d:\\d\\d)$`, 'm').exec(text);
    return m ? Date.parse(`${m[1]}T${m[2]}Z`) : NaN;
  };
  const validAfter = at('valid-after');
  const validUntil = at('valid-until');
  return Number.isFinite(validAfter) && Number.isFinite(validUntil) ? { validAfter, validUntil } : undefined;
}

export function readConsensusTimes(torData: string): ConsensusTimes | undefined {
  for (const f of ['cached-microdesc-consensus', 'cached-consensus']) {
    try {
      // The header is at the top; no need to read megabytes.
      const t = parseConsensusTimes(readFileSync(join(torData, f), 'utf8').slice(0, 4096));
      if (t) return t;
    } catch {
      // next
    }
  }
  return undefined;
}

export function checkClockSanity(now: number, consensus: ConsensusTimes | undefined): Finding {
  const id = 'clock-sanity';
  const title = 'the system clock is plausible';
  const iso = new Date(now).toISOString();
  if (now < CLOCK_FLOOR) {
    return finding(id, 'fail', title, `the clock says ${iso}`, 'Set the clock (timedatectl set-ntp true, chrony): tor cannot bootstrap or publish with a clock this far off.');
  }
  if (!consensus) return finding(id, 'ok', title, `${iso}; tor has no cached consensus to compare with yet`);
  // A consensus is valid 3 h; tor accepts one up to 24 h old ("reasonably live").
  if (now < consensus.validAfter - HOUR) {
    return finding(id, 'warn', title, `${iso} is before tor's consensus valid-after ${new Date(consensus.validAfter).toISOString()}: the clock is behind`, 'Synchronize the clock (chrony, systemd-timesyncd).');
  }
  if (now > consensus.validUntil + 24 * HOUR) {
    return finding(id, 'warn', title, `${iso} is more than 24 h after tor's consensus valid-until ${new Date(consensus.validUntil).toISOString()}: the clock is ahead or tor is stuck`, 'Synchronize the clock; if it is right, read logs/tor.log: tor has not fetched a consensus for a day.');
  }
  return finding(id, 'ok', title, `${iso}, inside tor's consensus window`);
}
