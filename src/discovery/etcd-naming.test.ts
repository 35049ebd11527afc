import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEndpoint, encodeEndpoint, endpointKey } from './etcd-naming.js';

describe("etcd's Go naming format", () => {
  it('encodes an instance as endpoints.Manager does, metadata included', () => {
    const instance = { service: 'foo/greeter', instanceId: 'i-1', address: '10.0.0.1:50051', weight: 2, zone: 'z' };
    assert.equal(endpointKey(instance), 'foo/greeter/10.0.0.1:50051');
    assert.deepEqual(JSON.parse(encodeEndpoint(instance)), { Op: 0, Addr: '10.0.0.1:50051', Metadata: { instanceId: 'i-1', weight: 2, zone: 'z' } });
    const back = decodeEndpoint('foo/greeter', endpointKey(instance), encodeEndpoint(instance));
    assert.deepEqual(back, { ok: true, instance });
  });

  it('reads what Go programs write: any Metadata, key suffix as instance id', () => {
    assert.deepEqual(decodeEndpoint('svc', 'svc/e1', '{"Addr":"1.2.3.4:5","Metadata":"..."}'), {
      ok: true,
      instance: { service: 'svc', instanceId: 'e1', address: '1.2.3.4:5' },
    });
    const badWeight = decodeEndpoint('svc', 'svc/e1', '{"Op":0,"Addr":"1.2.3.4:5","Metadata":{"weight":-1}}');
    assert.ok(badWeight.ok && badWeight.warning?.includes('weight'), JSON.stringify(badWeight));
  });

  it('rejects values without a usable Addr', () => {
    for (const value of ['nope', '[]', '{"Addr":"1.2.3.4"}', '{"Metadata":{}}']) {
      assert.equal(decodeEndpoint('svc', 'svc/x', value).ok, false, value);
    }
  });
});
