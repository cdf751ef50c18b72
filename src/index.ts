/**
 * onionscale — the library app instances use. Framework-neutral core only; the Express and Fastify adapters are
 * `onionscale/express` and `onionscale/fastify` (the frameworks are optional peer dependencies).
 */
export { OnionscaleError, ConfigError, ERROR_CODES, isOnionscaleError, type ErrorCode, type ConfigProblem } from './errors.js';
export { circuitAddress, circuitIdOf, parseCircuitAddress } from './core/circuit.js';
export { redisOptionsFromEnv } from './core/redis/env.js';
export * from './core/session/index.js';
export * from './core/ratelimit/index.js';
export { parseDuration, parseSize, formatDuration } from './units.js';
export * from './core/cache/index.js';
export * from './core/http-cache/index.js';
export * from './core/events/index.js';
export * from './core/pipeline/index.js';
