/**
 * The key layout and value format of etcd's Go naming package (go.etcd.io/etcd/client/v3/naming
 * /endpoints), so Go servers registered with `endpoints.Manager.AddEndpoint` are found by grpc-ha
 * clients, and grpc-ha servers by Go clients using `naming/resolver`:
 *
 *   key    <service>/<address>      ("register new endpoints with a key matching the Addr" — etcd docs)
 *   value  {"Op":0,"Addr":"<host:port>","Metadata":<any JSON>}
 *
 * `Op` 0 is Add (internal.Update in that package; "must stay JSON-format compatible with"
 * grpc-go's old naming.Update). Like the Go watcher, we treat every stored key under the prefix as
 * an endpoint whatever its Op. grpc-ha puts its instance fields in `Metadata` as an object
 * ({instanceId, weight, zone, version, labels, tags}); Go programs may put anything there, so
 * metadata that is not such an object is ignored and the endpoint kept with weight 1.
 */
import { splitAddress } from '../core/address.js';
import { checkInstance, type ServiceInstance } from './instance.js';

/** The prefix under which a service's endpoints live: `<service>/`. */
export function endpointPrefix(service: string): string {
  return `${service}/`;
}

/** The key of one endpoint: `<service>/<address>`. */
export function endpointKey(instance: ServiceInstance): string {
  return `${endpointPrefix(instance.service)}${instance.address}`;
}

/** The JSON value etcd's Go naming package writes for an Add, with grpc-ha metadata. */
export function encodeEndpoint(instance: ServiceInstance): string {
  const { service: _service, address, ...metadata } = instance;
  return JSON.stringify({ Op: 0, Addr: address, Metadata: metadata });
}

/** Decodes one stored endpoint; never throws. */
export function decodeEndpoint(
  service: string,
  key: string,
  value: string,
): { ok: true; instance: ServiceInstance; warning?: string } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (error) {
    return { ok: false, reason: `value is not JSON (${(error as Error).message})` };
  }
  const update = json as { Addr?: unknown; Metadata?: unknown } | null;
  if (update === null || typeof update !== 'object' || Array.isArray(update)) return { ok: false, reason: 'value is not a JSON object' };
  if (typeof update.Addr !== 'string' || splitAddress(update.Addr) === null) {
    return { ok: false, reason: `Addr must be host:port, got ${JSON.stringify(update.Addr)}` };
  }
  const instanceId = key.slice(endpointPrefix(service).length) || update.Addr;
  const base = { service, address: update.Addr, instanceId };
  const metadata = update.Metadata;
  if (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata)) {
    const fields = metadata as Record<string, unknown>;
    const known = Object.fromEntries(
      ['instanceId', 'weight', 'zone', 'version', 'labels', 'tags'].filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]),
    );
    const checked = checkInstance({ ...base, ...known });
    if (checked.ok) return checked;
    const plain = checkInstance(base);
    if (plain.ok) return { ...plain, warning: `ignoring its Metadata: ${checked.reason}` };
    return plain;
  }
  return checkInstance(base);
}
