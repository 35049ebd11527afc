/** Splits a channel target string into grpc-js's URI parts (scheme, authority, path), as grpc-js does. */
import type { experimental } from '@grpc/grpc-js';
import { splitTarget } from '../core/target-uri.js';
import { serviceTargetIn } from '../discovery/target.js';
import { CliError, EXIT } from './exit-codes.js';

/** "etcd://127.0.0.1:2379/greeter" → { scheme: 'etcd', authority: '127.0.0.1:2379', path: 'greeter' }. */
export function parseTargetUri(target: string): experimental.GrpcUri {
  const uri = splitTarget(target);
  if (!uri) throw new CliError(`target must look like scheme:///service or scheme://authority/service, got '${target}'`, EXIT.USAGE);
  return uri;
}

/**
 * The target of `service` in the registry `registry` names: the registry is a target without a
 * service ("file:", "file:///?dir=/tmp/reg", "etcd://127.0.0.1:2379", "consul://127.0.0.1:8500?dc=eu").
 */
export function serviceTarget(registry: string, service: string): experimental.GrpcUri {
  const uri = serviceTargetIn(registry, service);
  if (!uri) throw new CliError(`--registry must be a registry like file:, file:///?dir=DIR, etcd://HOST:PORT or consul://HOST:PORT, got '${registry}'`, EXIT.USAGE);
  return uri;
}
