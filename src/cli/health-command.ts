/**
 * `grpc-ha health <address>`: checks grpc.health.v1 like grpc_health_probe — prints the status,
 * exits 0 only when SERVING, and with a distinct code for each other outcome (see exit-codes.ts).
 */
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
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

/** Runs one Check; resolves with the exit code after printing the outcome. */
export async function runHealth(address: string, options: HealthCommandOptions): Promise<number> {
  if (!/^[^\s]+:\d{1,5}$/.test(address) && !/^[a-z][a-z0-9+.-]*:/.test(address)) {
    throw new CliError(`health: address must be host:port (or a grpc target like dns:host:port), got '${address}'`, EXIT.USAGE);
  }
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
