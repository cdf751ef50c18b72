/** Pure renderers: the validated StackModel in, config file text out. No file system, no processes. */
export { renderTorrc, type TorrcOptions } from './torrc.js';
export { renderHaproxyConfig, CIRCUIT_PREFIX } from './haproxy.js';
export { renderErrorFile, ERROR_STATUSES, errorFilePath, type ErrorStatus } from './pages.js';
export { renderRedisConf, renderRedisAuthConf, DISABLED_REDIS_COMMANDS } from './redis.js';
export {
  renderSystemdUnits,
  instanceUnitName,
  TARGET_UNIT,
  REDIS_UNIT,
  HAPROXY_UNIT,
  TOR_UNIT,
  type SystemdOptions,
  type SystemdUnit,
} from './systemd.js';
