#!/usr/bin/env node
/**
 * The grpc-ha command line, the package's one executable: `grpc-ha <command> --help` for each
 * command. Errors are one line on stderr and a non-zero exit (see exit-codes.ts), never a stack
 * trace for a user mistake. Each command loads its modules when it runs, so that `grpc-ha proxy`
 * does not carry the registries' clients nor `grpc-ha health` the proxy.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// The policy names without the policies' config schemas: `grpc-ha proxy` loads nothing it does not use.
import { CLUSTER_PICKER_NAMES } from '../proxy/cluster-pickers.js';
import { CliError, EXIT } from './exit-codes.js';
import { durationIn, durationMs, intIn, numberIn, workersValue } from './parse-values.js';
import type { XdsCommandOptions } from './xds-command.js';

/** The package's version, from its package.json (dist/src/cli/ → the package root). */
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = new Command()
  .name('grpc-ha')
  .version(VERSION, '-V, --version', 'print the grpc-ha version')
  .description('High availability for gRPC services on Node.js: health probes, discovery, balancing, a gRPC proxy, demo, benchmarks.')
  // One line: commander's message and where to look, e.g. "grpc-ha: option '--port <port>' argument 'x' is invalid. ... (see --help)".
  .configureOutput({ outputError: (text, write) => write(`grpc-ha: ${text.replace(/^error: /, '').trimEnd()} (see --help)\n`) })
  .exitOverride();

program
  .command('health')
  .description('check grpc.health.v1 of a server, like grpc_health_probe')
  .argument('<address>', 'host:port of one server (or dns:, ipv4:, ipv6:, unix: naming one)')
  .option('--service <name>', 'service to check; "" is the whole server', '')
  .option('--timeout <duration>', 'give up after this long (500ms, 2s, ...)', durationMs, 2000)
  .option('--json', 'print one JSON object instead of a line')
  .addHelpText(
    'after',
    `
Exit codes: 0 SERVING, 2 usage error, 3 unreachable, 4 timeout, 5 NOT_SERVING or SERVICE_UNKNOWN,
6 other RPC error (e.g. UNIMPLEMENTED: no health service).

Examples:
  grpc-ha health 127.0.0.1:50051
  grpc-ha health 127.0.0.1:50051 --service grpcha.example.v1.Echo --timeout 1s --json`,
  )
  .action(async (address: string, o: { service: string; timeout: number; json?: boolean }) => {
    const { runHealth } = await import('./health-command.js');
    process.exitCode = await runHealth(address, { service: o.service, timeoutMs: o.timeout, json: o.json ?? false });
  });

