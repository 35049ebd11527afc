/**
 * `grpc-ha xds`: the xDS control plane (src/xds) from the CLI — flags or a config file, an admin
 * endpoint beside it (the dashboard lists connected clients), SIGTERM/SIGINT to stop.
 */
import { GrpcHaError } from '../core/errors.js';
import { splitAddress } from '../core/address.js';
import { startAdminServer, type AdminServer } from '../observe/admin-server.js';
import { loadTls, loadXdsConfigFile, XDS_DEFAULTS, type XdsServerOptions } from '../xds/xds-config.js';
import { startXdsServer } from '../xds/xds-server.js';
import { CliError, EXIT } from './exit-codes.js';

/** Flags of the xds command, as commander parses them. */
export interface XdsCommandOptions {
  readonly config?: string;
  readonly listen?: string;
  readonly registry?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsClientCa?: string;
  readonly admin?: string;
  /** commander's --no-health-checks. */
  readonly healthChecks: boolean;
  /** ms. */
  readonly healthTimeout?: number;
  /** ms. */
  readonly drainingHold?: number;
}

function fromFlags(o: XdsCommandOptions): { options: XdsServerOptions; admin: string | null } {
  if (o.listen === undefined || o.registry === undefined) throw new CliError('xds: --listen and --registry are required (or --config FILE)', EXIT.USAGE);
  if (splitAddress(o.listen, true) === null) throw new CliError(`xds: --listen must be host:port or :port, got ${JSON.stringify(o.listen)}`, EXIT.USAGE);
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new CliError('xds: --tls-cert and --tls-key go together', EXIT.USAGE);
  if (o.tlsClientCa !== undefined && o.tlsCert === undefined) throw new CliError('xds: --tls-client-ca needs --tls-cert and --tls-key', EXIT.USAGE);
  const admin = o.admin === 'off' ? null : (o.admin ?? XDS_DEFAULTS.admin);
  if (admin !== null && splitAddress(admin, true) === null) throw new CliError(`xds: --admin must be host:port or off, got ${JSON.stringify(o.admin)}`, EXIT.USAGE);
  return {
    admin,
    options: {
      registry: o.registry,
      listen: o.listen.startsWith(':') ? `0.0.0.0${o.listen}` : o.listen,
      ...(o.tlsCert !== undefined && { tls: loadTls({ cert: o.tlsCert, key: o.tlsKey!, clientCa: o.tlsClientCa }) }),
      healthChecks: o.healthChecks,
      ...(o.healthTimeout !== undefined && { healthTimeoutMs: o.healthTimeout }),
      ...(o.drainingHold !== undefined && { drainingHoldMs: o.drainingHold }),
    },
  };
}

/** Runs the control plane until SIGTERM/SIGINT; resolves with the exit code. */
export async function runXdsCommand(o: XdsCommandOptions): Promise<number> {
  let parsed: { options: XdsServerOptions; admin: string | null };
  try {
    if (o.config !== undefined) {
      const extra = (['listen', 'registry', 'tlsCert', 'tlsKey', 'tlsClientCa', 'admin'] as const).filter((k) => o[k] !== undefined);
      if (extra.length > 0) throw new CliError(`xds: --config goes alone; ${extra.join(', ')} go in the file`, EXIT.USAGE);
      parsed = loadXdsConfigFile(o.config);
    } else {
      parsed = fromFlags(o);
    }
  } catch (error) {
    if (error instanceof GrpcHaError) throw new CliError(error.message, EXIT.USAGE);
    throw error;
  }
  let server;
  try {
    server = await startXdsServer(parsed.options);
  } catch (error) {
    if (error instanceof GrpcHaError && (error.code === 'INVALID_CONFIG' || error.code === 'INVALID_ADDRESS') && !/cannot listen/.test(error.message)) {
      throw new CliError(error.message, EXIT.USAGE);
    }
    throw new CliError(error instanceof Error ? error.message : String(error), EXIT.FAILURE);
  }
  let admin: AdminServer | undefined;
  if (parsed.admin !== null) {
    const a = splitAddress(parsed.admin, true)!;
    try {
      admin = await startAdminServer({ host: a.host || '127.0.0.1', port: a.port, title: 'grpc-ha xds' });
    } catch (error) {
      await server.close();
      throw new CliError(`xds: admin endpoint ${parsed.admin}: ${(error as Error).message}`, EXIT.FAILURE);
    }
  }
  // Handlers before the listening line: a supervisor may signal as soon as it reads it.
  const stop = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  console.log(JSON.stringify({ event: 'listening', port: server.port, adminPort: admin?.port ?? null, protos: server.protos }));
  await stop;
  await admin?.close();
  await server.close();
  console.log(JSON.stringify({ event: 'stopped' }));
  return EXIT.OK;
}
