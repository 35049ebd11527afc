/**
 * `k8s:` against a FAKE Kubernetes API (test/support/fake-kubernetes.ts: no API server can run
 * here) that keeps the documented EndpointSlice list/watch contract, with real grpc-js clients
 * and real servers. The InstanceSource contract (test/support/source-contract.ts: pods followed
 * as they come and go, every policy, an API outage with 0 failed calls), and its extras: a
 * Service split across slices with a named port, terminating endpoints that get no new calls
 * and lose none in flight, a watch resumed from its resourceVersion after bookmarks, a fresh
 * list after 410 Gone (as an ERROR event and as an HTTP status), in-cluster auth (token file
 * rotated, CA, namespace file) and a kubeconfig (also for `grpc-ha resolve --watch`), and bad
 * targets refused.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { KubernetesDiscovery } from '../src/discovery/kubernetes/kubernetes-discovery.js';
import { registerResolvers, registryChannelOptions } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import type { ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { callLoop } from './support/call-loop.js';
import { sourceContract } from './support/source-contract.js';
import { captureLogs, spread, tempDir, waitFor } from './support/discovery.js';
import { endpointSlice, FakeKubernetes } from './support/fake-kubernetes.js';
import { CLI } from './support/run-cli.js';
import { startOnOnePort } from './support/same-port-servers.js';

registerResolvers();

const NS = 'default';
const TOKEN = 'token-1';

describe('k8s discovery (fake API server)', { timeout: 60_000 }, () => {
  const api = new FakeKubernetes({ token: TOKEN });
  const logs = captureLogs();
  let port: number;
  let servers: ExampleServer[];
  let hostOf: (id: string) => string;
  let source: KubernetesDiscovery;
  const clients: EchoClient[] = [];
  const client = (target: string, options = policyChannelOptions('round_robin')) => {
    const c = new EchoClient(target, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };
  const endpoint = (id: string, extra: { ready?: boolean; serving?: boolean; terminating?: boolean; zone?: string } = {}) => ({ address: hostOf(id), pod: `echo-${id}`, ...extra });
  /** A source watched directly, its reports collected. */
  const watchDirectly = (service: string, from = source) => {
    const seen = { lists: [] as (readonly ServiceInstance[])[], errors: [] as string[] };
    const stop = from.watch({ service }, { instances: (i) => seen.lists.push(i), config: () => undefined, error: (e) => seen.errors.push(e.message) });
    const latest = () => (seen.lists.at(-1) ?? []).map((i) => i.address).sort();
    return { seen, stop, latest };
  };

  before(async () => {
    await api.start();
    ({ port, servers, hostOf } = await startOnOnePort(['a', 'b', 'c']));
    source = new KubernetesDiscovery({ apiServer: api.url, token: TOKEN, namespace: NS, backoff: { initialMs: 50, maxMs: 400 } });
  });
  after(async () => {
    for (const c of clients) c.close();
    await source.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    await api.stop();
    logs.restore();
  });

  sourceContract({
    create: () => new KubernetesDiscovery({ apiServer: api.url, token: TOKEN, namespace: NS, backoff: { initialMs: 50, maxMs: 400 } }),
    target: (service) => `k8s:///${service}.${NS}:grpc`,
    queryService: (service) => `${service}.${NS}:grpc`,
    publish: async (service, hosts, port) => api.apply(NS, endpointSlice(service, `${service}-1`, [{ name: 'grpc', port }], hosts.map((address) => ({ address })))),
    // The API pushes: a change is a watch event away, plus grpc-js connecting.
    followWithinMs: 500,
    outage: { begin: () => api.stop(), end: () => api.start(), logged: /watching EndpointSlices of default\/outage failed: .*keeping the last known endpoints/ },
  });

  it('balances over a Service split across slices, by the port name each slice gives, and follows slices coming and going', async () => {
    api.apply(NS, endpointSlice('echo', 'echo-1', [{ name: 'grpc', port }], [endpoint('a', { zone: 'z1' })]));
    // The second slice lists its ports in another order, with a port the target does not name.
    api.apply(NS, endpointSlice('echo', 'echo-2', [{ name: 'metrics', port: 9090 }, { name: 'grpc', port }], [endpoint('b', { zone: 'z2' }), endpoint('c', { zone: 'z2' })]));
    api.apply(NS, endpointSlice('other', 'other-1', [{ name: 'grpc', port }], [endpoint('c')]));
    const echo = client('k8s:///echo.default:grpc', registryChannelOptions(source, policyChannelOptions('round_robin')));
    await waitFor('all three pods to answer', async () => (await spread(echo, 9)).size === 3, 5000, 0);

    const direct = watchDirectly('echo:grpc');
    await waitFor('the direct watch', () => direct.latest().length === 3);
    const a = direct.seen.lists.at(-1)!.find((i) => i.address === `${hostOf('a')}:${port}`)!;
    assert.equal(a.zone, 'z1');
    assert.deepEqual(a.labels, { pod: 'echo-a' });
    direct.stop();

    api.remove(NS, 'echo-1');
    await waitFor('a to leave', async () => !(await spread(echo, 6)).has('a'), 3000, 0);
    api.apply(NS, endpointSlice('echo', 'echo-1', [{ name: 'grpc', port }], [endpoint('a')]));
    await waitFor('a to return', async () => (await spread(echo, 9)).has('a'), 3000, 0);
  });

  it('gives a terminating endpoint no new calls and loses none of its calls in flight', async () => {
    const [, , c] = servers as [ExampleServer, ExampleServer, ExampleServer];
    api.apply(NS, endpointSlice('drain', 'drain-1', [{ name: 'grpc', port }], [endpoint('a'), endpoint('b'), endpoint('c')]));
    const echo = client('k8s:///drain:grpc', registryChannelOptions(source, policyChannelOptions('least_request')));
    await waitFor('all three', async () => (await spread(echo, 9)).size === 3, 5000, 0);
    c.setLatency(1500); // calls on c stay in flight while it terminates
    const before = c.stats.calls;
    const startedOnC = () => c.stats.calls - before;
    const loop = callLoop(echo, { concurrency: 6, deadlineMs: 5000 });
    try {
      await waitFor('calls in flight on c', () => startedOnC() - (loop.replies.get('c')?.count ?? 0) >= 1, 3000, 5);
      api.apply(NS, endpointSlice('drain', 'drain-1', [{ name: 'grpc', port }], [endpoint('a'), endpoint('b'), endpoint('c', { ready: false, serving: true, terminating: true })]));
      await new Promise((r) => setTimeout(r, 200));
      const started = startedOnC();
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(startedOnC(), started, 'c got no new call once it was terminating');
      await waitFor('every call started on c to be answered', () => (loop.replies.get('c')?.count ?? 0) === started, 3000);
    } finally {
      await loop.stop();
      c.setLatency(0);
    }
    assert.deepEqual(loop.failures.map((f) => f.message), [], 'no call failed');
    assert.ok((loop.replies.get('c')?.count ?? 0) >= 1, 'c answered its calls in flight');
  });

  it('resumes its watch from the last resourceVersion (bookmarks move it) and lists again after 410 Gone', async () => {
    api.apply(NS, endpointSlice('rv', 'rv-1', [{ port }], [endpoint('a')]));
    const direct = watchDirectly('rv');
    try {
      await waitFor('the first list', () => direct.latest().length === 1);
      await waitFor('the watch', () => api.requests.some((r) => r.query.get('labelSelector') === 'kubernetes.io/service-name=rv' && r.query.get('watch') === '1'));
      const watches = () => api.requests.filter((r) => r.query.get('labelSelector') === 'kubernetes.io/service-name=rv' && r.query.get('watch') === '1');
      const lists = () => api.requests.filter((r) => r.query.get('labelSelector') === 'kubernetes.io/service-name=rv' && r.query.get('watch') === null);
      assert.equal(watches()[0]!.query.get('allowWatchBookmarks'), 'true');
      assert.equal(lists().length, 1);

      // Other Services change; a bookmark tells the watch how far it has been brought.
      api.apply(NS, endpointSlice('unrelated', 'u-1', [{ port }], [endpoint('b')]));
      api.bookmark();
      const bookmarked = api.resourceVersion;
      await new Promise((r) => setTimeout(r, 100));
      api.endWatches();
      // A change while no watch is open is replayed by the resumed watch.
      api.apply(NS, endpointSlice('rv', 'rv-1', [{ port }], [endpoint('a'), endpoint('b')]));
      await waitFor('the change made between two watches', () => direct.latest().length === 2);
      assert.equal(watches()[1]!.query.get('resourceVersion'), bookmarked, 'resumed from the bookmark');
      assert.equal(lists().length, 1, 'no list to resume');

      // The history is compacted while the watch is down: the resumed watch gets a 410 ERROR event.
      api.endWatches();
      api.compact();
      api.apply(NS, endpointSlice('rv', 'rv-2', [{ port }], [endpoint('c')]));
      api.compact();
      await waitFor('the list after 410', () => direct.latest().length === 3, 3000);
      assert.equal(lists().length, 2, 'listed again after 410');
      assert.ok(logs.has('info', /expired \(410 Expired\); listing again/));

      // The same as an HTTP 410 answer to the watch request.
      api.goneAsHttp = true;
      api.endWatches();
      api.remove(NS, 'rv-2');
      api.compact();
      await waitFor('the list after an HTTP 410', () => direct.latest().length === 2, 3000);
      assert.equal(lists().length, 3);
      assert.deepEqual(direct.seen.errors, [], 'a 410 is no outage');
    } finally {
      api.goneAsHttp = false;
      direct.stop();
    }
  });

  it('refuses bad targets naming what is wrong', () => {
    const bad: [string, RegExp][] = [
      ['k8s://default/echo:grpc', /k8s targets take no authority/],
      ['k8s:///Echo:grpc', /the service must be a DNS-1035 label/],
      ['k8s:///echo.default:70000', /the port number must be in 1\.\.65535/],
      ['k8s:///echo:Not_A_Port', /the port must be a number in 1\.\.65535 or a port name/],
      ['k8s:///echo.default.cluster:grpc', /write service\.namespace, or service\.namespace\.svc/],
    ];
    for (const [target, error] of bad) assert.throws(() => new EchoClient(target, credentials.createInsecure()), error, target);
  });
});