program
  .command('serve-example')
  .description('run the example Echo backend as a grpc-ha instance (health, drain on SIGTERM), optionally faulty, registered, on workers')
  .option('--host <host>', 'interface to bind', '127.0.0.1')
  .option('--advertise <address>', 'address to register, host or host:port (default $GRPC_HA_ADVERTISE_ADDRESS, else the bound host, else an interface address when --host is 0.0.0.0 or ::)')
  .option('--port <port>', 'port to bind; 0 picks a free one', intIn(0, 65535), 0)
  .option('--id <id>', 'server_id replies carry, and the instance id when registered (default host:port)')
  .option('--latency <duration>', 'added latency per reply', durationMs, 0)
  .option('--fail-rate <rate>', 'share of calls that fail, 0..1 (alone: with UNAVAILABLE)', numberIn(0, 1))
  .option('--fail-code <code>', 'status code of failing calls (alone: every call fails)', intIn(1, 16))
  .option('--not-serving', 'start NOT_SERVING')
  .option('--drain-notice <duration>', 'on SIGTERM, wait this long after NOT_SERVING and deregistration before closing the listener (default 1s)', durationMs)
  .option('--drain-grace <duration>', 'then give calls in flight this long to finish (default 10s); the calls still open then end with UNAVAILABLE', durationMs)
  .option('--max-stream-age <duration>', 'end streams after this long (±10 %) with UNAVAILABLE, so clients reopen them on any instance (default none)', durationMs)
  .option('--ignore-drain', 'stream handlers ignore drainSignal (by default a stream asked to end sends a last reply and ends at once)')
  .option('--registry <registry>', 'register in file:, file:///?dir=DIR, etcd://HOST:PORT or consul://HOST:PORT (with --service)')
  .option('--service <name>', 'service name to register as (with --registry)')
  .option('--weight <n>', 'registered static weight (> 0)', numberIn(Number.MIN_VALUE, 1e9))
  .option('--zone <zone>', 'registered failure domain')
  .option('--registry-ttl <duration>', 'how long the registry keeps the entry of a killed backend (default 10s)', durationMs)
  .option('--workers <n>', 'Node worker processes sharing the port', intIn(1, 256))
  .option('--control', 'read commands on stdin: latency MS | serving true|false | fail RATE; EOF drains')
  .option('--servers <json>', 'several servers in this process: [{"id":"a"},{"id":"b","latencyMs":20}] (goes without the single-server flags)')
  .addHelpText(
    'after',
    `
Prints {"event":"listening","address":...,"port":N,"id":...} per server once it serves, and
{"event":"registered",...} once registered. SIGTERM/SIGINT drain (a second one forces) and exit 0.

Examples:
  grpc-ha serve-example --port 50051 --latency 20ms
  grpc-ha serve-example --fail-rate 0.1 --fail-code 14
  grpc-ha serve-example --registry etcd://127.0.0.1:2379 --service echo --id b1 --registry-ttl 2s
  grpc-ha serve-example --workers 4 --port 50051`,
  )
  .action(async function (this: Command, o: ServeExampleFlags) {
    const { runServeExample } = await import('./serve-example-command.js');
    await runServeExample(
      {
        host: o.host,
        advertiseAddress: o.advertise,
        port: o.port,
        id: o.id,
        latencyMs: o.latency,
        failRate: o.failRate,
        failCode: o.failCode,
        notServing: o.notServing ?? false,
        drainNoticeMs: o.drainNotice,
        drainGraceMs: o.drainGrace,
        maxStreamAgeMs: o.maxStreamAge,
        ignoreDrain: o.ignoreDrain ?? false,
        registry: o.registry,
        service: o.service,
        weight: o.weight,
        zone: o.zone,
        registryTtlMs: o.registryTtl,
        workers: o.workers,
        control: o.control ?? false,
        servers: o.servers,
      },
      (name) => this.getOptionValueSource(name) === 'cli',
    );
  });

program
  .command('resolve')
  .description('list the instances a registry, DNS or Kubernetes target resolves to, with their metadata')
  .argument('<target>', 'file:///SERVICE[?dir=DIR], etcd://HOST:PORT/SERVICE, consul://HOST:PORT/SERVICE, static:///ADDR,..., ha-dns://[DNS]/NAME:PORT, k8s:///SERVICE[.NS][:PORT]')
  .option('--watch', 'keep printing the list whenever it changes (Ctrl-C stops)')
  .option('--json', 'one JSON object per list')
  .option('--timeout <duration>', 'give up without --watch after this long', durationMs, 5000)
  .addHelpText('after', '\nExamples:\n  grpc-ha resolve file:///echo\n  grpc-ha resolve etcd://127.0.0.1:2379/greeter --watch\n  grpc-ha resolve ha-dns:///echo.prod.svc.cluster.local:50051 --watch\n  grpc-ha resolve k8s:///echo.prod:grpc --watch')
  .action(async (target: string, o: { watch?: boolean; json?: boolean; timeout: number }) => {
    const { runResolve } = await import('./discovery-commands.js');
    process.exitCode = await runResolve(target, { watch: o.watch ?? false, json: o.json ?? false, timeoutMs: o.timeout });
  });

program
  .command('register')
  .description('keep an external instance (e.g. a server in another language) registered until stopped')
  .argument('<service>', 'service name')
  .argument('<address>', 'host:port clients should dial')
  .requiredOption('--registry <registry>', 'file:, file:///?dir=DIR, etcd://HOST:PORT or consul://HOST:PORT')
  .option('--weight <n>', 'static weight (> 0)', numberIn(Number.MIN_VALUE, 1e9))
  .option('--zone <zone>', 'failure domain')
  .option('--version <version>', 'software version')
  .option('--id <id>', 'instance id (default derived from the address)')
  .option('--meta <k=v>', 'a label; repeatable', (kv: string, acc: Record<string, string>) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError('must be key=value.');
    return { ...acc, [kv.slice(0, eq)]: kv.slice(eq + 1) };
  }, {} as Record<string, string>)
  .addHelpText('after', '\nExamples:\n  grpc-ha register greeter 127.0.0.1:50051 --registry file:\n  grpc-ha register greeter 10.0.0.7:50051 --registry etcd://127.0.0.1:2379 --weight 2 --zone a --meta lang=go')
  .action(async (service: string, address: string, o: { registry: string; weight?: number; zone?: string; version?: string; id?: string; meta: Record<string, string> }) => {
    const { runRegister } = await import('./discovery-commands.js');
    process.exitCode = await runRegister(service, address, o);
  });

