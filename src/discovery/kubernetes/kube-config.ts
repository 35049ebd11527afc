/**
 * How to reach the Kubernetes API, found the way client-go finds it, in this order:
 *
 * 1. explicit options (`apiServer`, with `token`/`tokenFile`, `ca`/`caFile`);
 * 2. a kubeconfig named by the `kubeconfig` option or `$KUBECONFIG` (a ':'-separated list,
 *    merged: the first file to define a name wins, as `kubectl config view` merges them);
 * 3. in a pod: `$KUBERNETES_SERVICE_HOST`/`_PORT`, the service account's token and CA, and the
 *    pod's namespace from /var/run/secrets/kubernetes.io/serviceaccount;
 * 4. `~/.kube/config`.
 *
 * Tokens from files are read again every minute and after a 401: the kubelet rotates projected
 * service-account tokens ("the application is responsible for reloading the token when it
 * rotates", Kubernetes docs; client-go re-reads every minute). kubeconfig users may use a token,
 * a token file, a client certificate, a user and password, or an `exec` credential plugin
 * (client.authentication.k8s.io ExecCredential: the token it prints, kept until it expires);
 * legacy `auth-provider` plugins are refused with a clear error.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';

/** Options saying how to reach the API; every field is optional (see the module doc for the order). */
export interface KubernetesConnectionOptions {
  /** API server URL: `https://10.0.0.1:6443`, or `http://127.0.0.1:8001` for `kubectl proxy`. */
  readonly apiServer?: string;
  /** Bearer token (with apiServer). */
  readonly token?: string;
  /** File holding the bearer token, re-read every minute (with apiServer). */
  readonly tokenFile?: string;
  /** CA certificate(s) to trust, PEM (with apiServer). Defaults to the system's roots. */
  readonly ca?: string | Buffer;
  /** File of CA certificate(s), PEM (with apiServer). */
  readonly caFile?: string;
  /** Skips verifying the server's certificate (with apiServer). Defaults to false. */
  readonly insecureSkipTlsVerify?: boolean;
  /** Namespace of targets that name none. Defaults to the kubeconfig context's, the pod's, then "default". */
  readonly namespace?: string;
  /** kubeconfig path(s), ':'-separated. Defaults to $KUBECONFIG. */
  readonly kubeconfig?: string;
  /** kubeconfig context. Defaults to its current-context. */
  readonly context?: string;
  /** Where the pod's service account is mounted. Defaults to /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir?: string;
}

/** The pod's service-account mount. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token read from a file is used before it is read again, ms (client-go: one minute). */
const TOKEN_FILE_REFRESH_MS = 60_000;

/** A resolved way to reach the API. */
export interface KubernetesConnection {
  /** The API server's base URL. */
  readonly server: URL;
  /** TLS settings of node:https. */
  readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer; readonly rejectUnauthorized: boolean; readonly servername?: string };
  /** Namespace of targets that name none. */
  readonly namespace: string;
  /** Where this came from, for logs: "kubernetes API https://10.96.0.1:443 (in-cluster)". */
  readonly description: string;
  /** The Authorization header to send, if any. */
  authorization(): Promise<string | undefined>;
  /** Forgets a cached token (after a 401), so the next request reads or fetches it again. */
  invalidate(): void;
}

/** Finds how to reach the API; throws GrpcHaError(INVALID_CONFIG) naming what is missing or wrong. */
export function kubernetesConnection(options: KubernetesConnectionOptions = {}): KubernetesConnection {
  if (options.apiServer !== undefined) return explicitConnection(options);
  const kubeconfig = options.kubeconfig ?? process.env['KUBECONFIG'];
  if (kubeconfig) return kubeconfigConnection(kubeconfig, options);
  if (process.env['KUBERNETES_SERVICE_HOST']) return inClusterConnection(options);
  const home = path.join(os.homedir(), '.kube', 'config');
  if (existsSync(home)) return kubeconfigConnection(home, options);
  throw new GrpcHaError(
    ERROR_CODES.INVALID_CONFIG,
    `k8s: not running in a pod ($KUBERNETES_SERVICE_HOST is unset) and no kubeconfig ($KUBECONFIG unset, no ${home}); pass { apiServer } or { kubeconfig } to KubernetesDiscovery`,
  );
}

function fail(message: string): never {
  throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `k8s: ${message}`);
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    return fail(`cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function serverUrl(text: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`${where} must be a URL such as https://10.0.0.1:6443, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${where} must be http(s)://, got ${JSON.stringify(text)}`);
  return url;
}

