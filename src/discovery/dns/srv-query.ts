/**
 * SRV lookups with their TTLs. Node's resolver (c-ares) returns TTLs for A and AAAA records
 * (`{ ttl: true }`) but not for SRV, so SRV questions are asked here: encoded and decoded by
 * `dns-packet`, sent over UDP (node:dgram) with an EDNS0 buffer of 1232 bytes (the DNS flag day
 * 2020 size, which avoids IP fragmentation), and asked again over TCP when the answer comes back
 * truncated ("TC ... the client SHOULD retry the query over TCP", RFC 7766 §5). The servers are
 * tried in order, `tries` rounds, each attempt bounded by `timeoutMs`.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import packet from 'dns-packet';
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';
import { formatAddress, ipVersion, type HostPort } from '../../core/address.js';

/** One SRV record (RFC 2782). */
export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  /** The target host name, without a trailing dot. */
  readonly target: string;
}

/** An address record from the answer's additional section (servers add the targets' A/AAAA). */
export interface AddressRecord {
  readonly address: string;
  readonly ttl: number;
}

/** The answer to an SRV question: records with their smallest TTL, or none (NXDOMAIN, NODATA). */
export type SrvAnswer =
  | { readonly t: 'records'; readonly records: readonly SrvRecord[]; readonly ttlS: number; readonly additional: ReadonlyMap<string, readonly AddressRecord[]> }
  | { readonly t: 'none'; readonly ttlS: number | undefined };

/** How hard to try. */
export interface QueryLimits {
  /** Per attempt, ms. */
  readonly timeoutMs: number;
  /** Rounds over the servers. */
  readonly tries: number;
}

/** EDNS0 UDP payload size: "1232 bytes ... the default for DNS Flag Day 2020". */
const EDNS_PAYLOAD = 1232;

/** Asks `servers` for the SRV records of `name`; throws GrpcHaError(REGISTRY_UNAVAILABLE) when none answers. */
export async function querySrv(name: string, servers: readonly HostPort[], limits: QueryLimits): Promise<SrvAnswer> {
  if (servers.length === 0) throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `no DNS server to ask for ${name}`);
  let lastError: unknown;
  for (let attempt = 0; attempt < limits.tries; attempt++) {
    for (const server of servers) {
      try {
        let response = await exchangeUdp(name, server, limits.timeoutMs);
        if (response.flag_tc) response = await exchangeTcp(name, server, limits.timeoutMs);
        return interpret(name, response, server);
      } catch (error) {
        lastError = error;
      }
    }
  }
  throw GrpcHaError.from(lastError, ERROR_CODES.REGISTRY_UNAVAILABLE);
}

function question(name: string, id: number): packet.Packet {
  return {
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type: 'SRV', name }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD, flags: 0 } as unknown as packet.Answer],
  };
}

function where(server: HostPort): string {
  return `DNS server ${formatAddress(server.host, server.port)}`;
}

/** Whether `response` answers our question (same id and name): anything else on the socket is ignored. */
function answers(response: packet.DecodedPacket, id: number, name: string): boolean {
  return response.id === id && response.type === 'response' && response.questions?.[0]?.name.toLowerCase() === name.replace(/\.$/, '').toLowerCase();
}

function exchangeUdp(name: string, server: HostPort, timeoutMs: number): Promise<packet.DecodedPacket> {
  const id = randomInt(0x10000);
  return new Promise((resolve, reject) => {
    // A connected socket hears ICMP port-unreachable as ECONNREFUSED: a dead server fails fast.
    const socket = dgram.createSocket(ipVersion(server.host) === 6 ? 'udp6' : 'udp4');
    const timer = setTimeout(() => finish(new Error(`${where(server)} did not answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | null, response?: packet.DecodedPacket) => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, error.message, { cause: error }));
      else resolve(response!);
    };
    socket.on('error', (error) => finish(new Error(`${where(server)}: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    socket.on('message', (message) => {
      let response: packet.DecodedPacket;
      try {
        response = packet.decode(message);
      } catch {
        return; // garbage: keep waiting for the real answer
      }
      if (answers(response, id, name)) finish(null, response);
    });
    socket.connect(server.port, server.host, () => socket.send(packet.encode(question(name, id))));
  });
}

function exchangeTcp(name: string, server: HostPort, timeoutMs: number): Promise<packet.DecodedPacket> {
  const id = randomInt(0x10000);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`${where(server)} did not answer over TCP within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | null, response?: packet.DecodedPacket) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, error.message, { cause: error }));
      else resolve(response!);
    };
    socket.on('error', (error) => finish(new Error(`${where(server)} over TCP: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    socket.on('connect', () => socket.write(packet.streamEncode(question(name, id))));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // RFC 1035 §4.2.2: a two-byte length, then the message.
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      try {
        const response = packet.decode(received.subarray(2, 2 + received.readUInt16BE(0)));
        if (answers(response, id, name)) finish(null, response);
        else finish(new Error(`${where(server)} answered another question over TCP`));
      } catch (error) {
        finish(new Error(`${where(server)} sent an undecodable answer: ${(error as Error).message}`));
      }
    });
  });
}

function interpret(name: string, response: packet.DecodedPacket, server: HostPort): SrvAnswer {
  const rcode = (response as { rcode?: string }).rcode ?? 'NOERROR';
  // RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA MINIMUM).
  const soa = response.authorities?.find((a): a is packet.SoaAnswer => a.type === 'SOA');
  const negativeTtl = soa ? Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0) : undefined;
  if (rcode === 'NXDOMAIN') return { t: 'none', ttlS: negativeTtl };
  if (rcode !== 'NOERROR') throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${where(server)} answered ${rcode} for ${name}`);
  const srv = (response.answers ?? []).filter((a): a is packet.SrvAnswer => a.type === 'SRV');
  if (srv.length === 0) return { t: 'none', ttlS: negativeTtl };
  const additional = new Map<string, AddressRecord[]>();
  for (const record of response.additionals ?? []) {
    if (record.type !== 'A' && record.type !== 'AAAA') continue;
    const key = record.name.toLowerCase().replace(/\.$/, '');
    const list = additional.get(key) ?? [];
    list.push({ address: record.data, ttl: record.ttl ?? 0 });
    additional.set(key, list);
  }
  return {
    t: 'records',
    records: srv.map((a) => ({ priority: a.data.priority ?? 0, weight: a.data.weight ?? 0, port: a.data.port, target: a.data.target.replace(/\.$/, '') })),
    ttlS: Math.min(...srv.map((a) => a.ttl ?? 0)),
    additional,
  };
}
