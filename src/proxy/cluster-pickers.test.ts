import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLUSTER_POLICIES } from './cluster-policy.js';
import { CLUSTER_PICKER_NAMES, loadClusterPicker } from './cluster-pickers.js';

describe('cluster pickers (what a proxy worker loads instead of the policy definitions)', () => {
  it('names every cluster policy, in the same order', () => {
    assert.deepEqual(CLUSTER_PICKER_NAMES, [...CLUSTER_POLICIES.keys()]);
  });

  it('gives each policy the picker and the flags of its definition', async () => {
    for (const [name, definition] of CLUSTER_POLICIES) {
      const picker = await loadClusterPicker(name);
      assert.equal(picker.name, name);
      assert.equal(picker.createPicker, definition.createPicker, `${name}: same picker factory`);
      assert.equal(picker.includeUnavailable ?? false, definition.includeUnavailable ?? false, `${name}: includeUnavailable`);
    }
  });

  it('rejects a name no policy has', async () => {
    await assert.rejects(loadClusterPicker('nope'), /no picker for cluster policy "nope"/);
  });
});
