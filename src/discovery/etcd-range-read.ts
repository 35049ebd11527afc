/**
 * Reads one etcd key or prefix in pages, so a listing larger than one gRPC message (4 MiB by
 * default in grpc-js; etcd answers a Range in one message) still works — the way clientv3 users
 * and Kubernetes' apiserver page etcd: each Range asks for at most `limit` keys from the key after
 * the last one read, at the revision of the first page ("revision: point-in-time of the key-value
 * store to use for the range", etcd API), so the pages form one consistent snapshot. The page
 * size adapts to the values' size, aiming at PAGE_TARGET_BYTES per answer; an answer that still
 * overflows the receive limit is asked again with a quarter of the keys. Only a single value
 * larger than the receive limit is an error, and it says so.
 */
import { status as Status } from '@grpc/grpc-js';
import { GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError, GRPCCancelledError, EtcdWatchStreamEnded, Range, type Etcd3 } from 'etcd3';

/** One key read: its value and the revision that last modified it. */
export interface KvEntry {
  readonly value: string;
  readonly mod: number;
}

/** A consistent listing: every key of the range at one revision. */
export interface RangeListing {
  readonly revision: number;
  readonly kvs: Map<string, KvEntry>;
}

/** What a range read is. */
export type EtcdRange = { readonly prefix: string } | { readonly key: string };

/** Bytes one page aims at: a quarter of grpc-js's default 4 MiB receive limit. */
const PAGE_TARGET_BYTES = 1 << 20;
/** Keys per page at first and at most. */
const FIRST_PAGE_KEYS = 500;
const MAX_PAGE_KEYS = 10_000;

/** Reads `range` in pages; keeps its learnt page size across calls. */
export class EtcdRangeReader {
  private limit = FIRST_PAGE_KEYS;

  constructor(
    private readonly client: Etcd3,
    private readonly range: EtcdRange,
    /** The client's receive limit, for the message of a value that exceeds it. */
    private readonly maxReceiveBytes: number,
  ) {}

  /** Lists the range. */
  async read(): Promise<RangeListing> {
    if ('key' in this.range) {
      const response = await this.client.kv.range({ key: Buffer.from(this.range.key) });
      return { revision: Number(response.header.revision), kvs: new Map(response.kvs.map((kv) => [kv.key.toString(), entryOf(kv)])) };
    }
    const { start, end } = Range.prefix(this.range.prefix);
    const kvs = new Map<string, KvEntry>();
    let revision = 0;
    let from = start;
    for (;;) {
      let response;
      try {
        response = await this.client.kv.range({ key: from, range_end: end, limit: this.limit, ...(revision > 0 ? { revision } : {}) });
      } catch (error) {
        // grpc-js's own limit ("Received message larger than max (N vs M)"), not etcd's quota errors.
        if (!(error instanceof GRPCResourceExhastedError) || !/larger than max/.test(error.message)) throw error;
        if (this.limit === 1) {
          throw new Error(
            `a value under ${JSON.stringify(this.range.prefix)} is larger than the client's receive limit of ${this.maxReceiveBytes} bytes (maxReceiveBytes): ${error.message}`,
            { cause: error },
          );
        }
        this.limit = Math.max(1, Math.floor(this.limit / 4));
        continue;
      }
      if (revision === 0) revision = Number(response.header.revision);
      let bytes = 0;
      for (const kv of response.kvs) {
        kvs.set(kv.key.toString(), entryOf(kv));
        bytes += kv.key.length + kv.value.length;
      }
      if (response.kvs.length > 0) {
        const perKey = Math.max(1, bytes / response.kvs.length);
        this.limit = Math.min(MAX_PAGE_KEYS, Math.max(1, Math.floor(PAGE_TARGET_BYTES / perKey)));
      }
      if (!response.more || response.kvs.length === 0) return { revision, kvs };
      // The next page starts right after the last key: the key followed by a zero byte.
      from = Buffer.concat([response.kvs[response.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }
}

function entryOf(kv: { value: Buffer; mod_revision: string }): KvEntry {
  return { value: kv.value.toString(), mod: Number(kv.mod_revision) };
}

/** Whether an etcd call failed for want of an answer (down, hung, restarting), not because etcd refused it. */
export function etcdUnreachable(error: unknown): boolean {
  // The watch stream's errors come from grpc-js as they are, with a numeric status code.
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === Status.CANCELLED ||
    code === Status.DEADLINE_EXCEEDED ||
    code === Status.UNAVAILABLE ||
    error instanceof GRPCUnavailableError ||
    error instanceof GRPCDeadlineExceededError ||
    error instanceof GRPCCancelledError ||
    error instanceof EtcdWatchStreamEnded
  );
}
