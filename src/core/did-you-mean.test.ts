import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestName } from './did-you-mean.js';

describe('closestName', () => {
  const cases: [string, readonly string[], string | undefined][] = [
    ['peak-ewma', ['least_request', 'peak_ewma', 'ring_hash'], 'peak_ewma'],
    ['deadlinems', ['deadlineMs', 'idempotent'], 'deadlineMs'],
    ['idempotant', ['deadlineMs', 'idempotent'], 'idempotent'],
    ['decay', ['decayMs', 'defaultRttMs'], 'decayMs'],
    ['flie', ['dns', 'ipv4', 'file', 'etcd'], 'file'],
    ['panicTreshold', ['childPolicy', 'panicThresholdPercent'], 'panicThresholdPercent'],
    ['Inventory/GetStock', ['shop.Inventory', 'shop.Inventory/GetStock', 'shop.Inventory/WatchStock'], 'shop.Inventory/GetStock'],
    ['fastest', ['random', 'least_request', 'peak_ewma'], undefined],
    ['', ['a'], undefined],
  ];
  for (const [given, choices, expected] of cases) {
    it(`${JSON.stringify(given)} → ${String(expected)}`, () => assert.equal(closestName(given, choices), expected));
  }
});
