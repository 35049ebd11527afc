/**
 * The admin HTTP server: Prometheus metrics, a JSON view of every channel's live state, a
 * server-sent-event stream of state changes and per-second numbers, and the dashboard that shows
 * them. Opt-in (`startAdminServer()`, `serve({ admin })`, the proxy's admin port), bound to
 * 127.0.0.1 by default: it tells anyone who can reach it the topology of the services. Bound
 * elsewhere it requires a token (`Authorization: Bearer <token>` or `?token=`), compared in
 * constant time. Without a token it answers only requests whose Host names a loopback address or
 * the bound host, so a web page cannot reach it through a name it rebinds to 127.0.0.1 (DNS
 * rebinding). The proxy's admin endpoint follows the same rules (src/observe/admin-access.ts).
 *
 *   GET /              the dashboard (static files from dashboard/, uPlot from node_modules)
 *   GET /metrics       Prometheus text format
 *   GET /api/state     channels, endpoints, registries, servers, xDS control planes and their clients (JSON)
 *   GET /api/events    SSE: `snapshot` on connect, then `event` per state change and `tick` per second
 */
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { adminGuard, adminTokenError } from './admin-access.js';
import { observedChannels, type ChannelState } from './channel-observer.js';
import { onEvent, recentEvents, type HaEvent } from './events.js';
import { LiveStats, type Tick } from './live-stats.js';
import { grpcHaMetricsRegistry } from './metrics.js';
import type { ProxyState } from './proxy-state.js';
import { registryWatchStats } from './registry-stats.js';
import { observedServers } from './server-observer.js';
import { observedXdsServers } from './xds-observer.js';

/** Defaults of the admin server. */
export const ADMIN_DEFAULTS = {
  /** Loopback: the admin API shows topology; exposing it is a decision. */
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 0,
  /** Milliseconds between ticks of the live stream. */
  tickMs: 1000,
  /** Ticks kept and sent with the snapshot, so a page opened mid-run draws the last two minutes and current rates at once (the page's chart window). */
  historyTicks: 120,
  /** EventSource waits this long before reconnecting (sent as the stream's `retry:`). */
  reconnectMs: 1000,
};

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  /** Interface to bind. Defaults to 127.0.0.1. */
  readonly host?: string;
  /** Port; 0 picks a free one. Defaults to 0. */
  readonly port?: number;
  /** Required when `host` is not a loopback address; then every request must carry it. */
  readonly token?: string;
  /** Metrics to serve. Defaults to grpc-ha's own registry (grpcHaMetricsRegistry()). */
  readonly registry?: Registry;
  /** A grpc-ha proxy's state, shown under `proxy` in /api/state (the proxy's admin port sets it). */
  readonly proxy?: () => ProxyState;
  /** Channels not built on a grpc-ha balancer, shown like them (the proxy's clusters). */
  readonly channels?: () => ChannelState[];
  /** Title of the dashboard. Defaults to "grpc-ha". */
  readonly title?: string;
}

/** A running admin server. */
export interface AdminServer {
  readonly server: Server;
  readonly port: number;
  /** The dashboard's URL (with the token, if any). */
  readonly url: string;
  close(): Promise<void>;
}

const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));
const require = createRequire(import.meta.url);
const STATIC: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => `${DASHBOARD_DIR}index.html`, type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: () => `${DASHBOARD_DIR}dashboard.js`, type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: () => `${DASHBOARD_DIR}dashboard.css`, type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** The state /api/state answers: every channel, registry watch, server and xDS control plane of this process, and the proxy's state when given. */
export function adminState(proxy?: () => ProxyState, channels?: () => ChannelState[]): Record<string, unknown> {
  return {
    pid: process.pid,
    at: Date.now(),
    channels: [...[...observedChannels()].map((c) => c.state()), ...(channels?.() ?? [])],
    registries: [...registryWatchStats()].map((w) => ({ ...w })),
    servers: [...observedServers()].map((s) => ({ services: s.services, address: s.address, state: s.state() })),
    xds: [...observedXdsServers()].map((x) => ({ address: x.address, registry: x.registry, services: x.services(), clients: x.clients(), counters: x.counters() })),
    ...(proxy && { proxy: proxy() }),
  };
}

