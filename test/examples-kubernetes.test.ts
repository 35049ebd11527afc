/**
 * The manifests of examples/kubernetes hold together (no cluster runs here, so this is what can
 * be checked): the readiness probe is Kubernetes' gRPC probe on the port serve() binds on every
 * interface, the Service is headless with the port the client's target names, the client's
 * service account may list and watch EndpointSlices, and its target parses as a k8s: target.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseKubernetesName } from '../src/discovery/kubernetes/kubernetes-name.js';
import { parseDiscoveryTarget } from '../src/discovery/target.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/kubernetes');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;
const load = (file: string): Doc[] => parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8')).map((d) => d.toJS());
const find = (docs: Doc[], kind: string, name?: string) => docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));

describe('examples/kubernetes', () => {
  const server = load('server.yaml');
  const client = load('client.yaml');

  it('server: serve() on every interface, probed by the gRPC readiness probe, behind a headless Service', () => {
    const container = find(server, 'Deployment', 'echo').spec.template.spec.containers[0];
    const port = container.ports.find((p: Doc) => p.name === 'grpc').containerPort;
    assert.deepEqual(container.readinessProbe.grpc, { port });
    assert.deepEqual(container.args.slice(0, 5), ['serve-example', '--host', '0.0.0.0', '--port', String(port)]);
    const service = find(server, 'Service', 'echo');
    assert.equal(service.spec.clusterIP, 'None');
    assert.deepEqual(service.spec.ports.map((p: Doc) => p.name), ['grpc']);
  });

  it('client: a k8s: target naming the Service and its port, and RBAC to list and watch EndpointSlices', () => {
    const pod = find(client, 'Deployment', 'echo-client').spec.template.spec;
    const target = pod.containers[0].args[1];
    assert.equal(parseDiscoveryTarget(target).scheme, 'k8s');
    const name = parseKubernetesName(parseDiscoveryTarget(target).query.service);
    assert.equal(name.service, find(server, 'Service').metadata.name);
    assert.equal(name.port, find(server, 'Service').spec.ports[0].name);
    const binding = find(client, 'RoleBinding');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: pod.serviceAccountName }]);
    const role = find(client, 'Role', binding.roleRef.name);
    assert.deepEqual(role.rules, [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] }]);
  });
});
