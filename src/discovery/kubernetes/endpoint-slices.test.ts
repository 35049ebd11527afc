import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointState, instancesFromSlices, type EndpointSlice, type SliceEndpoint } from './endpoint-slices.js';
import { kubernetesDefaultAuthority, parseKubernetesName } from './kubernetes-name.js';

const slice = (name: string, ports: EndpointSlice['ports'], endpoints: SliceEndpoint[], addressType = 'IPv4'): EndpointSlice => ({ metadata: { name }, addressType, ports, endpoints });
const ep = (address: string, conditions?: SliceEndpoint['conditions'], extra: Partial<SliceEndpoint> = {}): SliceEndpoint => ({ addresses: [address], conditions, ...extra });

describe('EndpointSlices to instances', () => {
  it('reads nil conditions as the API reference says', () => {
    const table: [SliceEndpoint['conditions'], string][] = [
      [undefined, 'ready'],
      [{}, 'ready'],
      [{ ready: null, serving: null, terminating: null }, 'ready'],
      [{ ready: false }, 'unavailable'],
      [{ ready: false, serving: true, terminating: true }, 'terminating-serving'],
      [{ ready: false, serving: false, terminating: true }, 'unavailable'],
      // publishNotReadyAddresses: ready stays true while terminating; still no new calls.
      [{ ready: true, serving: true, terminating: true }, 'terminating-serving'],
    ];
    for (const [conditions, state] of table) assert.equal(endpointState(ep('10.0.0.1', conditions)), state, JSON.stringify(conditions));
  });

  it('gives new calls to ready endpoints only, and to serving terminating ones when no endpoint is ready (KEP-1669)', () => {
    const slices = [slice('s1', [{ name: 'grpc', port: 8080 }], [ep('10.0.0.1'), ep('10.0.0.2', { ready: false, serving: true, terminating: true })])];
    assert.deepEqual(instancesFromSlices('echo', slices, 'grpc').instances.map((i) => i.address), ['10.0.0.1:8080']);
    const draining = [slice('s1', [{ name: 'grpc', port: 8080 }], [ep('10.0.0.1', { ready: false, serving: false }), ep('10.0.0.2', { ready: false, serving: true, terminating: true })])];
    const { instances } = instancesFromSlices('echo', draining, 'grpc');
    assert.deepEqual(instances.map((i) => [i.address, i.labels?.['terminating']]), [['10.0.0.2:8080', 'true']]);
  });

  it('looks a port name up per slice, takes a number as is, and names the problem of a slice it skips', () => {
    const slices = [
      slice('s1', [{ name: 'grpc', port: 8080 }], [ep('10.0.0.1')]),
      slice('s2', [{ name: 'metrics', port: 9090 }, { name: 'grpc', port: 9000 }], [ep('10.0.0.2')]),
      slice('s3', [{ name: 'metrics', port: 9090 }], [ep('10.0.0.3')]),
      slice('empty', null, []),
      slice('v6', [{ name: 'grpc', port: 8080 }], [ep('fd00::1', undefined, { zone: 'z1', nodeName: 'n1', hints: { forZones: [{ name: 'z1' }] } })], 'IPv6'),
    ];
    const named = instancesFromSlices('echo', slices, 'grpc');
    assert.deepEqual(named.instances.map((i) => i.address), ['10.0.0.1:8080', '10.0.0.2:9000', '[fd00::1]:8080']);
    assert.deepEqual(named.problems, ['EndpointSlice s3 has no TCP port named "grpc" (it has metrics=9090)']);
    const v6 = named.instances[2]!;
    assert.deepEqual([v6.zone, v6.labels], ['z1', { node: 'n1', forZones: 'z1' }]);
    assert.deepEqual(instancesFromSlices('echo', slices, 7000).instances.map((i) => i.address), ['10.0.0.1:7000', '10.0.0.2:7000', '10.0.0.3:7000', '[fd00::1]:7000']);
    const unnamed = instancesFromSlices('echo', slices, undefined);
    assert.deepEqual(unnamed.instances.map((i) => i.address), ['10.0.0.1:8080', '10.0.0.3:9090', '[fd00::1]:8080']);
    assert.match(unnamed.problems[0]!, /s2 has several ports \(metrics=9090, grpc=9000\): name one in the target/);
  });

  it('keeps one instance per address when an endpoint sits in two slices, preferring its ready copy', () => {
    const slices = [slice('old', [{ port: 80 }], [ep('10.0.0.1', { ready: false, serving: true, terminating: true }), ep('10.0.0.9')]), slice('new', [{ port: 80 }], [ep('10.0.0.1')])];
    assert.deepEqual(instancesFromSlices('echo', slices, undefined).instances.map((i) => [i.address, i.labels]), [['10.0.0.1:80', undefined], ['10.0.0.9:80', undefined]]);
  });
});

describe('k8s target names', () => {
  it('parses the forms kuberesolver accepts', () => {
    const table: [string, object, string][] = [
      ['echo', { service: 'echo' }, 'echo'],
      ['echo:grpc', { service: 'echo', port: 'grpc' }, 'echo'],
      ['echo.prod:50051', { service: 'echo', namespace: 'prod', port: 50051 }, 'echo.prod'],
      ['echo.prod.svc.cluster.local:grpc', { service: 'echo', namespace: 'prod', port: 'grpc' }, 'echo.prod'],
    ];
    for (const [text, parsed, authority] of table) {
      assert.deepEqual(parseKubernetesName(text), parsed, text);
      assert.equal(kubernetesDefaultAuthority(parseKubernetesName(text)), authority);
    }
    assert.throws(() => parseKubernetesName('echo:a--b'), /port name/);
    assert.throws(() => parseKubernetesName('echo:verylongportname1'), /port name/);
  });
});
