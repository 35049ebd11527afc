/**
 * The bridge from server lifecycles to registries: `registrar(registry, { service, ... })` is the
 * `register` hook of `serve()` and of `runWorkers()` (src/server/): called once the server is
 * bound and serving, it registers that address with the given metadata and resolves with the
 * registration, which the lifecycle closes first on SIGTERM, before draining.
 */
import { parseRegistration, type ServiceInstanceInput } from './instance.js';
import type { Registration, Registry } from './registry.js';

/** Options of {@link registrar}. */
export interface RegistrarOptions {
  /** How long the hook waits for the first registration before returning (it keeps trying afterwards), ms. Defaults to 5000. */
  readonly readyTimeoutMs?: number;
}

/**
 * A `register` hook registering the bound address in `registry` with `instance`'s metadata.
 * Validates the metadata now (throws GrpcHaError(INVALID_CONFIG) naming the field), not at bind time.
 */
export function registrar(
  registry: Registry,
  instance: Omit<ServiceInstanceInput, 'address'>,
  options: RegistrarOptions = {},
): (bound: { readonly address: string }) => Promise<Registration> {
  parseRegistration('registrar', { ...instance, address: '127.0.0.1:1' });
  const readyTimeoutMs = options.readyTimeoutMs ?? 5000;
  return async ({ address }) => {
    const registration = registry.register({ ...instance, address });
    let timer: NodeJS.Timeout | undefined;
    // A registry that is down must not hold the server's startup: the registration keeps trying.
    await Promise.race([registration.ready, new Promise((resolve) => (timer = setTimeout(resolve, readyTimeoutMs)))]);
    clearTimeout(timer);
    return registration;
  };
}
