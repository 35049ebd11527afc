/**
 * The two requests grpc-ha makes to the Kubernetes API, on node:http(s) (client certificates
 * and a CA per connection, which the platform's fetch cannot take): list the EndpointSlices of a
 * Service, and watch them from a resourceVersion. "Kubernetes API Concepts":
 *
 * - a list answers `{ metadata: { resourceVersion, continue }, items }`, in pages of `limit`;
 * - a watch (`?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=T`) streams
 *   one JSON event per line — ADDED, MODIFIED, DELETED, BOOKMARK (only
 *   `object.metadata.resourceVersion` is meaningful) or ERROR (`object` is a Status) — and ends
 *   after T seconds;
 * - errors are Status objects; 410 Gone (reason "Expired"/"Gone") means the resourceVersion or
 *   continue token is too old and the client must list again.
 */
import http from 'node:http';
import https from 'node:https';
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';
import type { EndpointSlice } from './endpoint-slices.js';
import type { KubernetesConnection } from './kube-config.js';

/** An error status from the API (or a watch's ERROR event). */
export class KubernetesApiError extends GrpcHaError {
  constructor(
    /** The HTTP status code: 401, 403, 404, 410, 500... */
    readonly status: number,
    /** The Status reason: "Expired", "Gone", "Forbidden"... */
    readonly reason: string,
    message: string,
  ) {
    super(ERROR_CODES.REGISTRY_UNAVAILABLE, message);
  }
}

/** One watch event. */
export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: EndpointSlice & { readonly code?: number; readonly reason?: string; readonly message?: string };
}

/** The most a list page may weigh, bytes: a bound against a runaway answer. */
const MAX_LIST_BYTES = 64 << 20;
/** Page size of lists. */
const PAGE_SIZE = 500;

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Lists and watches EndpointSlices over one connection. */
export class KubernetesApiClient {
  constructor(
    private readonly connection: KubernetesConnection,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Every slice of `service`, and the resourceVersion to watch from. */
  async listSlices(namespace: string, service: string, signal: AbortSignal): Promise<{ items: EndpointSlice[]; resourceVersion: string }> {
    const items: EndpointSlice[] = [];
    let token: string | undefined;
    for (;;) {
      const query = new URLSearchParams({ labelSelector: `${SERVICE_NAME_LABEL}=${service}`, limit: String(PAGE_SIZE) });
      if (token) query.set('continue', token);
      const page = (await this.get(slicesPath(namespace), query, signal, 'list')) as { metadata?: { resourceVersion?: string; continue?: string }; items?: EndpointSlice[] };
      if (!Array.isArray(page.items) || typeof page.metadata?.resourceVersion !== 'string') {
        throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${this.connection.description}: the EndpointSlice list has no items or resourceVersion`);
      }
      items.push(...page.items);
      token = page.metadata.continue || undefined;
      if (!token) return { items, resourceVersion: page.metadata.resourceVersion };
    }
  }

  /**
   * Watches the slices of `service` from `resourceVersion`: `onOpen` once the server accepted the
   * watch, `onEvent` per event; resolves when the server ends the watch, rejects on an error
   * status (or when `onEvent` throws).
   */
  watchSlices(
    namespace: string,
    service: string,
    resourceVersion: string,
    timeoutS: number,
    handlers: { onOpen(): void; onEvent(event: WatchEvent): void },
    signal: AbortSignal,
  ): Promise<void> {
    const query = new URLSearchParams({
      labelSelector: `${SERVICE_NAME_LABEL}=${service}`,
      watch: '1',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutS),
    });
    // A silent peer is noticed by TCP keep-alive, and by this bound: the server ends the watch after timeoutS.
    return this.request(slicesPath(namespace), query, signal, 'watch', (timeoutS + 30) * 1000, (response, done) => {
      handlers.onOpen();
      let buffered = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === '') continue;
          try {
            handlers.onEvent(JSON.parse(line) as WatchEvent);
          } catch (error) {
            done(error);
            return;
          }
        }
      });
      response.on('end', () => done(null));
    });
  }

  private get(pathname: string, query: URLSearchParams, signal: AbortSignal, what: string): Promise<unknown> {
    return this.request(pathname, query, signal, what, this.requestTimeoutMs, (response, done) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_LIST_BYTES) done(new Error(`answer larger than ${MAX_LIST_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        try {
          done(null, JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          done(new Error(`answer is not JSON: ${(error as Error).message}`));
        }
      });
    });
  }

  /** One GET; `read` consumes a 200 answer and calls `done` once. */
  private async request<T>(
    pathname: string,
    query: URLSearchParams,
    signal: AbortSignal,
    what: string,
    idleMs: number,
    read: (response: http.IncomingMessage, done: (error: unknown, value?: T) => void) => void,
  ): Promise<T> {
    const { server, tls } = this.connection;
    const authorization = await this.connection.authorization();
    const url = new URL(`${server.pathname.replace(/\/$/, '')}${pathname}?${query}`, server);
    const where = `${this.connection.description}: ${what} ${url.pathname}`;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done = (error: unknown, value?: T) => {
        if (settled) return;
        settled = true;
        request.destroy();
        if (error === null) resolve(value as T);
        else if (error instanceof GrpcHaError) reject(error);
        else reject(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error }));
      };
      const options: https.RequestOptions = {
        method: 'GET',
        headers: { Accept: 'application/json', ...(authorization && { Authorization: authorization }) },
        signal,
        ...(url.protocol === 'https:' ? tls : {}),
      };
      const request = (url.protocol === 'https:' ? https : http).request(url, options, (response) => {
        if (response.statusCode === 200) {
          read(response, done);
          response.on('error', (error) => done(error));
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.length < 64 && chunks.push(chunk));
        response.on('end', () => done(statusError(where, response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
        response.on('error', (error) => done(error));
        if (response.statusCode === 401) this.connection.invalidate();
      });
      request.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
      request.setTimeout(idleMs, () => done(new Error(`no data for ${idleMs} ms`)));
      request.on('error', (error) => done(signal.aborted ? new Error('cancelled') : error));
      request.end();
    });
  }
}

function slicesPath(namespace: string): string {
  return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`;
}

/** The error of a non-200 answer, from its Status body when it has one. */
function statusError(where: string, code: number, body: string): KubernetesApiError {
  let status: { reason?: string; message?: string } = {};
  try {
    status = JSON.parse(body) as typeof status;
  } catch {
    // not a Status: keep the code
  }
  const hint = code === 401 ? ' (the token was refused)' : code === 403 ? ' (the service account needs list and watch on endpointslices.discovery.k8s.io: see examples/kubernetes/rbac.yaml)' : '';
  return new KubernetesApiError(code, status.reason ?? '', `${where} answered ${code}${status.reason ? ` ${status.reason}` : ''}: ${status.message ?? body.trim().slice(0, 200)}${hint}`);
}

/** The error a watch's ERROR event carries. */
export function eventError(where: string, object: WatchEvent['object']): KubernetesApiError {
  return new KubernetesApiError(object.code ?? 0, object.reason ?? '', `${where}: watch error ${object.code ?? ''} ${object.reason ?? ''}: ${object.message ?? ''}`.trim());
}
