/**
 * clock-skew: tor says in its log when the clock is off (NETINFO cells and consensus dates from relays disagree).
 * A skewed clock keeps tor from bootstrapping or publishing descriptors, and a clock that differs from the rest of
 * the world by an odd offset also fingerprints the server.
 */
import { finding, type Finding } from '../types.js';

// tor's wording (connection_or.c, networkstatus.c): "…our clock is behind by 2 hours…", "Our clock is 3 hours,
// 5 minutes ahead of…", "Received NETINFO cell with skewed time".
const SKEW = /(our clock is (?:[^.]*?\b)?(?:ahead|behind)|skewed time|clock skew)/i;

export function checkClockSkew(torLog: string | undefined): Finding {
  const id = 'clock-skew';
  const title = 'tor reports no clock skew';
  if (torLog === undefined) return finding(id, 'ok', title, 'no tor log yet');
  const line = torLog.split('\n').reverse().find((l) => SKEW.test(l));
  if (line) {
    return finding(
      id,
      'warn',
      title,
      `tor's log says: ${line.replace(/^\S+Z /, '').slice(0, 200)}`,
      'Synchronize the clock (systemd-timesyncd, chrony) and check the time zone: tor needs an accurate clock.',
    );
  }
  return finding(id, 'ok', title, "no clock warning in tor's log");
}