program
  .command('proxy')
  .description('run the gRPC proxy: HTTP/2 forwarding to backends balanced by the grpc-ha policies, with health checks and ejection')
  .option('--config <file>', 'YAML config (README "proxy"); reloaded on SIGHUP')
  .option('--listen <address>', 'with --target: host:port or :port to listen on (default :8080)')
  .option('--target <target>', 'backends: host:port,... or a registry target (file:///SERVICE, etcd://HOST:PORT/SERVICE, consul://HOST:PORT/SERVICE)')
  .option('--policy <policy>', 'with --target: a policy name (round_robin, least_request, peak_ewma, ring_hash, ...) or JSON')
  .option('--admin <address>', 'with --target: admin endpoint host:port, or off (default 127.0.0.1:9901)')
  .option('--grace <duration>', 'how long calls in flight may finish after SIGTERM', durationMs, 10_000)
  .option('--workers <n>', 'processes serving calls on the one port, or auto (one per core); overrides the file\'s workers (default 1)', workersValue)
  .addHelpText(
    'after',
    `
One of --config or --target. With --config, SIGHUP reloads the file (clusters, routes, listener,
TLS certificates; calls in flight finish where they are); a bad file changes nothing.
With --workers N (N > 1) a primary process accepts connections and hands them to N workers; it
alone watches the targets, checks health and ejects backends, and every worker follows it.
Prints {"event":"listening","port":N,"adminPort":N} once listening (and "workers":[pid,...] with
workers); SIGTERM drains and exits 0.
Exit codes: 0 stopped, 1 cannot start (e.g. address in use), 2 bad flags or config.

Examples:
  grpc-ha proxy --config proxy.yaml
  grpc-ha proxy --listen :8080 --target 127.0.0.1:50051,127.0.0.1:50052
  grpc-ha proxy --config proxy.yaml --workers auto
  grpc-ha proxy --listen :8080 --target file:///echo --policy round_robin
  grpc-ha proxy --listen 127.0.0.1:8080 --target etcd://127.0.0.1:2379/greeter --policy '{"least_request":{"choiceCount":3}}' --admin off`,
  )
  .action(async (o: { config?: string; listen?: string; target?: string; policy?: string; admin?: string; grace: number; workers?: number | 'auto' }) => {
    const { runProxyCommand } = await import('./proxy-command.js');
    process.exitCode = await runProxyCommand(o);
  });

program
  .command('xds')
  .description('run an xDS control plane: gRPC clients in any language (Python, Go, Java, grpc-js) balance over the registry with xds:///SERVICE')
  .option('--config <file>', 'YAML or JSON config (docs/xds.md)')
  .option('--listen <address>', 'host:port or :port to serve ADS on')
  .option('--registry <registry>', 'file:, file:///?dir=DIR, etcd://HOST:PORT, consul://HOST:PORT or static:///?file=FILE')
  .option('--tls-cert <file>', 'PEM certificate of the xDS listener')
  .option('--tls-key <file>', 'PEM key of the xDS listener')
  .option('--tls-client-ca <file>', 'require client certificates signed by this CA (mTLS)')
  .option('--admin <address>', 'admin endpoint host:port, or off (default 127.0.0.1:9902)')
  .option('--no-health-checks', 'publish instances as UNKNOWN instead of checking grpc.health.v1')
  .option('--health-timeout <duration>', 'no first health answer within this marks an instance UNHEALTHY', durationMs)
  .option('--draining-hold <duration>', 'a deregistered instance still reachable stays DRAINING at most this long', durationMs)
  .addHelpText(
    'after',
    `
Serves ADS (state of the world) for Listener, RouteConfiguration, Cluster and ClusterLoadAssignment:
a gRPC client in any language whose bootstrap names this server and that dials xds:///SERVICE gets
SERVICE's instances from the registry, their health (checked here with grpc.health.v1), weights,
zones as localities, and the policy, retries and timeouts of the service's central config.
Prints {"event":"listening","port":N,"adminPort":N} once serving; SIGTERM stops it (exit 0).
The Envoy protos come from the optional package @grpc/grpc-js-xds (npm install @grpc/grpc-js-xds).
Exit codes: 0 stopped, 1 cannot start (e.g. address in use, package missing), 2 bad flags or config.

Examples:
  grpc-ha xds --listen 127.0.0.1:18000 --registry file:
  grpc-ha xds --listen :18000 --registry etcd://127.0.0.1:2379 --tls-cert cp.pem --tls-key cp.key --tls-client-ca clients.pem
  grpc-ha xds --config xds.yaml
Bootstrap of a client (GRPC_XDS_BOOTSTRAP=bootstrap.json), see docs/xds.md:
  {"xds_servers": [{"server_uri": "127.0.0.1:18000", "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
   "node": {"id": "billing-1", "locality": {"zone": "a"}}}`,
  )
  .action(async (o: XdsCommandOptions) => {
    const { runXdsCommand } = await import('./xds-command.js');
    process.exitCode = await runXdsCommand(o);
  });