describe('k8s discovery: in-cluster auth and kubeconfig (fake API server over TLS)', { timeout: 30_000 }, () => {
  const tmp = tempDir('grpc-ha-k8s-auth');
  const file = (name: string) => path.join(tmp.dir, name);
  let api: FakeKubernetes;
  let servers: ExampleServer[];
  let port: number;
  let hostOf: (id: string) => string;
  const saved = { ...process.env };

  before(async () => {
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tmp.dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=fake cluster CA', '-days', '2');
    writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n');
    ssl('req', ...ec, '-keyout', 'api.key', '-out', 'api.csr', '-subj', '/CN=kube-apiserver');
    ssl('x509', '-req', '-in', 'api.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'api.crt', '-days', '2', '-extfile', 'san.ext');
    api = new FakeKubernetes({ token: 'sa-token-1', tls: { cert: readFileSync(file('api.crt')), key: readFileSync(file('api.key')) } });
    await api.start();
    ({ port, servers, hostOf } = await startOnOnePort(['p1', 'p2']));
    api.apply('prod', endpointSlice('echo', 'echo-x', [{ name: 'grpc', port }], [{ address: hostOf('p1') }]));
    api.apply('staging', endpointSlice('echo', 'echo-y', [{ name: 'grpc', port }], [{ address: hostOf('p2') }]));
  });
  after(async () => {
    process.env = saved;
    await Promise.all(servers.map((s) => s.stop(0)));
    await api.stop();
    tmp.remove();
  });

  it('in a pod: the service-account token (re-read when refused), its CA and its namespace', async () => {
    writeFileSync(file('token'), 'sa-token-1\n');
    writeFileSync(file('namespace'), 'prod');
    process.env['KUBERNETES_SERVICE_HOST'] = '127.0.0.1';
    process.env['KUBERNETES_SERVICE_PORT'] = new URL(api.url).port;
    delete process.env['KUBECONFIG'];
    const pod = new KubernetesDiscovery({ serviceAccountDir: tmp.dir, backoff: { initialMs: 50, maxMs: 200 } });
    assert.match(pod.description, /\(in-cluster\)$/);
    const echo = new EchoClient('k8s:///echo:grpc', credentials.createInsecure(), registryChannelOptions(pod));
    try {
      assert.deepEqual([...(await spread(echo, 3))], [['p1', 3]], 'the pod namespace (prod) was used');
      // The kubelet rotates the token: the old one is refused, the new one is read from the file.
      writeFileSync(file('token'), 'sa-token-2\n');
      api.token = 'sa-token-2';
      api.endWatches();
      await waitFor('a watch with the new token', () => api.requests.some((r) => r.authorization === 'Bearer sa-token-2' && r.query.get('watch') === '1'), 5000);
    } finally {
      echo.close();
      await pod.close();
      api.token = 'sa-token-1';
    }
  });

  it('outside: a kubeconfig from $KUBECONFIG (CA data, token, context namespace), through a plain k8s: target', async () => {
    const ca = readFileSync(file('ca.crt')).toString('base64');
    writeFileSync(
      file('kubeconfig'),
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: fake',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${api.url}\n    certificate-authority-data: ${ca}`,
        'users:',
        '- name: dev\n  user:\n    token: sa-token-1',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: dev\n    namespace: staging',
      ].join('\n'),
    );
    delete process.env['KUBERNETES_SERVICE_HOST'];
    process.env['KUBECONFIG'] = `${file('missing')}${path.delimiter}${file('kubeconfig')}`;
    const echo = new EchoClient('k8s:///echo:grpc', credentials.createInsecure(), policyChannelOptions('round_robin'));
    try {
      assert.deepEqual([...(await spread(echo, 3))], [['p2', 3]], 'the context namespace (staging) was used');
    } finally {
      echo.close();
    }
    const explicit = new EchoClient('k8s:///echo.prod:grpc', credentials.createInsecure());
    try {
      assert.deepEqual([...(await spread(explicit, 2))], [['p1', 2]], 'a namespace in the target wins');
    } finally {
      explicit.close();
    }
    // grpc-ha resolve --watch, with the same kubeconfig, prints the pod and each change.
    const cli = spawn(process.execPath, [CLI, 'resolve', 'k8s:///echo:grpc', '--watch'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRPC_HA_LOG_LEVEL: 'silent' } });
    const exited = new Promise<number | null>((resolve) => cli.on('exit', resolve));
    const lines: string[] = [];
    createInterface({ input: cli.stdout }).on('line', (line) => lines.push(line));
    try {
      // The list's header and its instance line are two lines: wait for the instance, not only the header.
      await waitFor('the first list', () => lines.some((l) => /echo:grpc: 1 instance/.test(l)) && lines.some((l) => l.includes(`${hostOf('p2')}:${port}`)), 5000);
      api.apply('staging', endpointSlice('echo', 'echo-y', [{ name: 'grpc', port }], [{ address: hostOf('p2') }, { address: hostOf('p1') }]));
      await waitFor('the change', () => lines.some((l) => /echo:grpc: 2 instances/.test(l)), 5000);
    } finally {
      cli.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
