/**
 * node:tls, loaded the first time a listener or a cluster uses TLS: initialising it costs every
 * process about 2 MB, and a proxy on plain h2c (behind a TLS-terminating load balancer, in a
 * mesh) never needs it. A builtin can be required synchronously from ESM on any Node 20.
 */
import { createRequire } from 'node:module';

let tls: typeof import('node:tls') | undefined;

/** The node:tls module. */
export function tlsModule(): typeof import('node:tls') {
  return (tls ??= createRequire(import.meta.url)('node:tls') as typeof import('node:tls'));
}
