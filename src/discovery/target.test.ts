import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseUri } from '@grpc/grpc-js/build/src/uri-parser.js';
import { parseDiscoveryTarget } from './target.js';

/** Splits the target as a grpc-js channel does, then parses it. */
const parse = (target: string) => parseDiscoveryTarget(parseUri(target)!);

describe('discovery target syntax', () => {
  it('parses each scheme', () => {
    const file = parse('file:///greeter?dir=/var/run/reg&tag=a&tag=b');
    assert.deepEqual(file.query, { service: 'greeter', tags: ['a', 'b'] });
    assert.equal(file.registryKey, 'file|/var/run/reg');

    const etcd = parse('etcd://10.0.0.1:2379,10.0.0.2:2379/foo/bar/greeter');
    assert.deepEqual(etcd.query, { service: 'foo/bar/greeter' });
    assert.equal(etcd.registryKey, 'etcd|10.0.0.1:2379,10.0.0.2:2379');

    const consul = parse('consul://127.0.0.1:8500/greeter?dc=dc2&tag=primary');
    assert.deepEqual(consul.query, { service: 'greeter', datacenter: 'dc2', tags: ['primary'] });

    const list = parse('static:///10.0.0.1:50051;weight=3;zone=a,[::1]:50052');
    assert.equal(list.registryKey, 'static|10.0.0.1:50051;weight=3;zone=a,[::1]:50052');

    const fileList = parse('static:///greeter?file=/etc/grpc-ha/static.json');
    assert.equal(fileList.registryKey, 'static-file|/etc/grpc-ha/static.json');
  });

  it('uses the default endpoints when the authority is empty', () => {
    assert.equal(parse('etcd:///greeter').registryKey, `etcd|${process.env['ETCDCTL_ENDPOINTS'] ?? '127.0.0.1:2379'}`);
    assert.equal(parse('consul:///greeter').registryKey, `consul|${process.env['CONSUL_HTTP_ADDR'] ?? '127.0.0.1:8500'}`);
  });

  it('rejects bad targets with the reason', () => {
    const cases: [string, RegExp][] = [
      ['file://host/greeter', /file targets take no authority/],
      ['file:///greeter?dir=rel', /dir must be an absolute path/],
      ['file:///greeter?dir=/a&dir=/b', /dir given more than once/],
      ['file:///gr%zzeeter', /not valid percent-encoding/],
      ['etcd://127.0.0.1:99999/greeter', /port in 1\.\.65535/],
      ['consul://a:1,b:2/greeter', /one agent address/],
      ['consul:///greeter?tag=', /tag must not be empty/],
      ['static:///', /service name|host:port/],
      ['static:///1.2.3.4:5,,6.7.8.9:1', /comma-separated/],
      ['dns:///greeter', /scheme must be one of/],
    ];
    for (const [target, error] of cases) assert.throws(() => parse(target), error, target);
  });
});
