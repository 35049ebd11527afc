/** `grpc-ha xds` as a user runs it: flags, a config file, mistakes, SIGTERM. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from './support/discovery.js';
import { runCli } from './support/run-cli.js';
import { spawnXdsControlPlane } from './support/xds-peers.js';

describe('grpc-ha xds', () => {
  const tmp = tempDir('grpc-ha-xds-cli');
  after(() => tmp.remove());

  it('says what is missing or wrong in one line and exits 2', async () => {
    const none = await runCli(['xds']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^grpc-ha: xds: --listen and --registry are required \(or --config FILE\)\n$/);
    const badListen = await runCli(['xds', '--listen', 'nowhere', '--registry', 'file:']);
    assert.equal(badListen.code, 2);
    assert.match(badListen.stderr, /--listen must be host:port/);
    const badRegistry = await runCli(['xds', '--listen', '127.0.0.1:0', '--registry', 'etcd://127.0.0.1:2379/greeter', '--admin', 'off']);
    assert.equal(badRegistry.code, 2);
    assert.match(badRegistry.stderr, /registry must name a registry without a service/);
    const file = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:0\nregistry: "file:"\nhealthTimeoutMs: -1\n');
    const badFile = await runCli(['xds', '--config', file]);
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /healthTimeoutMs must be an integer >= 1, got -1/);
  });

  it('runs from a config file and stops on SIGTERM with exit 0', async () => {
    const file = path.join(tmp.dir, 'xds.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nregistry: "file:///?dir=${tmp.dir}"\nadmin: off\nhealthChecks: false\n`);
    const cp = await spawnXdsControlPlane(['--config', file]);
    assert.ok(cp.port > 0);
    assert.equal(cp.adminPort, null);
    assert.equal(await cp.stop(), 0);
  });

  it('exits 1 when the address is taken', async () => {
    const first = await spawnXdsControlPlane(['--listen', '127.0.0.1:0', '--registry', `file:///?dir=${tmp.dir}`, '--admin', 'off']);
    try {
      const second = await runCli(['xds', '--listen', first.address, '--registry', `file:///?dir=${tmp.dir}`, '--admin', 'off']);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
    } finally {
      await first.stop();
    }
  });
});
