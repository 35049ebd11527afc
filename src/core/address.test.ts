import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { formatAddress, ipVersion, splitAddress } from './address.js';

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
