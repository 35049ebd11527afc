/**
 * `grpc-ha resolve <target> [--watch]` lists what a registry target resolves to;
 * `grpc-ha register <service> <address> --registry R` keeps an external instance registered.
 */
import { GrpcHaError } from '../core/errors.js';
import { didYouMean } from '../core/did-you-mean.js';
import type { ServiceInstance } from '../discovery/instance.js';
import type { InstanceSource } from '../discovery/registry.js';
import { parseDiscoveryTarget } from '../discovery/target.js';
import { CliError, EXIT } from './exit-codes.js';
import { parseTargetUri, serviceTarget } from './target-uri.js';

function describe(instance: ServiceInstance): string {
  const meta = [
    instance.weight !== undefined ? `weight=${instance.weight}` : '',
    instance.zone ? `zone=${instance.zone}` : '',
    instance.version ? `version=${instance.version}` : '',
    ...Object.entries(instance.labels ?? {}).map(([k, v]) => `${k}=${v}`),
  ].filter(Boolean);
  return `${instance.address}  id=${instance.instanceId}${meta.length ? `  ${meta.join(' ')}` : ''}`;
}

function targetOf(uri: ReturnType<typeof parseTargetUri>) {
  try {
    return parseDiscoveryTarget(uri);
  } catch (error) {
    if (error instanceof GrpcHaError) throw new CliError(error.message, EXIT.USAGE);
    throw error;
  }
}

/** Prints the endpoints of `target` once (or on every change with `watch`). Resolves with the exit code. */
export function runResolve(target: string, options: { watch: boolean; json: boolean; timeoutMs: number }): Promise<number> {
  const parsed = targetOf(parseTargetUri(target));
  let registry;
  try {
    registry = parsed.createSource();
  } catch (error) {
    if (error instanceof GrpcHaError) throw new CliError(`resolve: ${error.message}`, EXIT.USAGE);
    throw error;
  }
  return new Promise<number>((resolve) => {
    let first = true;
    const finish = (code: number) => {
      clearTimeout(timer);
      unsubscribe();
      void registry.close().then(() => resolve(code));
    };
    const timer = setTimeout(() => {
      process.stderr.write(`grpc-ha: resolve: no answer from ${registry.description} within ${options.timeoutMs} ms\n`);
      finish(EXIT.UNREACHABLE);
    }, options.timeoutMs);
    if (options.watch) clearTimeout(timer);
    const unsubscribe = registry.watch(parsed.query, {
      instances: (instances) => {
        const stamp = new Date().toISOString();
        if (options.json) console.log(JSON.stringify({ time: stamp, target, instances }));
        else {
          console.log(`${options.watch ? `${stamp} ` : ''}${parsed.query.service}: ${instances.length} instance${instances.length === 1 ? '' : 's'}`);
          for (const i of instances) console.log(`  ${describe(i)}`);
        }
        if (!options.watch && first) {
          if (instances.length > 0) finish(EXIT.OK);
          else void noInstances(registry, parsed.query.service).then((message) => {
            process.stderr.write(`grpc-ha: resolve: ${message}\n`);
            finish(EXIT.NO_INSTANCES);
          });
        }
        first = false;
      },
      config: () => undefined,
      error: (error) => {
        process.stderr.write(`grpc-ha: resolve: ${error.message}\n`);
        if (!options.watch) finish(EXIT.UNREACHABLE);
      },
    });
    if (options.watch) {
      const keepAlive = setInterval(() => undefined, 1 << 30);
      const stop = () => {
        clearInterval(keepAlive);
        finish(EXIT.OK);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
  });
}

/** Where `service` was looked for and which services are there, closest first when one is near. */
async function noInstances(source: InstanceSource, service: string): Promise<string> {
  const where = `no instances of ${service} in ${source.description}`;
  if (!source.listServices) return `${where} (it cannot list its services)`;
  try {
    const services = (await source.listServices()).filter((s) => s !== service);
    if (services.length === 0) return `${where}, which holds no service yet`;
    return `${where}${didYouMean(service, services)} (services there: ${services.join(', ')})`;
  } catch (error) {
    return `${where} (listing its services failed: ${(error as Error).message})`;
  }
}

/** Options of the register command. */
export interface RegisterCommandOptions {
  readonly registry: string;
  readonly weight?: number;
  readonly zone?: string;
  readonly version?: string;
  readonly id?: string;
  readonly meta: Record<string, string>;
}

/** Registers `address` as an instance of `service` and keeps it registered until SIGINT/SIGTERM. */
export async function runRegister(service: string, address: string, options: RegisterCommandOptions): Promise<number> {
  const parsed = targetOf(serviceTarget(options.registry, service));
  let registry;
  try {
    registry = parsed.createRegistry();
  } catch (error) {
    if (error instanceof GrpcHaError) throw new CliError(`register: ${error.message}`, EXIT.USAGE);
    throw error;
  }
  let registration;
  try {
    registration = registry.register({
      service,
      address,
      ...(options.id !== undefined ? { instanceId: options.id } : {}),
      ...(options.weight !== undefined ? { weight: options.weight } : {}),
      ...(options.zone !== undefined ? { zone: options.zone } : {}),
      ...(options.version !== undefined ? { version: options.version } : {}),
      ...(Object.keys(options.meta).length > 0 ? { labels: options.meta } : {}),
    });
  } catch (error) {
    await registry.close();
    if (error instanceof GrpcHaError) throw new CliError(`register: ${error.message}`, EXIT.USAGE);
    throw error;
  }
  const ok = await Promise.race([registration.ready, new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref())]);
  console.log(JSON.stringify({ event: ok ? 'registered' : 'registering', service, address, instanceId: registration.instance.instanceId, registry: registry.description }));
  // The registration's own timers do not hold the process open; this does, until a signal.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  await registration.close();
  await registry.close();
  console.log(JSON.stringify({ event: 'deregistered', service, address }));
  return EXIT.OK;
}