/**
 * The admin routes as a request handler, for a server of your own (the proxy's admin port uses
 * it): answers and returns true for its paths, returns false for others. `close()` ends streams.
 */
export function createAdminHandler(options: Omit<AdminServerOptions, 'port'> = {}): {
  handle: (req: IncomingMessage, res: ServerResponse) => boolean;
  close: () => void;
} {
  const registry = options.registry ?? grpcHaMetricsRegistry();
  const guard = adminGuard(options.host ?? ADMIN_DEFAULTS.host, options.token);
  const streams = new Set<ServerResponse>();
  const live = new LiveStats();
  const history: Tick[] = [];
  let unsubscribe: (() => void) | undefined;
  const send = (res: ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  // Ticks run from the start, not from the first page: a page opened later gets the recent history
  // in its snapshot, so its first paint already shows current rates rather than "–".
  live.tick(options.channels?.()); // the baseline: the first tick covers one second, not the channel's life
  const ticker = setInterval(() => {
    const tick = live.tick(options.channels?.());
    history.push(tick);
    if (history.length > ADMIN_DEFAULTS.historyTicks) history.shift();
    for (const res of streams) send(res, 'tick', tick);
  }, ADMIN_DEFAULTS.tickMs);
  ticker.unref();
  const startStreaming = () => {
    unsubscribe ??= onEvent((e: HaEvent) => {
      for (const res of streams) send(res, 'event', e);
    });
  };
  const stopStreaming = () => {
    unsubscribe?.();
    unsubscribe = undefined;
  };
  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const known = path in STATIC || path === '/metrics' || path === '/api/state' || path === '/api/events';
    if (!known) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    if (!guard(req, res)) return true;
    const fail = (error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`admin: ${(error as Error).message}\n`);
    };
    const file = STATIC[path];
    if (file) {
      readFile(file.file()).then((body) => res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' }).end(body), fail);
    } else if (path === '/metrics') {
      registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text), fail);
    } else if (path === '/api/state') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(adminState(options.proxy, options.channels), null, 2) + '\n');
    } else {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      // "retry: ms" sets how soon EventSource reconnects (HTML Living Standard, server-sent events);
      // a reconnecting page gets the full snapshot again, so a restarted server leaves no gap.
      res.write(`retry: ${ADMIN_DEFAULTS.reconnectMs}\n\n`);
      send(res, 'snapshot', { title: options.title ?? 'grpc-ha', state: adminState(options.proxy, options.channels), events: recentEvents(), ticks: history });
      streams.add(res);
      startStreaming();
      res.on('close', () => {
        streams.delete(res);
        if (streams.size === 0) stopStreaming();
      });
    }
    return true;
  };
  return {
    handle,
    close: () => {
      clearInterval(ticker);
      stopStreaming();
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}

/**
 * Starts the admin server; resolves once it listens. Throws GrpcHaError(INVALID_CONFIG) when
 * bound to a non-loopback host without a token.
 */
export async function startAdminServer(options: AdminServerOptions = {}): Promise<AdminServer> {
  const host = options.host ?? ADMIN_DEFAULTS.host;
  const tokenError = adminTokenError(host, options.token);
  if (tokenError !== null) throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, tokenError);
  const handler = createAdminHandler({ ...options, host });
  const server = http.createServer((req, res) => {
    if (!handler.handle(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /metrics, /api/state or /api/events\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // the event stream is long-lived
  const requested = options.port ?? ADMIN_DEFAULTS.port;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(requested, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    handler.close();
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${host.includes(':') ? `[${host}]` : host}:${requested}`;
    const why = code === 'EADDRINUSE' ? 'the address is in use (pick another port, or 0 for any free one)' : (error as Error).message;
    throw new GrpcHaError(ERROR_CODES.START_FAILED, `admin: cannot listen on ${where}: ${why}`, { cause: error });
  }
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    server,
    port,
    url: `http://${shown}:${port}/${options.token ? `?token=${encodeURIComponent(options.token)}` : ''}`,
    close: () => {
      handler.close();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
