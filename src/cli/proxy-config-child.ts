/**
 * The short-lived process that reads and validates a proxy config (proxy-config-source.ts): it
 * gets the source on its IPC channel, answers with the config as the wire carries it, or the
 * error naming the field or flag, and exits. Not a command to run by hand.
 */
import { GrpcHaError } from '../core/errors.js';
import { loadProxyConfigFile, zeroConfig, type ProxyConfig } from '../proxy/proxy-config.js';
import { toWire } from '../proxy/wire-config.js';
import type { ConfigAnswer, ProxyConfigSource } from './proxy-config-source.js';

/** Builds the config from `source`; throws GrpcHaError(INVALID_CONFIG) naming the field or flag. */
function loadProxyConfig(source: ProxyConfigSource): ProxyConfig {
  if ('configPath' in source) return loadProxyConfigFile(source.configPath);
  let policy: unknown = source.policy;
  if (typeof policy === 'string' && policy.trim().startsWith('{')) {
    try {
      policy = JSON.parse(policy);
    } catch (error) {
      throw new GrpcHaError('INVALID_CONFIG', `--policy is not valid JSON: ${(error as Error).message}`);
    }
  }
  try {
    return zeroConfig(source.listen ?? ':8080', source.target, policy, source.admin);
  } catch (error) {
    // The user typed flags, not a file: name the flag.
    const e = GrpcHaError.from(error, 'INVALID_CONFIG');
    const message = e.message
      .replace(/^proxy config: /, '')
      .replace(/^clusters\.default\.target/, '--target')
      .replace(/^clusters\.default\.policy/, '--policy')
      .replace(/^admin\.listen/, '--admin')
      // The flags cannot carry a secret (they show in `ps`): a token goes in a config file.
      .replace(/^(admin: token is required .*)$/, '$1; set admin.token in a --config file')
      .replace(/^listen/, '--listen');
    throw new GrpcHaError(e.code, message, { cause: error });
  }
}

process.once('message', (source: ProxyConfigSource) => {
  let answer: ConfigAnswer;
  try {
    answer = { ok: true, config: toWire(loadProxyConfig(source)) };
  } catch (error) {
    answer = { ok: false, message: (error as Error).message };
  }
  process.send!(answer, () => process.exit(0));
});
