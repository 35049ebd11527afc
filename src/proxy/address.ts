/** `host:port` parsing for the proxy's listen addresses and backend targets. */
import { isIP } from 'node:net';

/** A parsed `host:port`. */
export interface HostPort {
  /** IP address or DNS name without brackets; '' in a listen address means every interface. */
  readonly host: string;
  /** TCP port, 0..65535 (0 only for listen addresses: an ephemeral port). */
  readonly port: number;
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/;

/** Parses `host:port` (`[v6]:port`; `:port` when `allowEmptyHost`); null when it is not one. */
export function parseHostPort(text: string, allowEmptyHost = false): HostPort | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return null;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (isIP(host) !== 6) return null;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host === '' ? !allowEmptyHost : isIP(host) !== 4 && !HOSTNAME.test(host)) return null;
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowEmptyHost)) return null;
  return { host, port };
}

/** `host:port`, bracketing IPv6. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
