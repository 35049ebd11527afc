#!/usr/bin/env node
/**
 * The grpc-ha command line: `grpc-ha <command> --help` for each command. Errors are one line on
 * stderr and a non-zero exit (see exit-codes.ts), never a stack trace for a user mistake.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CliError, EXIT } from './exit-codes.js';
import { runHealth } from './health-command.js';
import { durationMs, intIn, numberIn } from './parse-values.js';
import { runServeExample } from './serve-example-command.js';
import { runRegister, runResolve } from './discovery-commands.js';
import { runScript } from './run-script.js';
import { PROXY_HELP, runProxyCommand, type ProxyCommandOptions } from './proxy-command.js';

const program = new Command()
  .name('grpc-ha')
  .description('High availability for gRPC services on Node.js: health probes, discovery, balancing, a gRPC proxy, demo, benchmarks.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('health')
  .description('check grpc.health.v1 of a server, like grpc_health_probe')
  .argument('<address>', 'host:port of the server')
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
    process.exitCode = await runHealth(address, { service: o.service, timeoutMs: o.timeout, json: o.json ?? false });
  });

program
  .command('serve-example')
  .description('run the example Echo backend (a grpc-ha instance: health, drain on SIGTERM)')
  .option('--host <host>', 'interface to bind', '127.0.0.1')
  .option('--port <port>', 'port to bind; 0 picks a free one', intIn(0, 65535), 0)
  .option('--id <id>', 'server_id replies carry (default host:port)')
  .option('--latency <duration>', 'added latency per reply', durationMs, 0)
  .option('--fail-rate <rate>', 'share of calls that fail, 0..1', numberIn(0, 1), 0)
  .option('--fail-code <code>', 'status code of failing calls', intIn(1, 16), 14)
  .addHelpText('after', '\nExamples:\n  grpc-ha serve-example --port 50051 --latency 20ms\n  grpc-ha serve-example --fail-rate 0.1 --fail-code 14')
  .action(async (o: { host: string; port: number; id?: string; latency: number; failRate: number; failCode: number }) => {
    await runServeExample({ host: o.host, port: o.port, id: o.id, latencyMs: o.latency, failRate: o.failRate, failCode: o.failCode });
  });

program
  .command('resolve')
  .description('list the instances a registry target resolves to, with their metadata')
  .argument('<target>', 'file:///SERVICE[?dir=DIR], etcd://HOST:PORT/SERVICE, consul://HOST:PORT/SERVICE, static:///ADDR,...')
  .option('--watch', 'keep printing the list whenever it changes (Ctrl-C stops)')
  .option('--json', 'one JSON object per list')
  .option('--timeout <duration>', 'give up without --watch after this long', durationMs, 5000)
  .addHelpText('after', '\nExamples:\n  grpc-ha resolve file:///echo\n  grpc-ha resolve etcd://127.0.0.1:2379/greeter --watch')
  .action(async (target: string, o: { watch?: boolean; json?: boolean; timeout: number }) => {
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
  .addHelpText('after', PROXY_HELP)
  .action(async (o: ProxyCommandOptions) => {
    process.exitCode = await runProxyCommand(o);
  });

program
  .command('demo')
  .description('the demo cluster (what npm start runs); see `grpc-ha demo --help`')
  .allowUnknownOption()
  .allowExcessArguments()
  .helpOption(false)
  .argument('[args...]')
  .action(async (args: string[]) => {
    process.exitCode = await runScript('../example/demo.js', args);
  });

program
  .command('bench')
  .description('run benchmark scenarios: picker, overhead, slow-backend, eject, discovery, failover, proxy (all by default)')
  .addHelpText('after', '\nExamples:\n  grpc-ha bench                      # every scenario, markdown tables, JSON in bench/results/\n  grpc-ha bench picker --json        # one scenario, one JSON object per line\n  grpc-ha bench slow-backend --quick # a shorter run')
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[args...]', 'scenarios and flags (--json, --quick)')
  .action(async (args: string[]) => {
    process.exitCode = await runScript('../../bench/run.js', args);
  });

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
