/**
 * A FAKE Kubernetes API server — only the EndpointSlice list/watch contract grpc-ha's `k8s:`
 * source uses. It is a fake because no API server can run on these machines: kube-apiserver
 * needs etcd, certificates and a control plane (kind and minikube need containers or VMs), and
 * nothing can be downloaded. It follows the documented contract ("Kubernetes API Concepts",
 * the discovery.k8s.io/v1 reference) rather than any implementation:
 *
 * - GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=k=v[,k=v]
 *   lists `{ kind: EndpointSliceList, metadata: { resourceVersion, continue }, items }`, in
 *   pages of `limit` from one snapshot; an expired `continue` token answers 410 Expired.
 * - `&watch=1&resourceVersion=RV` streams newline-delimited `{ type, object }` events after RV
 *   (ADDED, MODIFIED, DELETED), BOOKMARK events (only `metadata.resourceVersion` set) when
 *   `allowWatchBookmarks=true` and the test calls `bookmark()`, and ends after `timeoutSeconds`.
 *   A resourceVersion older than the kept history gets `ERROR` with a 410 Status (as
 *   kube-apiserver does for "too old resource version"), or an HTTP 410 when `goneAsHttp` is set.
 *   `resourceVersion` "0" or absent starts with an ADDED event per existing object.
 * - resourceVersions are one counter for the whole store (etcd's revision), sent as strings.
 * - `Authorization: Bearer <token>` is checked when a token is set (401 Status otherwise).
 *
 * Tests drive it: `apply()` and `remove()` slices, `bookmark()`, `compact()` (forget the
 * history, as etcd compaction does), `endWatches()` (as a watch timeout or an API server
 * restart ends them), `stop()`/`start()` (an outage), and read `requests`.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { EndpointSlice } from '../../src/discovery/kubernetes/endpoint-slices.js';

/** A slice as tests write it: no resourceVersion (the store sets it). */
export type SliceSpec = Omit<EndpointSlice, 'metadata'> & { readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>> } };

interface Stored {
  readonly namespace: string;
  readonly object: EndpointSlice;
}

interface HistoryEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly namespace: string;
  readonly object: EndpointSlice;
}

interface OpenWatch {
  readonly namespace: string;
  readonly selector: Map<string, string>;
  readonly bookmarks: boolean;
  readonly response: http.ServerResponse;
}

/** One request the fake received. */
export interface SeenRequest {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
}

/** The fake API server; see the module doc. */
export class FakeKubernetes {
  /** The bearer token required, or null for none. Change it to rotate. */
  token: string | null;
  /** Answer a too-old watch with HTTP 410 instead of a 410 ERROR event. */
  goneAsHttp = false;
  /** Every request, in order. */
  readonly requests: SeenRequest[] = [];
  private rv = 100;
  private compactedRv = 0;
  private readonly objects = new Map<string, Stored>();
  private readonly history: HistoryEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly snapshots = new Map<string, { rv: number; items: EndpointSlice[] }>();
  private server: http.Server | null = null;
  private port = 0;

  constructor(private readonly options: { token?: string; tls?: { cert: Buffer; key: Buffer } } = {}) {
    this.token = options.token ?? null;
  }

  /** Listens on 127.0.0.1 (a free port the first time, the same one after stop()). */
  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = this.options.tls ? https.createServer({ ...this.options.tls }, handler) : http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The base URL, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Creates or replaces a slice (ADDED or MODIFIED). */
  apply(namespace: string, spec: SliceSpec): void {
    const key = `${namespace}/${spec.metadata.name}`;
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const object = this.stamp(namespace, spec);
    this.objects.set(key, { namespace, object });
    this.emit({ rv: this.rv, type, namespace, object });
  }

