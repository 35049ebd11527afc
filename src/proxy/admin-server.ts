/**
 * The proxy's admin endpoint, on 127.0.0.1 by default (it tells anyone who can reach it the
 * backend topology): `GET /healthz` for liveness probes, `GET /state` for a JSON view of
 * clusters, backends and counters, and grpc-ha's admin routes (src/observe/admin-server.ts):
 * `/metrics` (the proxy's per-cluster, per-backend series among them), `/api/state`,
 * `/api/events` and the dashboard.
 */
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminHandler } from '../observe/admin-server.js';
import type { ChannelState, EndpointState } from '../observe/channel-observer.js';
import { observeProxy, type ProxyBackendView } from '../observe/proxy-observer.js';
import type { ProxyState } from '../observe/proxy-state.js';

/** What the admin endpoint shows. */
export interface AdminSource {
  /** false once the proxy is shutting down: /healthz answers 503 so probes stop sending traffic. */
  healthy(): boolean;
  /** The proxy's state; /state is its JSON. */
  state(): ProxyState;
}

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

/** Starts the admin HTTP server; resolves with it and its port. */
export function startAdminServer(host: string, port: number, source: AdminSource): Promise<{ server: Server; port: number }> {
  const admin = createAdminHandler({ proxy: () => source.state(), channels: () => clusterChannels(source.state()), title: 'grpc-ha proxy' });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      const ok = source.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'shutting down\n');
    } else if (path === '/state') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(source.state(), null, 2) + '\n');
    } else if (!admin.handle(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /state, /metrics or / (dashboard)\n');
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // the dashboard's event stream is long-lived
  const unobserve = observeProxy({ backends: () => backendsOf(source.state()) });
  server.once('close', () => {
    unobserve();
    admin.close();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) => {
      unobserve();
      admin.close();
      reject(error);
    });
    server.listen(port, host || '127.0.0.1', () => {
      server.removeAllListeners('error');
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
