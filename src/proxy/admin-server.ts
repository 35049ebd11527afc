/**
 * The admin endpoint, on 127.0.0.1 by default (it tells anyone who can reach it the backend
 * topology): `GET /healthz` for liveness probes and `GET /state` for a JSON view of clusters,
 * backends and counters. Metrics come later.
 */
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the admin endpoint shows. */
export interface AdminSource {
  /** false once the proxy is shutting down: /healthz answers 503 so probes stop sending traffic. */
  healthy(): boolean;
  /** The JSON for /state. */
  state(): unknown;
}

/** Starts the admin HTTP server; resolves with it and its port. */
export function startAdminServer(host: string, port: number, source: AdminSource): Promise<{ server: Server; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      const ok = source.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'shutting down\n');
    } else if (path === '/state') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(source.state(), null, 2) + '\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /state\n');
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || '127.0.0.1', () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