  /** Deletes a slice (DELETED). */
  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const stored = this.objects.get(key);
    if (!stored) return;
    this.objects.delete(key);
    const object = this.stamp(namespace, stored.object);
    this.emit({ rv: this.rv, type: 'DELETED', namespace, object });
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allows them. */
  bookmark(): void {
    for (const watch of this.watches) {
      if (watch.bookmarks) this.send(watch.response, { type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Forgets the history up to now: watches from an older resourceVersion get 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
    this.snapshots.clear();
  }

  /** Ends every open watch, as its timeoutSeconds or an API server restart would. */
  endWatches(): void {
    for (const watch of this.watches) watch.response.end();
    this.watches.clear();
  }

  /** Number of open watches. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Closes the server and every connection: an outage. */
  async stop(): Promise<void> {
    this.endWatches();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private stamp(namespace: string, spec: SliceSpec | EndpointSlice): EndpointSlice {
    this.rv++;
    return {
      ...spec,
      metadata: { ...spec.metadata, namespace, resourceVersion: String(this.rv) },
      ...({ kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1' } as object),
    } as EndpointSlice;
  }

  private emit(event: HistoryEvent): void {
    this.history.push(event);
    for (const watch of this.watches) {
      if (matches(watch.namespace, watch.selector, event.namespace, event.object)) this.send(watch.response, { type: event.type, object: event.object });
    }
  }

  private send(response: http.ServerResponse, event: object): void {
    response.write(`${JSON.stringify(event)}\n`);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({ path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
    if (this.token !== null && req.headers.authorization !== `Bearer ${this.token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const m = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname);
    if (!m || req.method !== 'GET') return status(res, 404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`);
    const namespace = decodeURIComponent(m[1]!);
    const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
    if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') this.watch(namespace, selector, url.searchParams, res);
    else this.list(namespace, selector, url.searchParams, res);
  }

  private list(namespace: string, selector: Map<string, string>, query: URLSearchParams, res: http.ServerResponse): void {
    const limit = Number(query.get('limit') ?? 0);
    const token = query.get('continue');
    let snapshot: { rv: number; items: EndpointSlice[] };
    let start = 0;
    if (token) {
      const [id, offset] = token.split(':');
      const kept = this.snapshots.get(id!);
      if (!kept) return status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
      snapshot = kept;
      start = Number(offset);
    } else {
      const items = [...this.objects.values()].filter((s) => matches(namespace, selector, s.namespace, s.object)).map((s) => s.object);
      snapshot = { rv: this.rv, items: items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)) };
    }
    const end = limit > 0 ? Math.min(snapshot.items.length, start + limit) : snapshot.items.length;
    const metadata: Record<string, string> = { resourceVersion: String(snapshot.rv) };
    if (end < snapshot.items.length) {
      const id = `${snapshot.rv}-${Math.random().toString(36).slice(2)}`;
      this.snapshots.set(id, snapshot);
      metadata['continue'] = `${id}:${end}`;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata, items: snapshot.items.slice(start, end) }));
  }

  private watch(namespace: string, selector: Map<string, string>, query: URLSearchParams, res: http.ServerResponse): void {
    const from = query.get('resourceVersion');
    const tooOld = from !== null && from !== '' && from !== '0' && Number(from) < this.compactedRv;
    if (tooOld && this.goneAsHttp) return status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // kube-apiserver flushes the headers as soon as it accepts a watch, before any event.
    res.flushHeaders();
    if (tooOld) {
      this.send(res, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 } });
      res.end();
      return;
    }
    if (from === null || from === '' || from === '0') {
      for (const stored of this.objects.values()) {
        if (matches(namespace, selector, stored.namespace, stored.object)) this.send(res, { type: 'ADDED', object: stored.object });
      }
    } else {
      for (const event of this.history) {
        if (event.rv > Number(from) && matches(namespace, selector, event.namespace, event.object)) this.send(res, { type: event.type, object: event.object });
      }
    }
    const watch: OpenWatch = { namespace, selector, bookmarks: query.get('allowWatchBookmarks') === 'true', response: res };
    this.watches.add(watch);
    const timeoutS = Number(query.get('timeoutSeconds') ?? 1800);
    const timer = setTimeout(() => res.end(), timeoutS * 1000);
    res.on('close', () => {
      clearTimeout(timer);
      this.watches.delete(watch);
    });
  }
}

function parseSelector(text: string): Map<string, string> {
  const terms = new Map<string, string>();
  for (const term of text.split(',').filter(Boolean)) {
    const [key, value] = term.split('=');
    terms.set(key!, value ?? '');
  }
  return terms;
}

function matches(namespace: string, selector: Map<string, string>, objectNamespace: string, object: EndpointSlice): boolean {
  if (namespace !== objectNamespace) return false;
  for (const [key, value] of selector) if (object.metadata.labels?.[key] !== value) return false;
  return true;
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

/** A slice of `service` as the EndpointSlice controller writes one: label, address type, ports, endpoints. */
export function endpointSlice(
  service: string,
  name: string,
  ports: readonly { name?: string; port: number }[],
  endpoints: readonly { address: string; ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null; zone?: string; pod?: string }[],
  addressType = 'IPv4',
): SliceSpec {
  return {
    metadata: { name, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: { ready: e.ready === undefined ? true : e.ready, serving: e.serving === undefined ? (e.ready ?? true) : e.serving, terminating: e.terminating === undefined ? false : e.terminating },
      ...(e.zone ? { zone: e.zone } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace: 'default' } } : {}),
    })),
  };
}