const DEMO_POLICIES = [...CLUSTER_PICKER_NAMES];

program
  .command('demo')
  .description('the demo cluster, what npm start runs: backends in a registry, a balancing client, a scripted story of faults, a live dashboard')
  .addOption(new Option('--policy <policy>', 'balancing policy').choices(DEMO_POLICIES).default('peak_ewma'))
  .option('--backends <n>', 'backends to start', intIn(2, 16), 3)
  .option('--duration <duration>', 'how long to run (20s, 2m)', durationIn(1000, 3_600_000), 20_000)
  .option('--slow <duration>', 'latency added to the backend that gets slow (25ms)', durationIn(0, 10_000), 25)
  .option('--no-faults', 'steady traffic, no story')
  .addOption(new Option('--registry-dir <dir>', 'the embedded file registry in DIR (default: a temporary directory)').conflicts('registry'))
  .option('--registry <registry>', 'any registry: file:///?dir=DIR, etcd://HOST:PORT, consul://HOST:PORT')
  .option('--admin-port <port>', 'port of the dashboard and /metrics on 127.0.0.1 (any free one if taken)', intIn(0, 65535), 9901)
  .addHelpText(
    'after',
    `
Example backends (grpc-ha instances, one process each) registered in a registry, a client
balancing over them with a grpc-ha policy, a live view every second, a scripted story (slow
backend, NOT_SERVING, failing backend ejected, SIGKILL, replacement), and a live dashboard in
the browser (its URL is printed at the start).

Examples:
  npm start
  npm start -- --policy least_request --backends 4 --duration 60s
  grpc-ha demo --registry etcd://127.0.0.1:2379 --no-faults

Exit codes: 0 no call failed, 1 some call failed, 2 bad arguments, 3 registry unreachable, 130 Ctrl-C.`,
  )
  .action(async (o: { policy: string; backends: number; duration: number; slow: number; faults: boolean; registryDir?: string; registry?: string; adminPort: number }) => {
    if (o.registryDir === '') throw new CliError('demo: --registry-dir must not be empty', EXIT.USAGE);
    const { runDemo } = await import('../example/demo.js');
    process.exitCode = await runDemo({
      policy: o.policy,
      backends: o.backends,
      durationS: o.duration / 1000,
      slowMs: o.slow,
      faults: o.faults,
      ...(o.registryDir !== undefined && { registryDir: o.registryDir }),
      ...(o.registry !== undefined && { registry: o.registry }),
      adminPort: o.adminPort,
    });
  });

program
  .command('bench')
  .description('run benchmark scenarios: picker, overhead, slow-backend, eject, discovery, failover, proxy, xds (all by default)')
  .addHelpText('after', '\nExamples:\n  grpc-ha bench                      # every scenario, markdown tables, JSON in bench/results/\n  grpc-ha bench picker --json        # one scenario, one JSON object per line\n  grpc-ha bench slow-backend --quick # a shorter run')
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[args...]', 'scenarios and flags (--json, --quick)')
  .action(async (args: string[]) => {
    const { runScript } = await import('./run-script.js');
    process.exitCode = await runScript('../../bench/run.js', args);
  });

/** serve-example's flags as commander names them. */
interface ServeExampleFlags {
  host: string;
  advertise?: string;
  port: number;
  id?: string;
  latency: number;
  failRate?: number;
  failCode?: number;
  notServing?: boolean;
  drainNotice?: number;
  drainGrace?: number;
  maxStreamAge?: number;
  ignoreDrain?: boolean;
  registry?: string;
  service?: string;
  weight?: number;
  zone?: string;
  registryTtl?: number;
  workers?: number;
  control?: boolean;
  servers?: string;
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version print and exit 0; commander has already printed its one-line message otherwise.
    process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else if (error instanceof CliError) {
    process.stderr.write(`grpc-ha: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`grpc-ha: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.FAILURE;
  }
}
