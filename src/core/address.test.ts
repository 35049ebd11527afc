import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { formatAddress, ipVersion, isWildcardHost, splitAddress, splitHostOptionalPort } from './address.js';

describe('core address parsing', () => {
  it('recognises IP literals exactly as node:net does', () => {
    const inputs = [
      '127.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5',
      '::', '::1', 'fe80::1', 'fe80::1%eth0', '2001:db8::8a2e:370:7334', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9',
      ':::', '12345::', 'g::1', 'localhost', 'example.com', '', '[::1]', '1::2::3',
    ];
    for (const input of inputs) assert.equal(ipVersion(input), isIP(input), input);
  });

  it('splits and formats host:port, IPv6 in brackets', () => {
    assert.deepEqual(splitAddress('[::1]:50051'), { host: '::1', port: 50051 });
    assert.deepEqual(splitAddress('db-1.example.com:443'), { host: 'db-1.example.com', port: 443 });
    assert.equal(splitAddress('127.0.0.1:0'), null);
    assert.deepEqual(splitAddress(':0', true), { host: '', port: 0 });
    assert.equal(formatAddress('::1', 80), '[::1]:80');
    assert.equal(formatAddress('10.0.0.1', 80), '10.0.0.1:80');
  });
});

describe('wildcard hosts and advertised addresses', () => {
  it('knows every spelling of "every interface", and nothing else', () => {
    for (const host of ['', '0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0', '::0']) assert.equal(isWildcardHost(host), true, host);
    for (const host of ['127.0.0.1', '::1', '10.0.0.0', 'localhost', '0.0.0.1']) assert.equal(isWildcardHost(host), false, host);
  });

  it('reads a host with or without a port', () => {
    assert.deepEqual(splitHostOptionalPort('10.0.0.7'), { host: '10.0.0.7' });
    assert.deepEqual(splitHostOptionalPort('fd00::7'), { host: 'fd00::7' });
    assert.deepEqual(splitHostOptionalPort('pod-1.example.com'), { host: 'pod-1.example.com' });
    assert.deepEqual(splitHostOptionalPort('10.0.0.7:50051'), { host: '10.0.0.7', port: 50051 });
    assert.deepEqual(splitHostOptionalPort('[fd00::7]:50051'), { host: 'fd00::7', port: 50051 });
    for (const bad of ['', '10.0.0.7:', 'a b', '10.0.0.7:99999', 'http://x']) assert.equal(splitHostOptionalPort(bad), null, bad);
  });
});
