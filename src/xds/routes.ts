/**
 * A service config's `methodConfig` as the routes of an xDS RouteConfiguration: one route per
 * method or service named, then the catch-all, each sending to the service's cluster with
 *
 * - the call timeout as `max_stream_duration` (gRFC A31: "the timeout [...] is taken from
 *   RouteAction.max_stream_duration.max_stream_duration"), and as `timeout` for Envoy;
 * - the retry policy as `retry_policy` (gRFC A44): `retry_on` holds the retryable codes gRPC
 *   clients support (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable),
 *   `num_retries` is maxAttempts - 1, `retry_back_off` the initial and maximum backoff. A44 fixes
 *   the backoff multiplier at 2, so the document's multiplier is not carried;
 * - the ring hash policy's request header as `hash_policy` (gRFC A42).
 *
 * Hedging, retry throttling and waitForReady have no xDS equivalent in gRPC clients.
 */
import type { MethodConfig, RetryPolicy, ServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
import { STATUS_CODE_NAMES } from '../core/status.js';
import { duration, wrapped } from './envoy-json.js';

/** Codes gRPC clients accept in `retry_on` ("Supported values: cancelled, deadline-exceeded, internal, resource-exhausted, unavailable" - A44). */
const XDS_RETRY_ON = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/** What routing adds beyond the cluster: the request header to hash on, if any. */
export interface RouteOptions {
  readonly hashHeader?: string;
}

function retryOn(policy: RetryPolicy, notes: string[]): string {
  const codes: string[] = [];
  for (const code of policy.retryableStatusCodes) {
    const name = (typeof code === 'number' ? STATUS_CODE_NAMES[code] ?? String(code) : code).toLowerCase().replace(/_/g, '-');
    if (XDS_RETRY_ON.has(name)) codes.push(name);
    else notes.push(`retryPolicy: ${name} is not retryable through xDS (A44 takes ${[...XDS_RETRY_ON].join(', ')})`);
  }
  return codes.join(',');
}

function secondsMs(text: string): number {
  return Number(text.replace(/s$/, '')) * 1000;
}

/**
 * A method config's timeout in ms, read from the document as written: a proto3 JSON duration
 * ("1.5s") or {seconds, nanos}. grpc-js 1.14's validated copy reads "1.5s" as 1 s + 5 ns (it
 * takes the fraction's digits as nanoseconds), so the document is the source here.
 */
export function timeoutMs(raw: unknown): number | undefined {
  if (typeof raw === 'string') {
    const m = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(raw);
    return m ? Number(m[1]) * 1000 + Number((m[2] ?? '').padEnd(9, '0')) / 1e6 : undefined;
  }
  if (raw !== null && typeof raw === 'object' && 'seconds' in raw) {
    const d = raw as { seconds?: number; nanos?: number };
    return (d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
  }
  return undefined;
}

function routeAction(cluster: string, method: MethodConfig | undefined, rawTimeout: unknown, options: RouteOptions, notes: string[]): Record<string, unknown> {
  const action: Record<string, unknown> = { cluster };
  const ms = method?.timeout ? timeoutMs(rawTimeout) : undefined;
  if (ms !== undefined) {
    action.max_stream_duration = { max_stream_duration: duration(ms) };
    action.timeout = duration(ms);
  }
  if (method?.retryPolicy) {
    const p = method.retryPolicy;
    action.retry_policy = {
      retry_on: retryOn(p, notes),
      num_retries: wrapped(p.maxAttempts - 1),
      retry_back_off: { base_interval: duration(secondsMs(p.initialBackoff)), max_interval: duration(secondsMs(p.maxBackoff)) },
    };
  }
  if (method?.hedgingPolicy) notes.push('hedgingPolicy: gRPC clients take no hedging from xDS; left out');
  if (options.hashHeader !== undefined) action.hash_policy = [{ header: { header_name: options.hashHeader } }];
  return action;
}

/**
 * The routes of `service`'s virtual host, most specific first; `document` is the service config
 * as written (for timeouts), `notes` receives what was left out.
 */
export function serviceRoutes(cluster: string, config: ServiceConfig | null, document: unknown, options: RouteOptions, notes: string[]): Record<string, unknown>[] {
  const methods: Record<string, unknown>[] = [];
  const services: Record<string, unknown>[] = [];
  let fallback: { method: MethodConfig; timeout: unknown } | undefined;
  const written = ((document as { methodConfig?: { timeout?: unknown }[] } | null)?.methodConfig ?? []);
  (config?.methodConfig ?? []).forEach((method, i) => {
    const timeout = written[i]?.timeout;
    for (const name of method.name) {
      // "If the 'service' field is empty, the 'method' field must be empty, and this MethodConfig
      // specifies the default for all methods" - gRPC service config doc.
      if (!name.service) fallback = { method, timeout };
      else if (name.method) methods.push({ match: { path: `/${name.service}/${name.method}` }, route: routeAction(cluster, method, timeout, options, notes) });
      else services.push({ match: { prefix: `/${name.service}/` }, route: routeAction(cluster, method, timeout, options, notes) });
    }
  });
  if (config?.retryThrottling) notes.push('retryThrottling: gRPC clients take no retry throttling from xDS; left out');
  return [...methods, ...services, { match: { prefix: '' }, route: routeAction(cluster, fallback?.method, fallback?.timeout, options, notes) }];
}
