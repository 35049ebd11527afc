/**
 * A proxy loads only what its config uses. On plain h2c with a static target, neither the primary
 * nor a worker of `grpc-ha proxy --workers 2` loads the config validation library, the YAML
 * parser, a registry client, gRPC's own library, the logger, the metrics library or TLS: the
 * config is read and checked by a short-lived child, and the admin routes load on their first
 * request. Traced from the modules each process resolves (test/support/module-trace.ts), not from
 * memory figures, which belong to `npm run bench -- proxy` (and docs/proxy.md).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { EchoClient } from '../src/example/echo-service.js';
import { unary } from './support/proxy.js';
import { CLI } from './support/run-cli.js';

const TRACE = fileURLToPath(new URL('./support/module-trace.js', import.meta.url));
/** Packages and builtins a proxy on static h2c targets has no use for. */
const UNUSED = ['node_modules/zod/', 'node_modules/yaml/', 'node_modules/etcd3/', 'node_modules/@grpc/', 'node_modules/pino/', 'node_modules/prom-client/', 'node_modules/xxhash-wasm/', 'node:tls', '/src/discovery/'];

describe('proxy footprint', () => {
  let backend: ExampleServer;
  let dir: string;
  before(async () => {
    backend = await startExampleServer({ id: 'a' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-footprint-'));
  });
  after(async () => {
    await backend.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads no validation, YAML, registry, gRPC library, logger, metrics or TLS in the primary and its workers; the metrics library on the first /metrics', async () => {
    const child = spawn(
      process.execPath,
      ['--import', TRACE, CLI, 'proxy', '--listen', '127.0.0.1:0', '--target', backend.address, '--admin', '127.0.0.1:0', '--workers', '2'],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, GRPC_HA_MODULE_TRACE_DIR: dir } },
    );
    try {
      const listening = await new Promise<{ port: number; adminPort: number; workers: number[] }>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => resolve(JSON.parse(line) as never));
        child.once('exit', (code) => reject(new Error(`proxy exited ${code}`)));
      });
      const client = new EchoClient(`127.0.0.1:${listening.port}`, grpc.credentials.createInsecure());
      assert.equal((await unary(client)).serverId, 'a');
      client.close();
      const modules = (pid: number) => readFileSync(path.join(dir, `${pid}.txt`), 'utf8');
      for (const pid of [child.pid!, ...listening.workers]) {
        const loaded = modules(pid);
        assert.match(loaded, /src\/proxy\//, `process ${pid} was traced`);
        for (const unused of UNUSED) assert.ok(!loaded.includes(unused), `process ${pid} loaded ${unused}`);
      }
      const files = readdirSync(dir).map((f) => Number(f.replace('.txt', '')));
      const checker = files.find((pid) => pid !== child.pid && !listening.workers.includes(pid));
      assert.ok(checker !== undefined && modules(checker).includes('node_modules/zod/'), 'the config was validated in a child of its own');

      const metrics = await fetch(`http://127.0.0.1:${listening.adminPort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /grpc_ha_proxy_backend_requests_total/);
      assert.ok(modules(child.pid!).includes('node_modules/prom-client/'), 'the metrics library loads on the first scrape');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
