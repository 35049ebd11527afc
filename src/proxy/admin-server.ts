/**
 * The proxy's admin endpoint, on 127.0.0.1 by default (it tells anyone who can reach it the
 * backend topology), under the rules of every grpc-ha admin endpoint (adminGuard in
 * src/observe/admin-access.ts: a token off loopback, Host checked without one): `GET /healthz`
 * for liveness probes (no token needed), `GET /state` for a JSON view of
 * clusters, backends and counters, and grpc-ha's admin routes (src/observe/admin-server.ts):
 * `/metrics` (the proxy's per-cluster, per-backend series among them), `/api/state`,
 * `/api/events` and the dashboard. Those routes (the metrics library, the dashboard) are loaded
 * on the first request that needs them: a proxy nobody scrapes does not carry them.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { adminGuard } from '../observe/admin-access.js';
import type { ChannelState, EndpointState } from '../observe/channel-observer.js';
import { observeProxy, type ProxyBackendView } from '../observe/proxy-observer.js';
import type { ProxyState } from '../observe/proxy-state.js';

/** What the admin endpoint shows. */
export interface AdminSource {
  /** false once the proxy is shutting down: /healthz answers 503 so probes stop sending traffic. */
  healthy(): boolean;
  /** The proxy's state; /state is its JSON. */
  state(): ProxyState;
  /**
   * Brings `state()` up to date before a request reads it, and every second while a dashboard
   * streams (a proxy on workers asks each worker for its counters). Absent when state() is live.
   */
  refresh?(): Promise<void>;
}

/** How often the state is refreshed while a dashboard event stream is open, ms (the dashboard ticks every second). */
const STREAM_REFRESH_MS = 1000;

/** The proxy's clusters as the dashboard shows channels: one per cluster, its backends as endpoints. */
function clusterChannels(state: ProxyState): ChannelState[] {
  const now = Date.now();
  return state.clusters.map((c, i) => ({
    id: -(i + 1),
    service: `cluster ${c.name}`,
    policy: c.policy,
    panic: c.panic === true,
    ...(c.ejections ? { ejections: c.ejections } : {}),
    endpoints: c.backends.map((b): EndpointState => {
      const reason = b.ejected ? b.ejected.reason : b.available ? undefined : b.lastError;
      return {
        endpoint: b.address,
        connectivity: b.state.toUpperCase(),
        health: b.condition,
        ...(reason ? { healthReason: reason } : {}),
        ...(b.ejected ? { ejectedUntil: now + b.ejected.remainingMs } : {}),
        weight: b.weight,
        inFlight: b.inFlight,
        ewmaMs: b.latencyEwmaMs,
        started: b.completed + b.inFlight,
        finished: b.completed,
        failed: b.failed,
        lastError: null,
      };
    }),
  }));
}

/**
 * The proxy's backends as /metrics reads them, from the same state /state shows: computed at
 * scrape time, so the forwarding path carries no metric code.
 */
function* backendsOf(state: ProxyState): Iterable<ProxyBackendView> {
  for (const c of state.clusters) {
    for (const b of c.backends) {
      yield { cluster: c.name, backend: b.address, inFlight: b.inFlight, completed: b.completed, failed: b.failed, healthy: b.available };
    }
  }
}

/** Where the admin endpoint listens, and the token it requires (mandatory off loopback: the config checks it). */
export interface AdminAddress {
  readonly host: string;
  readonly port: number;
  readonly token?: string;
}

/** Starts the admin HTTP server; resolves with it and its port. */
export function startAdminServer(endpoint: AdminAddress, source: AdminSource): Promise<{ server: Server; port: number }> {
  const host = endpoint.host || '127.0.0.1';
  const guard = adminGuard(host, endpoint.token);
  type Handler = { handle: (req: IncomingMessage, res: ServerResponse) => boolean; close: () => void };
  let admin: Promise<Handler> | undefined;
  let closed = false;
  const loadAdmin = () =>
    (admin ??= import('../observe/admin-server.js').then(({ createAdminHandler }) => {
      const handler = createAdminHandler({
        host,
        ...(endpoint.token !== undefined && { token: endpoint.token }),
        proxy: () => source.state(),
        channels: () => clusterChannels(source.state()),
        title: 'grpc-ha proxy',
      });
      if (closed) handler.close();
      return handler;
    }));
  let streams = 0;
  let streamTimer: NodeJS.Timeout | undefined;
  const watchStream = (res: ServerResponse) => {
    if (source.refresh === undefined || !res.getHeader('content-type')?.toString().startsWith('text/event-stream')) return;
    if (streams++ === 0) {
      streamTimer = setInterval(() => void source.refresh!().catch(() => {}), STREAM_REFRESH_MS);
      streamTimer.unref();
    }
    res.once('close', () => {
      if (--streams === 0) clearInterval(streamTimer);
    });
  };
  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (!guard(req, res, path === '/healthz')) return;
    if (path === '/healthz') {
      const ok = source.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'shutting down\n');
      return;
    }
    await source.refresh?.();
    if (path === '/state') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(source.state(), null, 2) + '\n');
    } else if ((await loadAdmin()).handle(req, res)) {
      watchStream(res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /state, /metrics or / (dashboard)\n');
    }
  };
  // node:http is loaded with the first admin server: a proxy with `admin: off` (its workers too) never pays for it.
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const server = http.createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`admin: ${(error as Error).message}\n`);
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // the dashboard's event stream is long-lived
  const unobserve = observeProxy({ backends: () => backendsOf(source.state()) });
  const release = () => {
    closed = true;
    unobserve();
    clearInterval(streamTimer);
    void admin?.then((handler) => handler.close());
  };
  server.once('close', release);
  return new Promise((resolve, reject) => {
    server.once('error', (error) => {
      release();
      reject(error);
    });
    server.listen(endpoint.port, host, () => {
      server.removeAllListeners('error');
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}


/** The admin endpoint of a running proxy: opened at start, moved by a reload, closed at the end. */
export class AdminEndpoint {
  private constructor(
    private readonly source: AdminSource,
    private running: { server: Server; port: number; at: AdminAddress } | null,
  ) {}

  /** Opens the endpoint at `address` (none when null); rejects when it cannot listen. */
  static async open(address: AdminAddress | null, source: AdminSource): Promise<AdminEndpoint> {
    const endpoint = new AdminEndpoint(source, null);
    await endpoint.move(address);
    return endpoint;
  }

  /** The bound port, or null when off. */
  get port(): number | null {
    return this.running?.port ?? null;
  }

  /**
   * Moves the endpoint to `address` (off when null). A new address is bound before the old one
   * closes; the same one closes first (it cannot be bound twice). Rejects, keeping the old one
   * open, when the new address cannot be bound.
   */
  async move(address: AdminAddress | null): Promise<void> {
    const old = this.running;
    if (old && address && old.at.host === address.host && old.at.port === address.port && old.at.token === address.token) {
      // Same address and token: nothing to rebind.
      return;
    }
    const same = old !== null && address !== null && old.at.port !== 0 && old.at.port === address.port;
    if (same || address === null) await this.close();
    const started = address === null ? null : await startAdminServer(address, this.source);
    if (!same && old && address !== null) await closeServer(old.server);
    this.running = started && address && { ...started, at: address };
  }

  /** Closes the endpoint. */
  async close(): Promise<void> {
    const old = this.running;
    this.running = null;
    if (old) await closeServer(old.server);
  }
}

function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}
