/**
 * Server side of health checking: the standard `grpc.health.v1.Health` service (Check, Watch;
 * the `grpc-health-check` package's implementation) added by one call, with the server's overall
 * status ("") and a status per service, and helpers to flip a service or the whole server to
 * NOT_SERVING and back. Clients watching (gRFC A17, grpc-ha's health checking) stop sending new
 * calls to a NOT_SERVING server as soon as the update reaches them.
 */
import type { Server } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';

/** A health status a server reports (grpc.health.v1 HealthCheckResponse.ServingStatus). */
export type HealthStatus = ServingStatus;

/** Options of {@link addHealthService}. */
export interface HealthServiceOptions {
  /** Services to report besides the overall status "", e.g. ['greeter.Greeter']. Defaults to none. */
  readonly services?: readonly string[];
  /** Whether they start SERVING (true) or NOT_SERVING (false). Defaults to true. */
  readonly serving?: boolean;
}

/** Controls of the health service of one server. */
export interface HealthService {
  /** The statuses reported, by service name ("" is the server as a whole). */
  statuses(): ReadonlyMap<string, HealthStatus>;
  /** Sets one service's status; "" is the server as a whole. A service not known yet is added. */
  setStatus(service: string, status: HealthStatus): void;
  /** Marks `service` SERVING; without an argument, the server and every known service. */
  setServing(service?: string): void;
  /** Marks `service` NOT_SERVING; without an argument, the server and every known service. */
  setNotServing(service?: string): void;
  /**
   * Marks everything NOT_SERVING for good (later changes are ignored), so clients stop sending
   * new calls before the server stops; call it first in a graceful shutdown.
   */
  enterShutdown(): void;
}

/**
 * Adds grpc.health.v1.Health to `server` (before it starts) and returns its controls.
 * Watch streams of a "" or known service get the current status at once and every change after.
 */
export function addHealthService(server: Server, options: HealthServiceOptions = {}): HealthService {
  const initial: HealthStatus = options.serving === false ? 'NOT_SERVING' : 'SERVING';
  const statuses = new Map<string, HealthStatus>([['', initial]]);
  for (const service of options.services ?? []) {
    if (typeof service !== 'string') {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `health service: services must be a list of strings, got ${JSON.stringify(service)}`);
    }
    statuses.set(service, initial);
  }
  const implementation = new HealthImplementation(Object.fromEntries(statuses));
  implementation.addToServer(server);
  let shutdown = false;

  const set = (service: string, status: HealthStatus) => {
    if (shutdown) return;
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    implementation.setStatus(service, status);
  };
  const setAll = (service: string | undefined, status: HealthStatus) => {
    if (service !== undefined) set(service, status);
    else for (const name of [...statuses.keys()]) set(name, status);
  };
  return {
    statuses: () => new Map(statuses),
    setStatus: set,
    setServing: (service) => setAll(service, 'SERVING'),
    setNotServing: (service) => setAll(service, 'NOT_SERVING'),
    enterShutdown: () => {
      setAll(undefined, 'NOT_SERVING');
      shutdown = true;
    },
  };
}