/** A token: fixed, from a file re-read every minute, or from an exec plugin. */
type TokenSource = { t: 'none' } | { t: 'fixed'; token: string } | { t: 'file'; file: string } | { t: 'exec'; exec: ExecConfig; dir: string } | { t: 'basic'; header: string };

function connection(
  server: URL,
  tls: KubernetesConnection['tls'],
  namespace: string,
  description: string,
  source: TokenSource,
): KubernetesConnection {
  let cached: { value: string | undefined; until: number } | null = null;
  return {
    server,
    tls,
    namespace,
    description,
    async authorization() {
      if (source.t === 'none') return undefined;
      if (source.t === 'fixed') return `Bearer ${source.token}`;
      if (source.t === 'basic') return source.header;
      if (cached && Date.now() < cached.until) return cached.value;
      if (source.t === 'file') {
        const token = readFile(source.file, 'token file').toString('utf8').trim();
        cached = { value: `Bearer ${token}`, until: Date.now() + TOKEN_FILE_REFRESH_MS };
      } else {
        const credential = await runExec(source.exec, source.dir);
        cached = { value: `Bearer ${credential.token}`, until: credential.expires ?? Infinity };
      }
      return cached.value;
    },
    invalidate() {
      cached = null;
    },
  };
}

function explicitConnection(options: KubernetesConnectionOptions): KubernetesConnection {
  const server = serverUrl(options.apiServer!, 'apiServer');
  if (options.token !== undefined && options.tokenFile !== undefined) fail('give token or tokenFile, not both');
  const ca = options.ca !== undefined ? Buffer.from(options.ca) : options.caFile !== undefined ? readFile(options.caFile, 'CA file') : undefined;
  const source: TokenSource = options.token !== undefined ? { t: 'fixed', token: options.token } : options.tokenFile !== undefined ? { t: 'file', file: options.tokenFile } : { t: 'none' };
  return connection(
    server,
    { ...(ca && { ca }), rejectUnauthorized: options.insecureSkipTlsVerify !== true },
    options.namespace ?? 'default',
    `kubernetes API ${server.origin}`,
    source,
  );
}

function inClusterConnection(options: KubernetesConnectionOptions): KubernetesConnection {
  const host = process.env['KUBERNETES_SERVICE_HOST']!;
  const port = process.env['KUBERNETES_SERVICE_PORT'] || '443';
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const server = serverUrl(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, '$KUBERNETES_SERVICE_HOST/_PORT');
  const ca = readFile(path.join(dir, 'ca.crt'), 'service-account CA');
  readFile(path.join(dir, 'token'), 'service-account token'); // fail now, not at the first request
  let namespace = options.namespace;
  if (namespace === undefined) {
    try {
      namespace = readFileSync(path.join(dir, 'namespace'), 'utf8').trim() || 'default';
    } catch {
      namespace = 'default';
    }
  }
  return connection(server, { ca, rejectUnauthorized: true }, namespace, `kubernetes API ${server.origin} (in-cluster)`, { t: 'file', file: path.join(dir, 'token') });
}

/** The parts of a kubeconfig grpc-ha reads. */
interface KubeconfigFile {
  readonly 'current-context'?: string;
  readonly clusters?: readonly { name: string; cluster?: Record<string, unknown> }[];
  readonly users?: readonly { name: string; user?: Record<string, unknown> }[];
  readonly contexts?: readonly { name: string; context?: { cluster?: string; user?: string; namespace?: string } }[];
}

/** An exec credential plugin: client.authentication.k8s.io ExecConfig. */
interface ExecConfig {
  readonly command: string;
  readonly args?: readonly string[];
  readonly env?: readonly { name: string; value: string }[];
  readonly apiVersion?: string;
}

