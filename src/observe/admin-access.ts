/**
 * Who may read a grpc-ha admin endpoint (the library's admin server and the proxy's admin port
 * follow these rules, implemented once here). It tells anyone who can reach it the topology of
 * the services, so: bound off loopback it requires a token, compared in constant time; without a
 * token it answers only requests whose Host names a loopback address or the bound host, so a web
 * page cannot reach it through a name it rebinds to 127.0.0.1 (DNS rebinding).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Whether `host` (an address or name, IPv6 without brackets) is a loopback one. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The one rule of every grpc-ha admin endpoint (the library's and the proxy's): bound off
 * loopback, it requires a token. The message when `host` needs a token and none is given, else null.
 */
export function adminTokenError(host: string, token: string | undefined): string | null {
  return isLoopback(host) || token ? null : `admin: token is required when host is ${host} (not a loopback address)`;
}

/** The host name of a Host header (port and IPv6 brackets removed), lowercased. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') >>> 0);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** SHA-256 of `s`: equal-length digests let timingSafeEqual compare tokens of any length in constant time. */
const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The checks of every admin request, for the admin server bound to `host`: its Host header (DNS
 * rebinding) and, with `token`, the token. Returns a function that answers a refused request
 * (403, 401) and returns false; `tokenFree` routes (liveness probes) skip the token.
 */
export function adminGuard(host: string, token: string | undefined): (req: IncomingMessage, res: ServerResponse, tokenFree?: boolean) => boolean {
  const expected = token === undefined ? undefined : digest(token);
  const bound = host.toLowerCase();
  return (req, res, tokenFree = false) => {
    if (expected === undefined) {
      // Without a token, only names of this machine's loopback or the bound address: a page
      // served from evil.example that rebinds its name to 127.0.0.1 sends Host: evil.example.
      const name = req.headers.host === undefined ? bound : hostName(req.headers.host);
      if (!isLoopback(name) && name !== bound) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end(`admin: Host ${JSON.stringify(req.headers.host)} is not an address this admin endpoint is bound to\n`);
        return false;
      }
      return true;
    }
    if (tokenFree) return true;
    const url = new URL(req.url ?? '/', 'http://admin');
    const given = url.searchParams.get('token') ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(digest(given), expected)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('a token is required: ?token= or Authorization: Bearer\n');
      return false;
    }
    return true;
  };
}
