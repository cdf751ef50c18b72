/**
 * `tor.network: testnet` (or `{ testnet: DIR }`): the stack's tor joins the private network of
 * `onionscale testnet up`. The renderers stay pure, so the DirAuthority lines are read here, from the testnet's
 * state file, into a new frozen model before anything is rendered; a testnet that is not running (or only partly)
 * is a clear OSC_ERR_TESTNET_NOT_UP instead of a tor that never bootstraps.
 */
import { join, resolve } from 'node:path';
import { deepFreeze, type StackModel } from '../config/model.js';
import { OnionscaleError } from '../errors.js';
import { aliveNodes, readTestnetState } from './state.js';

/** The testnet directory a config points at: `{ testnet: DIR }` (relative to the config file), else `<stateDir>/testnet`. */
export function testnetDirOf(model: StackModel): string {
  const net = model.tor.network;
  if (typeof net === 'object' && 'testnet' in net && net.testnet !== undefined) return resolve(model.baseDir, net.testnet);
  return join(model.paths.root, 'testnet');
}

/** Whether the config asks to join a testnet. */
export function wantsTestnet(model: StackModel): boolean {
  const net = model.tor.network;
  return typeof net === 'object' && 'testnet' in net;
}

/** The model with `tor.network` resolved to the running testnet's DirAuthority lines; other models unchanged. */
export function joinTestnet(model: StackModel): StackModel {
  if (!wantsTestnet(model)) return model;
  const dir = testnetDirOf(model);
  const state = readTestnetState(dir);
  if (!state) {
    throw new OnionscaleError('OSC_ERR_TESTNET_NOT_UP', `tor.network: testnet, but no testnet is running in ${dir} (no testnet.json)`, { details: { dir } });
  }
  if (state.phase !== 'ready') {
    throw new OnionscaleError('OSC_ERR_TESTNET_NOT_UP', `tor.network: testnet, but the testnet in ${dir} is still starting (wait for \`onionscale testnet up\` to return)`, {
      details: { dir },
    });
  }
  const alive = new Set(aliveNodes(state).map((n) => n.name));
  const dead = state.nodes.filter((n) => !alive.has(n.name)).map((n) => n.name);
  if (dead.length > 0) {
    throw new OnionscaleError('OSC_ERR_TESTNET_NOT_UP', `tor.network: testnet, but the testnet in ${dir} is not fully running (stopped: ${dead.join(', ')})`, {
      details: { dir, dead },
    });
  }
  return deepFreeze({ ...model, tor: { ...model.tor, network: { dirAuthorities: [...state.dirAuthorityLines] } } });
}
