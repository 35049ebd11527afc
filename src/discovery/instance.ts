/**
 * What a registry stores for one running server: its service name, instance id, address and
 * metadata (weight, zone, version, labels, tags). Every backend validates registrations with the
 * same schema, so a bad address or weight is rejected with the field named before anything is
 * written, and entries read back from a registry are checked the same way (and skipped, never
 * thrown, when invalid: another program may have written them).
 */
import os from 'node:os';
import { z } from 'zod';
import { parseConfig } from '../core/parse-config.js';
import { isWildcardHost, splitAddress } from '../core/address.js';

/** One registered instance of a service, as registries report it to resolvers. */
export interface ServiceInstance {
  /** The service name, e.g. "greeter" or "foo/bar/greeter". */
  readonly service: string;
  /** Unique id of the instance within the service. */
  readonly instanceId: string;
  /** `host:port` to dial; IPv6 hosts in brackets (`[::1]:50051`). */
  readonly address: string;
  /** Static weight (> 0) for the weighted policies. Defaults to 1. */
  readonly weight?: number;
  /** Failure domain, e.g. "eu-west-1a". */
  readonly zone?: string;
  /** Software version, e.g. for canaries. */
  readonly version?: string;
  /** Free-form key/value labels. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Tags a target can filter on (Consul tags; stored as metadata by the other registries). */
  readonly tags?: readonly string[];
}

/** What a server passes to `Registry.register`: an instance whose id may be left out. */
export type ServiceInstanceInput = Omit<ServiceInstance, 'instanceId'> & { readonly instanceId?: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A service name: 1..256 printable characters, no spaces, not "." or "..", no leading or trailing "/". */
export const serviceNameSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  .refine((s) => !CONTROL.test(s) && !/\s/.test(s), { error: 'must not contain spaces or control characters' })
  .refine((s) => s !== '.' && s !== '..' && !s.startsWith('/') && !s.endsWith('/'), {
    error: 'must not be "." or ".." nor start or end with "/"',
  });

const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .max(max, { error: `must be at most ${max} characters` })
    .refine((s) => !CONTROL.test(s), { error: 'must not contain control characters' });

const weightRule = 'must be a finite number > 0';

/**
 * A wildcard is where a server listens, not where clients can reach it: registering one would
 * send every client to an address no other machine can dial.
 */
const WILDCARD_RULE =
  "must be an address clients can dial, not a wildcard (0.0.0.0 or ::): serve() registers the address in its advertiseAddress option or the GRPC_HA_ADVERTISE_ADDRESS variable (e.g. the pod IP), or picks an interface address when it binds a wildcard";

/** The fields every registry accepts for an instance. */
export const instanceSchema = z
  .object({
    service: serviceNameSchema,
    instanceId: text(256).optional(),
    address: z
      .string({ error: 'must be a string' })
      .refine((a) => splitAddress(a) !== null, {
        error: 'must be host:port (IPv6 as [addr]:port) with a port in 1..65535',
      })
      .refine((a) => !isWildcardHost(splitAddress(a)?.host ?? 'x'), { error: WILDCARD_RULE }),
    weight: z.number({ error: weightRule }).gt(0, { error: weightRule }).lte(Number.MAX_VALUE, { error: weightRule }).optional(),
    zone: text(256).optional(),
    version: text(256).optional(),
    labels: z.record(z.string(), z.string({ error: 'values must be strings' })).optional(),
    tags: z.array(text(256)).optional(),
  })
  .strict();

/** Validates a registration; throws GrpcHaError(INVALID_CONFIG) naming the field. Fills in a default instance id. */
export function parseRegistration(component: string, input: unknown): ServiceInstance {
  const parsed = parseConfig(component, instanceSchema, input);
  return normalize({ ...parsed, instanceId: parsed.instanceId ?? defaultInstanceId(parsed.address) });
}

/** Checks an entry read back from a registry; returns the reason it is unusable, or the instance. */
export function checkInstance(input: unknown): { ok: true; instance: ServiceInstance } | { ok: false; reason: string } {
  const result = instanceSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    return { ok: false, reason: `${issue.path.map(String).join('.') || 'entry'} ${issue.message}` };
  }
  const parsed = result.data;
  if (parsed.instanceId === undefined) return { ok: false, reason: 'instanceId is missing' };
  return { ok: true, instance: normalize({ ...parsed, instanceId: parsed.instanceId }) };
}

/** The default instance id: `<hostname>-<pid>-<port>`, unique on one machine. */
export function defaultInstanceId(address: string): string {
  return `${os.hostname()}-${process.pid}-${splitAddress(address)?.port ?? 0}`;
}

/** Drops undefined fields so instances compare and serialise the same whichever registry they came from. */
function normalize(i: ServiceInstance): ServiceInstance {
  const out: { -readonly [K in keyof ServiceInstance]: ServiceInstance[K] } = {
    service: i.service,
    instanceId: i.instanceId,
    address: i.address,
  };
  if (i.weight !== undefined) out.weight = i.weight;
  if (i.zone !== undefined) out.zone = i.zone;
  if (i.version !== undefined) out.version = i.version;
  if (i.labels !== undefined && Object.keys(i.labels).length > 0) out.labels = { ...i.labels };
  if (i.tags !== undefined && i.tags.length > 0) out.tags = [...i.tags];
  return out;
}

/** A stable string for an instance set, to tell whether anything changed. */
export function instancesFingerprint(instances: readonly ServiceInstance[]): string {
  return JSON.stringify([...instances].sort((a, b) => cmp(a.instanceId, b.instanceId) || cmp(a.address, b.address)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
