/**
 * One call turns a grpc-js Server and its services into a well-behaved instance: bound, with
 * grpc.health.v1, registered in a registry, SERVING when ready — and, on SIGTERM/SIGINT or
 * `shutdown()`, drained in the order that loses no call:
 *
 *   NOT_SERVING, calls' drainSignal aborted → deregister → wait for clients to notice → stop
 *   accepting (GOAWAY) → in-flight calls finish, up to the grace period → the calls still open
 *   end with UNAVAILABLE "server shutting down" → force-close what remains → stopped.
 *
 * A second signal forces. Every step is logged. Streaming calls can also be given a maximum age
 * (maxStreamAgeMs), after which they end the same way, so long-lived streams rebalance.
 */
import { Server, ServerCredentials, type ServerOptions, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { z } from 'zod';
import net from 'node:net';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { integer, number, parseConfig } from '../core/parse-config.js';
import { createLogger, type Logger } from '../observe/logger.js';
import type { AdminServer, AdminServerOptions } from '../observe/admin-server.js';
import { emitEvent, type EventName } from '../observe/events.js';
import { observeServer } from '../observe/server-observer.js';
import { addHealthService } from './health-service.js';
import { CallTracker, isHealthMethod, trackedServer } from './call-tracker.js';
import { advertisedAddress, advertiseSetting } from './advertised-address.js';

/** Defaults of a grpc-ha server, each with its reason. */
export const SERVER_DEFAULTS = {
  /** Loopback: binding every interface is a decision, not a default. */
  host: '127.0.0.1',
  port: 0,
  /**
   * gRFC A9 MAX_CONNECTION_AGE: clients reconnect (and so re-balance onto new instances) every
   * ~5 min; grpc-js adds ±10% jitter so a fleet does not reconnect in step.
   */
  maxConnectionAgeMs: 300_000,
  /** A9 MAX_CONNECTION_AGE_GRACE: calls on an aged connection get 30 s to finish. */
  maxConnectionAgeGraceMs: 30_000,
  /**
   * Time between NOT_SERVING + deregistration and closing the listener: health watchers see
   * NOT_SERVING at once, registry watchers within ~250 ms; 1 s covers both with room.
   */
  drainNoticeMs: 1000,
  /** How long in-flight calls may take to finish once the listener is closed. */
  drainGraceMs: 10_000,
  /**
   * No maximum stream age unless asked for: ending streams is only harmless for clients that
   * open them again (reopenStream), so it is the service's decision, as grpc-go's
   * MaxConnectionAge is infinite by default.
   */
  maxStreamAgeMs: Infinity,
  /**
   * An aged stream's handler hears drainSignal at once; one that does not end the stream itself
   * is ended 1 s later, so its client is not held on an instance the stream was asked to leave.
   */
  maxStreamAgeGraceMs: 1000,
};

/**
 * Once the grace is over and the open calls have been ended with UNAVAILABLE, how long their
 * statuses get to reach the clients (one write and a round trip) before the connections are
 * destroyed — which would turn any status not yet sent into RST_STREAM(CANCEL).
 */
const STATUS_FLUSH_MS = 1000;

/** A service and its implementation, as for `server.addService`. */
export interface ServiceBinding {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  /**
   * Name its health status is reported under. Defaults to the service of the definition's
   * methods ("/shop.Inventory/GetStock" → "shop.Inventory"), the name `createClient` watches.
   */
  readonly name?: string;
}

/**
 * Registers the bound instance in a registry once it serves, and resolves with the registration,
 * whose `close()` takes the instance out again (first thing on a drain). `registrar(registry,
 * { service })` (src/discovery/registrar.ts) builds one for any grpc-ha registry.
 */
export type RegisterHook = (bound: { readonly host: string; readonly port: number; readonly address: string }) => Promise<{ close(): Promise<void> }>;


/** Options of {@link serve}. */
export interface ServeOptions {
  /** Services to serve. */
  readonly services: readonly ServiceBinding[];
  /** Interface to bind. Defaults to 127.0.0.1. */
  readonly host?: string;
  /**
   * The address registered for clients to dial — a host (the bound port is added) or host:port —
   * when it is not the bound one: the pod IP of a server binding 0.0.0.0, a NAT address. Defaults
   * to GRPC_HA_ADVERTISE_ADDRESS, else the bound host, else (binding a wildcard) an interface address.
   */
  readonly advertiseAddress?: string;
  /** Port to bind; 0 picks a free one. Defaults to 0. */
  readonly port?: number;
  /** Extra grpc-js server options, applied over grpc-ha's. */
  readonly serverOptions?: ServerOptions;
  /** A9 connection age, ms. Defaults to 300 000. */
  readonly maxConnectionAgeMs?: number;
  /** A9 connection age grace, ms. Defaults to 30 000. */
  readonly maxConnectionAgeGraceMs?: number;
  /** Wait after NOT_SERVING and deregistration, ms. Defaults to 1000. */
  readonly drainNoticeMs?: number;
  /** Time in-flight calls get to finish, ms; then the calls still open end with UNAVAILABLE. Defaults to 10 000. */
  readonly drainGraceMs?: number;
  /**
   * Maximum age of a streaming call, ms, jittered ±10 % per stream: its drainSignal aborts, and
   * after maxStreamAgeGraceMs it ends with UNAVAILABLE, so clients reopen it on any instance
   * (reopenStream). Defaults to none.
   */
  readonly maxStreamAgeMs?: number;
  /** How long an aged stream has to end itself before the server ends it, ms. Defaults to 1000. */
  readonly maxStreamAgeGraceMs?: number;
  /** Registers the instance in a registry once serving, e.g. `registrar(registry, { service: 'greeter' })`. */
  readonly register?: RegisterHook;
  /** Drain on SIGTERM/SIGINT (a second one forces). Defaults to true. */
  readonly handleSignals?: boolean;
  /** Exit the process once stopped after a signal. Defaults to true. */
  readonly exitOnSignal?: boolean;
  /** Logger; defaults to the grpc-ha "server" logger. */
  readonly logger?: Logger;
  /** Starts the admin server (/metrics, /api/state, dashboard) of this process with these options. Off by default. */
  readonly admin?: AdminServerOptions;
}

/** The lifecycle state of a server. */
export type ServerState = 'serving' | 'draining' | 'stopped';

/** A running grpc-ha server. */
export interface HaServer {
  /** The grpc-js server. */
  readonly server: Server;
  /** Bound port. */
  readonly port: number;
  /** "host:port" as bound. */
  readonly address: string;
  /** "host:port" registered for clients (never a wildcard); see `advertiseAddress`. */
  readonly advertisedAddress: string;
  /** Current lifecycle state. */
  readonly state: ServerState;
  /** The admin server, when `admin` was given. */
  readonly admin: AdminServer | undefined;
  /** Sets the health status of every served service and of "" (overall). */
  setServing(serving: boolean): void;
  /** Sets one service's health status. */
  setServiceServing(service: string, serving: boolean): void;
  /** Drains and stops (see the module doc); `force` skips the waits. Resolves when stopped. */
  shutdown(options?: { force?: boolean; reason?: string }): Promise<void>;
}

const optionsSchema = z.object({
  host: z.string({ error: 'must be a host name or IP address' }).min(1, { error: 'must be a host name or IP address' }).optional(),
  port: integer(0, 65535).optional(),
  maxConnectionAgeMs: number(1).optional(),
  maxConnectionAgeGraceMs: number(0).optional(),
  drainNoticeMs: number(0).optional(),
  drainGraceMs: number(0).optional(),
  maxStreamAgeMs: number(1).optional(),
  maxStreamAgeGraceMs: number(0).optional(),
});

/**
 * Binds, adds health, serves, registers; see the module doc. Starts completely or not at all: when
 * a step fails (the port is taken, the admin server cannot listen, registration fails) whatever
 * already started is closed and signal handlers are removed, and the GrpcHaError(START_FAILED)
 * names the step. Throws GrpcHaError(INVALID_CONFIG) on bad options.
 */
export async function serve(options: ServeOptions): Promise<HaServer> {
  const { services, serverOptions, register, logger: givenLogger } = options;
  const o = {
    ...SERVER_DEFAULTS,
    ...parseConfig('server', optionsSchema, {
      host: options.host,
      port: options.port,
      maxConnectionAgeMs: options.maxConnectionAgeMs,
      maxConnectionAgeGraceMs: options.maxConnectionAgeGraceMs,
      drainNoticeMs: options.drainNoticeMs,
      drainGraceMs: options.drainGraceMs,
      maxStreamAgeMs: options.maxStreamAgeMs,
      maxStreamAgeGraceMs: options.maxStreamAgeGraceMs,
    }),
  };
  const advertise = advertiseSetting(options.advertiseAddress);
  const clean = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as typeof SERVER_DEFAULTS;
  const settings = { ...SERVER_DEFAULTS, ...clean };
  const calls = new CallTracker({ maxStreamAgeMs: settings.maxStreamAgeMs, maxStreamAgeGraceMs: settings.maxStreamAgeGraceMs });
  const server = trackedServer(Server, {
    'grpc.max_connection_age_ms': settings.maxConnectionAgeMs,
    ...(Number.isFinite(settings.maxConnectionAgeGraceMs) ? { 'grpc.max_connection_age_grace_ms': settings.maxConnectionAgeGraceMs } : {}),
    ...serverOptions,
  }, calls);
  const names = services.map(serviceName);
  // Until bound and registered, report NOT_SERVING: a health check that races startup must not
  // send traffic to an instance that is not ready.
  const health = addHealthService(server, { services: names, serving: false });
  for (const s of services) server.addService(s.definition, s.implementation);
  const port = await bind(server, settings.host, settings.port);
  const address = `${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
  const log = (givenLogger ?? createLogger('server')).child({ address });
  const advertised = advertisedAddress({ host: settings.host, port }, advertise, log);
  const service = names[0] ?? address;
  /** A state change: one log line under the event's name, and the event bus (dashboard, /metrics). */
  const changed = (event: EventName, fields: Record<string, unknown>, message: string, reason?: string) => {
    log.info({ event, ...fields }, message);
    emitEvent({ event, service, endpoint: advertised.address, source: 'server', ...(reason ? { reason } : {}) }, { log: false });
  };
  const setServing = (serving: boolean) => (serving ? health.setServing() : health.setNotServing());

  let state: ServerState = 'serving';
  let registration: { close(): Promise<void> } | undefined;
  let shutdownPromise: Promise<void> | undefined;
  let forceNow: (() => void) | undefined;

  const shutdown = (opts: { force?: boolean; reason?: string } = {}): Promise<void> => {
    if (shutdownPromise) {
      if (opts.force) forceNow?.();
      return shutdownPromise;
    }
    state = 'draining';
    shutdownPromise = (async () => {
      const forced = new Promise<void>((resolve) => (forceNow = resolve));
      const until = (ms: number) => Promise.race([sleep(ms), forced]);
      const reason = opts.reason ?? 'shutdown';
      changed('server_draining', { reason }, 'draining', reason);
      // For good: a late setServing(true) must not call clients back to a server that is leaving.
      health.enterShutdown();
      log.info({ event: 'drain.not_serving' }, 'health: NOT_SERVING');
      const signalled = calls.beginDrain(`server shutting down (${reason}); reconnect to another instance`);
      log.info({ event: 'drain.calls_signalled', calls: signalled }, 'drainSignal aborted for the open calls');
      if (registration) {
        try {
          await Promise.race([registration.close(), forced]);
          changed('endpoint_deregistered', {}, 'deregistered');
        } catch (error) {
          // The registry may be down: the entry expires by its TTL; draining goes on.
          log.warn({ event: 'drain.deregister_failed', err: error }, 'deregistration failed; the entry will expire');
        }
      }
      if (!opts.force) {
        log.info({ event: 'drain.notice_wait', ms: settings.drainNoticeMs }, 'waiting for clients to notice');
        await until(settings.drainNoticeMs);
      }
      log.info({ event: 'drain.stop_accepting' }, 'listener closed; GOAWAY sent; waiting for in-flight calls');
      const finished = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)));
      // Health Watch streams have said NOT_SERVING and have nothing more to say; left open, a
      // watcher that does not cancel on GOAWAY would hold the drain for the whole grace.
      calls.endAll(isHealthMethod);
      const done = opts.force ? false : await Promise.race([finished, until(settings.drainGraceMs).then(() => false)]);
      if (done) {
        log.info({ event: 'drain.inflight_done' }, 'in-flight calls finished');
      } else {
        // Ended here, the calls get UNAVAILABLE and the clients reconnect elsewhere; left to
        // forceShutdown, they would get RST_STREAM(CANCEL), which clients read as CANCELLED.
        const ended = calls.endAll();
        if (ended > 0) log.warn({ event: 'drain.calls_ended', calls: ended, graceMs: settings.drainGraceMs }, 'grace over: ended the calls still open with UNAVAILABLE');
        const closed = ended > 0 && !opts.force && (await Promise.race([finished, until(STATUS_FLUSH_MS).then(() => false)]));
        if (!closed) {
          server.forceShutdown();
          log.warn({ event: 'drain.forced', graceMs: settings.drainGraceMs }, 'closed the connections still open');
        }
      }
      state = 'stopped';
      changed('server_stopped', {}, 'stopped');
      removeSignalHandlers();
      unobserve();
      await admin?.close();
    })();
    return shutdownPromise;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (shutdownPromise) {
      log.warn({ event: 'drain.force_signal', signal }, 'second signal: forcing shutdown');
      forceNow?.();
      return;
    }
    void shutdown({ reason: signal }).then(() => {
      if (options.exitOnSignal ?? true) process.exit(0);
    });
  };
  const removeSignalHandlers = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  if (options.handleSignals ?? true) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  const unobserve = observeServer({ services: names, address, state: () => state });
  let admin: AdminServer | undefined;
  if (options.admin) {
    try {
      // Loaded only when asked for: metrics and the dashboard weigh on the start of every server process.
      const { startAdminServer } = await import('../observe/admin-server.js');
      admin = await startAdminServer(options.admin);
    } catch (error) {
      removeSignalHandlers();
      unobserve();
      server.forceShutdown();
      throw startFailed(`the admin server did not start, so the gRPC server on ${address} was closed again: ${(error as Error).message}`, error);
    }
    log.info({ event: 'admin_listening', url: admin.url }, `admin server: ${admin.url}`);
  }
  setServing(true);
  changed('server_serving', { services: names }, 'serving');
  if (register) {
    try {
      registration = await register({ host: advertised.host, port: advertised.port, address: advertised.address });
      changed('endpoint_registered', {}, 'registered');
    } catch (error) {
      log.error({ event: 'server.register_failed', err: error }, 'registration failed');
      await shutdown({ force: true, reason: 'registration failed' });
      throw startFailed(`registering ${advertised.address} failed, so the server was closed again: ${(error as Error).message}`, error);
    }
  }

  return {
    server,
    port,
    address,
    advertisedAddress: advertised.address,
    get state() {
      return state;
    },
    admin,
    setServing,
    setServiceServing: (service, serving) => (serving ? health.setServing(service) : health.setNotServing(service)),
    shutdown,
  };
}

/** The health name of a binding: its own, or the service of its definition's methods. */
function serviceName(binding: ServiceBinding): string {
  if (binding.name !== undefined) return binding.name;
  const path = Object.values(binding.definition)[0]?.path;
  const service = path?.split('/')[1];
  if (!service) throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, 'server: services[].definition has no methods, so name must be given');
  return service;
}

/**
 * Binds `host:port`. A port in use is one GrpcHaError naming it: it is tried with a plain
 * listener first, because grpc-js, failing to bind, logs "No address added out of total 1
 * resolved" at ERROR on its own before rejecting with a list of raw errors.
 */
async function bind(server: Server, host: string, port: number): Promise<number> {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (port !== 0) {
    const probe = net.createServer();
    const taken = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      probe.once('error', resolve);
      probe.listen({ host, port, exclusive: false }, () => probe.close(() => resolve(null)));
    });
    if (taken) {
      server.forceShutdown();
      const why = taken.code === 'EADDRINUSE' ? 'the address is in use (another process listens there; pick another port, or 0 for any free one)' : taken.message;
      throw startFailed(`cannot bind ${where}: ${why}`, taken);
    }
  }
  try {
    return await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
  } catch (error) {
    server.forceShutdown();
    throw startFailed(`cannot bind ${where}: ${(error as Error).message}`, error);
  }
}

function startFailed(message: string, cause: unknown): GrpcHaError {
  return new GrpcHaError(ERROR_CODES.START_FAILED, `serve: ${message}`, { cause });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
