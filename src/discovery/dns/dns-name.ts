/**
 * What an `ha-dns:` target names, parsed once: `name:port` is looked up as A and AAAA records
 * (every address gets the port), a bare `name` as SRV records (they carry the ports and
 * weights), an IP literal is itself. The target's authority is the DNS server to ask, as in
 * gRPC's naming doc (doc/naming.md: "dns:[//authority/]host[:port]").
 */
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';
import { formatAddress, ipVersion, splitAddress, type HostPort } from '../../core/address.js';

/** A parsed DNS name: what to query. A tagged union with one `t`. */
export type DnsName =
  | { readonly t: 'ip'; readonly address: string }
  | { readonly t: 'host'; readonly host: string; readonly port: number }
  | { readonly t: 'srv'; readonly name: string };

const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** The default DNS port. */
export const DNS_PORT = 53;

/** Parses the name part of an `ha-dns:` target; throws GrpcHaError(INVALID_ADDRESS) saying what is wrong. */
export function parseDnsName(text: string): DnsName {
  const fail = (rule: string): never => {
    throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `ha-dns name ${JSON.stringify(text)}: ${rule}`);
  };
  const hostPort = splitAddress(text);
  if (hostPort) {
    return ipVersion(hostPort.host) === 0
      ? { t: 'host', host: hostPort.host, port: hostPort.port }
      : { t: 'ip', address: formatAddress(hostPort.host, hostPort.port) };
  }
  const withPort = /^(.*):(\d*)$/.exec(text);
  if (withPort && (HOSTNAME.test(withPort[1]!) || ipVersion(withPort[1]!.replace(/^\[|\]$/g, '')) !== 0)) fail('the port must be in 1..65535');
  // SRV owner names have underscore labels (_grpc._tcp.echo.example.com, RFC 2782), which the
  // host-name rule of splitAddress refuses.
  if (!HOSTNAME.test(text) || ipVersion(text) !== 0) {
    fail('must be host:port (A/AAAA records, every address on that port) or an SRV name such as _grpc._tcp.echo.example.com');
  }
  return { t: 'srv', name: text };
}

/** The DNS server a target's authority names (`127.0.0.1:5353`, `[::1]`, `10.0.0.10`); port 53 by default. */
export function parseDnsServer(authority: string): HostPort {
  if (ipVersion(authority) === 6) return { host: authority, port: DNS_PORT }; // as dns.getServers() lists IPv6 servers on port 53
  const withPort = authority.startsWith('[') ? (authority.includes(']:') ? authority : `${authority}:${DNS_PORT}`) : authority.includes(':') ? authority : `${authority}:${DNS_PORT}`;
  const parsed = splitAddress(withPort);
  if (!parsed || ipVersion(parsed.host) === 0) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_ADDRESS,
      `ha-dns server ${JSON.stringify(authority)} must be an IP address with an optional port (127.0.0.1:5353, [::1]:53); DNS names cannot name the server that resolves them`,
    );
  }
  return parsed;
}

/** The :authority calls carry by default: the host, the SRV name without its `_service._proto.` labels, or the IP. */
export function dnsDefaultAuthority(name: DnsName): string {
  switch (name.t) {
    case 'ip':
      return name.address;
    case 'host':
      return `${name.host}:${name.port}`;
    case 'srv':
      return name.name.replace(/^(?:_[^.]+\.){1,2}/, '').replace(/\.$/, '');
  }
}
