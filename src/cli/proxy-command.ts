/**
 * `grpc-ha proxy`: the grpc-ha gRPC proxy (src/proxy) from the CLI — a YAML config reloaded on
 * SIGHUP, or the zero-config form with a listen address and a target, static or a registry.
 */
import { runProxyProcess, type ProxyConfigSource } from '../proxy/proxy-process.js';
import { CliError, EXIT } from './exit-codes.js';

/** Flags of the proxy command, as commander parses them. */
export interface ProxyCommandOptions {
  readonly config?: string;
  readonly listen?: string;
  readonly target?: string;
  readonly policy?: string;
  readonly admin?: string;
  /** Grace period for calls in flight on SIGTERM, ms. */
  readonly grace: number;
}

/** Examples shown by `grpc-ha proxy --help`. */
export const PROXY_HELP = `
One of --config or --target. With --config, SIGHUP reloads the file (clusters, routes, listener,
TLS certificates; calls in flight finish where they are); a bad file changes nothing.
Prints {"event":"listening","port":N,"adminPort":N} once listening; SIGTERM drains and exits 0.
Exit codes: 0 stopped, 1 cannot start (e.g. address in use), 2 bad flags or config.

Examples:
  grpc-ha proxy --config proxy.yaml
  grpc-ha proxy --listen :8080 --target 127.0.0.1:50051,127.0.0.1:50052
  grpc-ha proxy --listen :8080 --target file:///echo --policy round_robin
  grpc-ha proxy --listen 127.0.0.1:8080 --target etcd://127.0.0.1:2379/greeter --policy '{"least_request":{"choiceCount":3}}' --admin off`;

/** Runs the proxy until SIGTERM/SIGINT; resolves with the exit code. */
export async function runProxyCommand(o: ProxyCommandOptions): Promise<number> {
  let source: ProxyConfigSource;
  if (o.config !== undefined) {
    const extra = (['listen', 'target', 'policy', 'admin'] as const).filter((k) => o[k] !== undefined);
    if (extra.length > 0) throw new CliError(`proxy: --config goes alone; ${extra.map((k) => `--${k}`).join(', ')} go in the file`, EXIT.USAGE);
    source = { configPath: o.config };
  } else if (o.target !== undefined) {
    source = { target: o.target, listen: o.listen, policy: o.policy, admin: o.admin };
  } else {
    throw new CliError('proxy: --config <file> or --target <target> is required', EXIT.USAGE);
  }
  return runProxyProcess(source, o.grace);
}
