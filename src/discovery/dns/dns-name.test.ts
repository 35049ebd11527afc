import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { srvInstances } from './dns-discovery.js';
import { dnsDefaultAuthority, parseDnsName, parseDnsServer } from './dns-name.js';

describe('ha-dns names', () => {
  it('tells A/AAAA names, SRV names and IP literals apart', () => {
    assert.deepEqual(parseDnsName('echo.example.com:50051'), { t: 'host', host: 'echo.example.com', port: 50051 });
    assert.deepEqual(parseDnsName('_grpc._tcp.echo.example.com'), { t: 'srv', name: '_grpc._tcp.echo.example.com' });
    assert.deepEqual(parseDnsName('[::1]:50051'), { t: 'ip', address: '[::1]:50051' });
    assert.equal(dnsDefaultAuthority(parseDnsName('_grpc._tcp.echo.example.com')), 'echo.example.com');
    assert.equal(dnsDefaultAuthority(parseDnsName('echo.example.com:50051')), 'echo.example.com:50051');
    assert.throws(() => parseDnsName('echo:99999'), /the port must be in 1\.\.65535/);
    assert.throws(() => parseDnsName('10.0.0.1'), /must be host:port/);
    assert.deepEqual(parseDnsServer('[::1]'), { host: '::1', port: 53 });
    assert.deepEqual(parseDnsServer('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
    assert.throws(() => parseDnsServer('dns.example.com'), /must be an IP address/);
  });

  it('weighs SRV records as RFC 2782 does: lowest priority only, weight 0 nearly never, shared by a target\'s addresses', () => {
    const records = [
      { priority: 0, weight: 30, port: 1, target: 'a' },
      { priority: 0, weight: 0, port: 2, target: 'b' },
      { priority: 0, weight: 10, port: 3, target: 'c' },
      { priority: 5, weight: 100, port: 4, target: 'backup' },
    ];
    const addresses: Record<string, string[]> = { a: ['10.0.0.1', '10.0.0.2'], b: ['10.0.0.3'], c: [], backup: ['10.0.0.9'] };
    const instances = srvInstances('svc', records, (t) => addresses[t]!);
    assert.deepEqual(instances.map((i) => [i.address, i.weight]), [['10.0.0.1:1', 15], ['10.0.0.2:1', 15], ['10.0.0.3:2', 0.1]]);
    const equal = srvInstances('svc', [{ priority: 1, weight: 0, port: 1, target: 'a' }], (t) => addresses[t]!);
    assert.deepEqual(equal.map((i) => i.weight), [undefined, undefined]);
  });
});
