/**
 * The latency proxies of a detached testnet (`onionscale testnet up --latency …`), in their own process: the CLI
 * exits after `up`, the proxies must outlive it. Started with the path of a JSON spec ({ routes, delayMs,
 * ownerPid? }); stopped by `testnet down` with SIGTERM like every tor node. With `ownerPid` it also exits when that
 * process is gone — the same promise tor's `__OwningControllerProcess` gives the nodes.
 */
import { readFileSync } from 'node:fs';
import { startLatencyProxy, type ProxyRoute } from './latency-proxy.js';
import { isRunning } from '../supervisor/processes.js';

interface Spec {
  routes: ProxyRoute[];
  delayMs: number;
  ownerPid?: number;
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: proxy-main.js SPEC.json\n');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(file, 'utf8')) as Spec;
const proxy = await startLatencyProxy({ routes: spec.routes, delayMs: spec.delayMs });
process.stdout.write(`latency proxy: ${spec.routes.length} route(s), ${spec.delayMs} ms each way\n`);
const stop = () => void proxy.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (spec.ownerPid !== undefined) {
  const owner = spec.ownerPid;
  setInterval(() => {
    if (!isRunning(owner)) stop();
  }, 500);
}
