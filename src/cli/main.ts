#!/usr/bin/env node
/**
 * The grpc-ha command line: `grpc-ha <command> --help` for each command. Errors are one line on
 * stderr and a non-zero exit (see exit-codes.ts), never a stack trace for a user mistake.
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from './exit-codes.js';
import { runHealth } from './health-command.js';
import { durationMs, intIn, numberIn } from './parse-values.js';
import { runServeExample } from './serve-example-command.js';

const program = new Command()
  .name('grpc-ha')
  .description('High availability for gRPC services on Node.js: health probes, discovery, balancing, demo, benchmarks.')
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
