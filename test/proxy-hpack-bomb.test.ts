/**
 * HPACK bombs (RFC 9113 §10.5.1, RFC 7541 §7.3): header blocks of 32 KB that insert one 4 KB
 * entry into the dynamic table and reference it 28,000 times, 113 MB once decoded, sent by a
 * python3-h2 client as fast as it can. The proxy stops building fields at maxHeaderListSize
 * (it only walks the rest of the block to keep the table in step), answers RESOURCE_EXHAUSTED,
 * and a connection that keeps sending oversized blocks is closed with GOAWAY ENHANCE_YOUR_CALM;
 * a steady client on the same proxy loses nothing.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { FLOOD_BUDGETS } from '../src/proxy/h2/flood-guard.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { echoClient, proxyFor, steadyClient, unary } from './support/proxy.js';
import { requirePython, runPython } from './support/python-peer.js';

describe('proxy: HPACK bombs', () => {
  let backend: ExampleServer | undefined;
  let proxy: Proxy | undefined;

  before(async () => {
    requirePython('h2');
    backend = await startExampleServer({ id: 'b' });
    proxy = await proxyFor({ clusters: { echo: { target: backend.address } } });
  });

  after(async () => {
    await proxy?.close(100);
    await backend?.stop(100);
  });

  it('answers oversized blocks without decoding them whole and closes a connection that keeps sending them', async () => {
    const client = echoClient(proxy!);
    const steady = steadyClient(() => unary(client));
    try {
      const bomb = await runPython('h2_peer.py', ['hpack-bomb', String(proxy!.port), '600']);
      assert.deepEqual(bomb.goaways, { [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]: 1 }, JSON.stringify(bomb));
      // Each block answered is an oversized request refused; past the budget the connection ends.
      assert.ok((bomb.answered as number) <= FLOOD_BUDGETS.oversizedHeaders, JSON.stringify(bomb));
      assert.ok((bomb.answered as number) >= 1, 'no block was answered RESOURCE_EXHAUSTED');
    } finally {
      const result = await steady.stop();
      client.close();
      assert.deepEqual(result.failures, [], 'the steady client lost calls');
      assert.equal(backend!.stats.byMethod.unary, result.calls, 'a bomb reached the backend');
    }
  });
});