function kubeconfigConnection(list: string, options: KubernetesConnectionOptions): KubernetesConnection {
  const files = list.split(path.delimiter).filter((f) => f !== '');
  const docs: { file: string; doc: KubeconfigFile }[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(file, 'utf8'));
    } catch (error) {
      fail(`kubeconfig ${file} is not YAML: ${(error as Error).message}`);
    }
    if (doc !== null && typeof doc === 'object') docs.push({ file, doc: doc as KubeconfigFile });
  }
  if (docs.length === 0) fail(`no kubeconfig found at ${files.join(', ')}`);
  // Merged as client-go merges: the first file to set a value or define a name wins.
  const first = <T>(pick: (d: KubeconfigFile) => T | undefined): { value: T; file: string } | undefined => {
    for (const { file, doc } of docs) {
      const value = pick(doc);
      if (value !== undefined) return { value, file };
    }
    return undefined;
  };
  const contextName = options.context ?? first((d) => d['current-context'] || undefined)?.value;
  if (!contextName) fail(`kubeconfig ${files.join(':')} has no current-context; pass { context }`);
  const context = first((d) => d.contexts?.find((c) => c.name === contextName)?.context)?.value;
  if (!context) fail(`kubeconfig has no context ${JSON.stringify(contextName)}`);
  const cluster = first((d) => d.clusters?.find((c) => c.name === context.cluster)?.cluster);
  if (!cluster) fail(`kubeconfig context ${contextName} names cluster ${JSON.stringify(context.cluster)}, which is not defined`);
  const user = context.user === undefined ? undefined : first((d) => d.users?.find((u) => u.name === context.user)?.user);
  const c = cluster.value;
  const u = user?.value ?? {};
  const relative = (file: string, base: string) => (path.isAbsolute(file) ? file : path.resolve(path.dirname(base), file));
  const material = (fields: Record<string, unknown>, base: string, name: string): Buffer | undefined => {
    const data = fields[`${name}-data`];
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    const file = fields[name];
    return typeof file === 'string' ? readFile(relative(file, base), name) : undefined;
  };
  if (typeof c['server'] !== 'string') fail(`kubeconfig cluster ${context.cluster} has no server`);
  const server = serverUrl(c['server'] as string, `kubeconfig cluster ${context.cluster} server`);
  const ca = material(c, cluster.file, 'certificate-authority');
  const cert = user ? material(u, user.file, 'client-certificate') : undefined;
  const key = user ? material(u, user.file, 'client-key') : undefined;
  if ((cert === undefined) !== (key === undefined)) fail(`kubeconfig user ${context.user} needs both client-certificate and client-key`);
  if (u['auth-provider'] !== undefined) {
    fail(`kubeconfig user ${context.user} uses an auth-provider plugin, which grpc-ha does not run; use a token, a client certificate or an exec plugin`);
  }
  let source: TokenSource = { t: 'none' };
  if (typeof u['token'] === 'string') source = { t: 'fixed', token: u['token'] };
  else if (typeof u['tokenFile'] === 'string') source = { t: 'file', file: relative(u['tokenFile'], user!.file) };
  else if (u['exec'] && typeof (u['exec'] as ExecConfig).command === 'string') source = { t: 'exec', exec: u['exec'] as ExecConfig, dir: path.dirname(user!.file) };
  else if (typeof u['username'] === 'string') source = { t: 'basic', header: `Basic ${Buffer.from(`${u['username']}:${String(u['password'] ?? '')}`).toString('base64')}` };
  const servername = typeof c['tls-server-name'] === 'string' ? c['tls-server-name'] : undefined;
  return connection(
    server,
    { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }), rejectUnauthorized: c['insecure-skip-tls-verify'] !== true, ...(servername && { servername }) },
    options.namespace ?? context.namespace ?? 'default',
    `kubernetes API ${server.origin} (kubeconfig context ${contextName})`,
    source,
  );
}

/** Runs an exec credential plugin and reads the token it prints (ExecCredential status). */
function runExec(exec: ExecConfig, dir: string): Promise<{ token: string; expires?: number }> {
  const command = exec.command.includes('/') && !path.isAbsolute(exec.command) ? path.resolve(dir, exec.command) : exec.command;
  const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
  const env = { ...process.env, ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])) };
  env['KUBERNETES_EXEC_INFO'] = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
  return new Promise((resolve, reject) => {
    execFile(command, [...(exec.args ?? [])], { env, timeout: 30_000, maxBuffer: 1 << 20 }, (error, stdout) => {
      if (error) {
        reject(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `k8s: exec credential plugin ${exec.command} failed: ${error.message}`, { cause: error }));
        return;
      }
      try {
        const status = (JSON.parse(stdout) as { status?: { token?: string; expirationTimestamp?: string } }).status;
        if (typeof status?.token !== 'string') throw new Error('its ExecCredential has no status.token (client certificates from plugins are not supported)');
        const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : NaN;
        resolve(Number.isFinite(expires) ? { token: status.token, expires } : { token: status.token });
      } catch (parseError) {
        reject(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `k8s: exec credential plugin ${exec.command}: ${(parseError as Error).message}`));
      }
    });
  });
}
