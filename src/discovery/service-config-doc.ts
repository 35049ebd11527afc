/**
 * Central service config: one document per service in the registry, in the format of gRPC's
 * service config (https://github.com/grpc/grpc/blob/master/doc/service_config.md) — load
 * balancing policy, method configs with retry or hedging policies, retry throttling, health
 * check service name. Resolvers hand it to grpc-js with every result, so every client applies a
 * new document at run time; an invalid one is ignored with a logged reason and the last good
 * one stays (grpc-js itself would fail the whole resolution on an invalid config).
 */
import { experimental } from '@grpc/grpc-js';
import { validateServiceConfig, type ServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { policyDefinition, validatePickerPolicyConfig } from '../core/policies/catalogue.js';
import { HEALTH_AWARE, parseHealthAwareFields } from '../core/policies/health-aware-config.js';

/** A validated service config, as grpc-js's resolver listener takes it. */
export type { ServiceConfig };

/** The outcome of validating a document. */
export type ServiceConfigResult = { readonly ok: true; readonly config: ServiceConfig } | { readonly ok: false; readonly reason: string };

/** Largest document accepted, bytes: a service config is small; a huge one is a mistake. */
export const MAX_SERVICE_CONFIG_BYTES = 64 * 1024;

/**
 * Validates a service config document: JSON, grpc-js's own service config rules, and every
 * loadBalancingConfig entry against its policy (grpc-ha policies through their schemas, grpc-js
 * policies through grpc-js); at least one entry must name a registered policy.
 */
export function parseServiceConfigDocument(document: string | object): ServiceConfigResult {
  let json: unknown;
  if (typeof document === 'string') {
    if (Buffer.byteLength(document) > MAX_SERVICE_CONFIG_BYTES) {
      return { ok: false, reason: `document is larger than ${MAX_SERVICE_CONFIG_BYTES} bytes` };
    }
    try {
      json = JSON.parse(document);
    } catch (error) {
      return { ok: false, reason: `not JSON: ${(error as Error).message}` };
    }
  } else {
    json = document;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { ok: false, reason: 'a service config must be a JSON object' };
  }
  let config: ServiceConfig;
  try {
    config = validateServiceConfig(json);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  const entries = config.loadBalancingConfig;
  let usable = 0;
  for (const [i, entry] of entries.entries()) {
    const names = Object.keys(entry);
    if (names.length !== 1) return { ok: false, reason: `loadBalancingConfig[${i}] must name exactly one policy` };
    const name = names[0]!;
    if (!isKnownPolicy(name)) continue; // grpc-js skips unknown entries too
    usable++;
    try {
      validateEntry(name, entry[name]);
    } catch (error) {
      return { ok: false, reason: `loadBalancingConfig[${i}] (${name}): ${(error as Error).message}` };
    }
  }
  if (entries.length > 0 && usable === 0) {
    const names = entries.map((e) => Object.keys(e)[0]).join(', ');
    return { ok: false, reason: `no loadBalancingConfig entry names a registered policy (${names})` };
  }
  return { ok: true, config };
}

/** A grpc-ha policy (whether or not this process registered them with grpc-js) or one grpc-js has. */
function isKnownPolicy(name: string): boolean {
  return policyDefinition(name) !== undefined || name === HEALTH_AWARE || experimental.isLoadBalancerNameRegistered(name);
}

/** Validates one loadBalancingConfig entry: grpc-ha policies by their own rules, the rest by grpc-js's. */
function validateEntry(name: string, json: unknown): void {
  if (validatePickerPolicyConfig(name, json)) return;
  if (name === HEALTH_AWARE) {
    parseHealthAwareFields(json, { isKnown: isKnownPolicy, parse: (entry) => validateEntry(Object.keys(entry)[0]!, Object.values(entry)[0]) });
    return;
  }
  experimental.parseLoadBalancingConfig({ [name]: json } as never);
}

/** Validates a document for writing; throws GrpcHaError(INVALID_CONFIG) with the reason. Returns its JSON text. */
export function serviceConfigText(service: string, document: string | object): string {
  const result = parseServiceConfigDocument(document);
  if (!result.ok) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `service config of ${service}: ${result.reason}`);
  }
  return typeof document === 'string' ? document : JSON.stringify(document);
}
