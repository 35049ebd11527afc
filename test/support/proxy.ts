/**
 * Helpers shared by the proxy tests: an in-process proxy in front of real grpc-js servers, a
 * "raw" service whose handlers see bytes and metadata exactly as they arrive, Echo calls, and a
 * bare HTTP/2 frame writer for the robustness cases no well-behaved client can produce.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { EchoClient, type EchoReply } from '../../src/example/echo-service.js';
import { parseProxyConfig, type ProxyConfigInput } from '../../src/proxy/proxy-config.js';
import { startProxy, type Proxy } from '../../src/proxy/proxy.js';

/** Message size limit the tests raise everywhere (16 MiB messages plus framing). */
export const BIG = 64 * 1024 * 1024;
/** grpc-js options for big messages. */
export const BIG_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': BIG,
  'grpc.max_send_message_length': BIG,
};

/** Starts a proxy for `config` on 127.0.0.1:0 with the admin endpoint off unless asked; logs are kept. */
export async function proxyFor(config: Omit<ProxyConfigInput, 'listen'> & { listen?: string }, logs: string[] = []): Promise<Proxy> {
  return startProxy(parseProxyConfig({ listen: '127.0.0.1:0', admin: { listen: 'off' }, ...config }), { log: (m) => logs.push(m) });
}

/** An Echo client through the proxy. */
export function echoClient(proxy: Proxy, options: grpc.ChannelOptions = {}): EchoClient {
  return new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure(), { ...BIG_OPTIONS, ...options });
}

/** One Echo unary call. */
export function unary(client: EchoClient, request: { message?: string; payload?: Buffer } = { message: 'hi' }, options: { deadlineMs?: number; metadata?: grpc.Metadata } = {}): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    client.unary(request, options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + (options.deadlineMs ?? 5000) }, (err: grpc.ServiceError | null, r) =>
      err ? reject(err) : resolve(r!),
    ),
  );
}

/** The error a promise rejects with (fails if it resolves). */
export async function rejection<T>(p: Promise<T>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

const identity = (b: Buffer) => b;
const rawMethod = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

/** A byte-level service: requests and replies are the raw message bytes. */
export const RAW_SERVICE = {
  unary: rawMethod('/test.raw.v1.Raw/Unary', false, false),
  serverStream: rawMethod('/test.raw.v1.Raw/ServerStream', false, true),
  bidi: rawMethod('/test.raw.v1.Raw/Bidi', true, true),
} as const;

/** A client of {@link RAW_SERVICE}. */
export const RawClient = grpc.makeGenericClientConstructor(RAW_SERVICE, 'Raw');
/** An instance of {@link RawClient}. */
export type RawClientInstance = InstanceType<typeof RawClient> & Record<string, (...args: never[]) => unknown>;

/** Starts a grpc-js server on 127.0.0.1:0 with `handlers` for RAW_SERVICE; resolves with it and its address. */
export async function startRawServer(
  handlers: Partial<Record<keyof typeof RAW_SERVICE, grpc.UntypedHandleCall>>,
  credentials = grpc.ServerCredentials.createInsecure(),
): Promise<{ server: grpc.Server; address: string; stop(): Promise<void> }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': BIG, 'grpc.max_send_message_length': BIG });
  const unimplemented = (_call: unknown, cb?: (e: Partial<grpc.StatusObject>) => void) => cb?.({ code: grpc.status.UNIMPLEMENTED });
  server.addService(RAW_SERVICE, {
    unary: handlers.unary ?? unimplemented,
    serverStream: handlers.serverStream ?? unimplemented,
    bidi: handlers.bidi ?? unimplemented,
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    server,
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 200);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// --- bare HTTP/2 frames (RFC 9113 §4.1), for clients that misbehave on purpose ---

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types used by the tests. */
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;

/** One frame: 9-byte header then payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK header block of "literal header field without indexing — new name" entries (RFC 7541 §6.2.2), no Huffman. */
export function headerBlock(headers: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s, 'latin1');
    return Buffer.concat([hpackInt(b.length, 7, 0), b]);
  };
  for (const [name, value] of headers) parts.push(Buffer.from([0]), str(name), str(value));
  return Buffer.concat(parts);
}

function hpackInt(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value & 0x7f) | 0x80);
    value >>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** Request headers of a gRPC call to `path`. */
export function grpcRequestHeaders(path: string, extra: [string, string][] = []): [string, string][] {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ...extra,
  ];
}

/** A raw TCP connection that records every frame the proxy sends, and whether it closed. */
export class RawConnection {
  readonly frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  closed = false;
  private buffer = Buffer.alloc(0);
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + length) break;
        this.frames.push({
          type: this.buffer[3]!,
          flags: this.buffer[4]!,
          streamId: this.buffer.readUInt32BE(5) & 0x7fffffff,
          payload: this.buffer.subarray(9, 9 + length),
        });
        this.buffer = this.buffer.subarray(9 + length);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects to the proxy. */
  static async open(port: number): Promise<RawConnection> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  /** Writes bytes (ignored once closed). */
  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** The GOAWAY error code received, if any (RFC 9113 §6.8: last-stream-id, then error code). */
  goawayCode(): number | undefined {
    const g = this.frames.find((f) => f.type === FRAME.GOAWAY);
    return g ? g.payload.readUInt32BE(4) : undefined;
  }

  /** RST_STREAM error codes by stream id. */
  resets(): Map<number, number> {
    return new Map(this.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => [f.streamId, f.payload.readUInt32BE(0)]));
  }

  /** Closes the socket. */
  close(): void {
    this.socket.destroy();
  }
}

/** A unary caller of any `path` on `target`, messages as raw bytes (a method no .proto names). */
export function unaryCaller(target: string, path: string): { call(request: Buffer, deadlineMs?: number): Promise<Buffer>; close(): void } {
  const Client = grpc.makeGenericClientConstructor({ call: rawMethod(path, false, false) }, 'Any');
  const client = new Client(target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  return {
    call: (request, deadlineMs = 5000) =>
      new Promise((resolve, reject) =>
        client.call!(request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, reply?: Buffer) => (err ? reject(err) : resolve(reply!))),
      ),
    close: () => client.close(),
  };
}

/** What a steady client saw: calls made and why any failed. */
export interface SteadyResult {
  readonly calls: number;
  readonly failures: string[];
}

/**
 * A well-behaved client beside an attack: calls `call()` one after another, `periodMs` apart,
 * until `stop()`, which resolves with every failure it saw (an attack test asserts there is none).
 */
export function steadyClient(call: () => Promise<unknown>, periodMs = 20): { stop(): Promise<SteadyResult> } {
  let running = true;
  let calls = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      calls++;
      try {
        await call();
      } catch (error) {
        const e = error as grpc.ServiceError;
        failures.push(`${e.code ?? ''} ${e.details ?? e.message}`);
      }
      await new Promise((r) => setTimeout(r, periodMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { calls, failures };
    },
  };
}
