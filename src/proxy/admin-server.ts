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

/** What the admin endpoint shows. */
export interface AdminSource {
  /** false once the proxy is shutting down: /healthz answers 503 so probes stop sending traffic. */
  healthy(): boolean;
  /** The JSON for /state. */
  state(): unknown;
}

interface BackendJson {
  address?: unknown;
  inFlight?: unknown;
  completed?: unknown;
  failed?: unknown;
  available?: unknown;
  state?: unknown;
  health?: unknown;
  weight?: unknown;
  latencyEwmaMs?: unknown;
  lastError?: unknown;
  ejected?: { reason?: unknown; remainingMs?: unknown };
}

interface ClusterJson {
  name?: unknown;
  policy?: unknown;
  panic?: unknown;
  ejections?: unknown;
  backends?: BackendJson[];
}

const clustersOf = (state: unknown): ClusterJson[] => (state as { clusters?: ClusterJson[] } | null)?.clusters ?? [];

/** The proxy's clusters as the dashboard shows channels: one per cluster, its backends as endpoints. */
function clusterChannels(state: unknown): ChannelState[] {
  const now = Date.now();
  return clustersOf(state).map((c, i) => ({
    id: -(i + 1),
    service: `cluster ${String(c.name)}`,
    policy: String(c.policy),
    panic: c.panic === true,
    ...(c.ejections ? { ejections: c.ejections } : {}),
    endpoints: (c.backends ?? []).map((b): EndpointState => {
      const completed = Number(b.completed) || 0;
      const inFlight = Number(b.inFlight) || 0;
      const health = b.ejected ? 'ejected' : b.available === true ? 'healthy' : b.health === 'not_serving' ? 'not_serving' : String(b.state);
      const reason = b.ejected ? String(b.ejected.reason) : typeof b.lastError === 'string' && b.available !== true ? b.lastError : undefined;
      return {
        endpoint: String(b.address),
        connectivity: String(b.state).toUpperCase(),
        health,
        ...(reason ? { healthReason: reason } : {}),
        ...(b.ejected ? { ejectedUntil: now + (Number(b.ejected.remainingMs) || 0) } : {}),
        weight: Number(b.weight) || 1,
        inFlight,
        ewmaMs: typeof b.latencyEwmaMs === 'number' ? b.latencyEwmaMs : null,
        started: completed + inFlight,
        finished: completed,
        failed: Number(b.failed) || 0,
        lastError: null,
      };
    }),
  }));
}

/**
 * The proxy's backends as /metrics reads them, from the same JSON /state shows (Cluster.toJSON):
 * computed at scrape time, so the forwarding path carries no metric code.
 */
function backendsOf(state: unknown): ProxyBackendView[] {
  const out: ProxyBackendView[] = [];
  for (const c of clustersOf(state)) {
    for (const b of c.backends ?? []) {
      out.push({
        cluster: String(c.name),
        backend: String(b.address),
        inFlight: Number(b.inFlight) || 0,
        completed: Number(b.completed) || 0,
        failed: Number(b.failed) || 0,
        healthy: b.available === true,
      });
    }
  }
  return out;
}

/** Starts the admin HTTP server; resolves with it and its port. */
export function startAdminServer(host: string, port: number, source: AdminSource): Promise<{ server: Server; port: number }> {
  const admin = createAdminHandler({ state: () => ({ proxy: source.state() }), channels: () => clusterChannels(source.state()), title: 'grpc-ha proxy' });
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
