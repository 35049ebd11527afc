/**
 * Runs one example Echo server in its own process, for tests and benchmarks that need real
 * separate backends (kill -9, restarts, CPU isolation).
 *
 *   node dist/src/example/serve-cli.js --port 0 --latency-ms 5 --id b1 --fail-code 14 --fail-rate 0.5
 *
 * Prints exactly one JSON line to stdout once bound: {"event":"listening","port":N,"id":"..."}.
 * With `--servers '[{"id":"a"},{"id":"slow","latencyMs":20}]'` it runs several servers in this one
 * process (one listening line each): benchmarks use it to keep backends off the client's cores
 * without a process per backend on a small machine.
 * SIGTERM/SIGINT stop the server and exit 0; bad arguments print one line to stderr and exit 2;
 * a failure to start prints one line to stderr and exits 1.
 */
import { parseArgs } from 'node:util';
import { startExampleServer, type ExampleServer, type ExampleServerOptions } from './example-server.js';

const USAGE =
  'usage: serve-cli [--host 127.0.0.1] [--port 0] [--id ID] [--latency-ms 0] [--fail-code 1..16] [--fail-rate 0..1] [--not-serving] [--no-health] | serve-cli --servers JSON';

/** Parses argv into server options; throws a one-line Error on anything invalid. */
function parseServeArgs(argv: string[]): ExampleServerOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      id: { type: 'string' },
      'latency-ms': { type: 'string' },
      'fail-code': { type: 'string' },
      'fail-rate': { type: 'string' },
      'not-serving': { type: 'boolean' },
      'no-health': { type: 'boolean' },
      servers: { type: 'string' },
    },
  });
  if (values.servers !== undefined) throw new Error('--servers goes alone');
  const options: ExampleServerOptions = {};
  if (values.host !== undefined) options.host = values.host;
  if (values.id !== undefined) options.id = values.id;
  if (values.port !== undefined) options.port = integer('--port', values.port, 0, 65535);
  if (values['latency-ms'] !== undefined) options.latencyMs = number('--latency-ms', values['latency-ms'], 0, Infinity);
  const code = values['fail-code'];
  const rate = values['fail-rate'];
  if (code !== undefined || rate !== undefined) {
    // A code alone means "always fail"; a rate alone fails with UNAVAILABLE, the usual backend error.
    options.failure = {
      code: code === undefined ? 14 : integer('--fail-code', code, 1, 16),
      rate: rate === undefined ? 1 : number('--fail-rate', rate, 0, 1),
    };
  }
  if (values['not-serving']) options.serving = false;
  if (values['no-health']) options.health = false;
  return options;
}

function number(flag: string, text: string, min: number, max: number): number {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!(value >= min && value <= max)) throw new Error(`${flag} must be a number in [${min}, ${max}], got '${text}'`);
  return value;
}

function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new Error(`${flag} must be an integer in [${min}, ${max}], got '${text}'`);
  return number(flag, text, min, max);
}

/** Parses `--servers JSON`: an array of {id?, port?, latencyMs?, failure?, serving?}. */
function parseServers(json: string): ExampleServerOptions[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`--servers must be a JSON array, got '${json}'`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => typeof x === 'object' && x !== null)) {
    throw new Error(`--servers must be a non-empty JSON array of objects, got '${json}'`);
  }
  // startExampleServer validates each field and names it in its error.
  return parsed as ExampleServerOptions[];
}

async function main(): Promise<void> {
  let optionsList: ExampleServerOptions[];
  try {
    const argv = process.argv.slice(2);
    optionsList = argv[0] === '--servers' && argv.length === 2 ? parseServers(argv[1]!) : [parseServeArgs(argv)];
  } catch (error) {
    process.stderr.write(`serve-cli: ${oneLine(error)} (${USAGE})\n`);
    process.exit(2);
  }

  const servers: ExampleServer[] = [];
  try {
    for (const options of optionsList) servers.push(await startExampleServer(options));
  } catch (error) {
    process.stderr.write(`serve-cli: ${oneLine(error)}\n`);
    await Promise.all(servers.map((s) => s.stop(0)));
    process.exit(1);
  }

  let stopping = false;
  const exit = (): void => {
    // Keep the handler for repeated signals: default handling would end the process by signal,
    // not with the clean exit 0 callers wait for.
    if (stopping) return;
    stopping = true;
    void Promise.all(servers.map((s) => s.stop())).then(() => process.exit(0));
  };
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  for (const server of servers) {
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.port, id: server.id })}\n`);
  }
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');
}

await main();
