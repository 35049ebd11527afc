/**
 * `grpc-ha health <address>`: checks grpc.health.v1 like grpc_health_probe — prints the status,
 * exits 0 only when SERVING, and with a distinct code for each other outcome (see exit-codes.ts).
 */
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { DISCOVERY_SCHEMES } from '../discovery/schemes.js';
import { CliError, EXIT } from './exit-codes.js';

/** Options of the health command. */
export interface HealthCommandOptions {
  readonly service: string;
  readonly timeoutMs: number;
  readonly json: boolean;
}

const HealthClient = (
  (loadPackageDefinition(loadSync(protoPath, { enums: String })) as GrpcObject).grpc as GrpcObject & {
    health: { v1: { Health: ServiceClientConstructor } };
  }
).health.v1.Health;

/** grpc-js schemes that name one server (a DNS name may resolve to several; the probe checks the first that answers). */
const ONE_SERVER_SCHEMES = ['dns', 'ipv4', 'ipv6', 'unix'];

/**
 * Why `address` is not one server's address, or null when it is. A probe checks one server: a
 * registry target names a service, whose instances may each answer differently.
 */
export function addressProblem(address: string): string | null {
  if (/^[^\s/:]+:\d{1,5}$/.test(address) || /^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(address)) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(address)?.[1]?.toLowerCase();
  if (scheme && ONE_SERVER_SCHEMES.includes(scheme)) {
    return scheme === 'ipv4' || scheme === 'ipv6' ? (address.includes(',') ? `takes one address, got a list: '${address}'` : null) : null;
  }
  if (scheme && DISCOVERY_SCHEMES.includes(scheme as (typeof DISCOVERY_SCHEMES)[number])) {
    return `takes one server's address (host:port), and '${address}' names a service in a registry: list its instances with 'grpc-ha resolve ${address}', then check one`;
  }
  return `address must be host:port (or dns:host:port, ipv4:ip:port, unix:path), got '${address}'`;
}

/** Runs one Check; resolves with the exit code after printing the outcome. */
export async function runHealth(address: string, options: HealthCommandOptions): Promise<number> {
  const problem = addressProblem(address);
  if (problem) throw new CliError(`health: ${problem}`, EXIT.USAGE);
  const client = new HealthClient(address, credentials.createInsecure());
  const print = (outcome: string, code: number, extra: Record<string, unknown> = {}) => {
    if (options.json) console.log(JSON.stringify({ address, service: options.service, status: outcome, exitCode: code, ...extra }));
    else console.log(`${address}${options.service ? ` ${options.service}` : ''}: ${outcome}${extra.error ? ` (${String(extra.error)})` : ''}`);
    return code;
  };
  try {
    const deadline = Date.now() + options.timeoutMs;
    // Wait for the connection separately: "unreachable" and "answered too slowly" are different failures.
    const connected = await new Promise<Error | undefined>((resolve) => client.waitForReady(deadline, (e) => resolve(e ?? undefined)));
    if (connected) return print('UNREACHABLE', EXIT.UNREACHABLE, { error: connected.message });
    const reply = await new Promise<{ status: string } | ServiceError>((resolve) =>
      client.check({ service: options.service }, { deadline }, (e: ServiceError | null, r: { status: string }) => resolve(e ?? r)),
    );
    if ('code' in reply) {
      if (reply.code === status.DEADLINE_EXCEEDED) return print('TIMEOUT', EXIT.TIMEOUT);
      if (reply.code === status.UNAVAILABLE) return print('UNREACHABLE', EXIT.UNREACHABLE, { error: reply.details });
      if (reply.code === status.NOT_FOUND) return print('SERVICE_UNKNOWN', EXIT.NOT_SERVING);
      return print(`ERROR ${status[reply.code]}`, EXIT.RPC_ERROR, { error: reply.details });
    }
    return print(reply.status, reply.status === 'SERVING' ? EXIT.OK : EXIT.NOT_SERVING);
  } finally {
    client.close();
  }
}
