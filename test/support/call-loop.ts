/**
 * Steady unary traffic for discovery tests: a few calls in flight until stopped (bounded in
 * time), with when each server first and last answered, and every failure kept.
 */
import type { ServiceError } from '@grpc/grpc-js';
import type { EchoClient } from '../../src/example/echo-service.js';

/** Replies of one server: count, and the first and last reply times (performance.now()). */
export interface ServerReplies {
  count: number;
  first: number;
  last: number;
}

/** A running loop. */
export interface CallLoop {
  /** Replies per server id. */
  readonly replies: Map<string, ServerReplies>;
  /** Failed calls, with their errors. */
  readonly failures: ServiceError[];
  /** Replies from `id` at or after `since` (performance.now()). */
  repliesSince(id: string, since: number): number;
  /** Stops sending and waits for the calls in flight. */
  stop(): Promise<void>;
}

/** Keeps `concurrency` calls in flight on `client` until stop() or `maxMs` (default 60 s). */
export function callLoop(client: EchoClient, options: { concurrency?: number; deadlineMs?: number; maxMs?: number } = {}): CallLoop {
  const replies = new Map<string, ServerReplies>();
  const times = new Map<string, number[]>();
  const failures: ServiceError[] = [];
  const until = performance.now() + (options.maxMs ?? 60_000);
  let running = true;
  const workers = Array.from({ length: options.concurrency ?? 2 }, async () => {
    while (running && performance.now() < until) {
      await new Promise<void>((resolve) =>
        client.unary({ message: 'loop' }, { deadline: Date.now() + (options.deadlineMs ?? 3000) }, (error, reply) => {
          const now = performance.now();
          if (error) failures.push(error);
          else {
            const id = reply!.serverId;
            const seen = replies.get(id);
            if (seen) {
              seen.count++;
              seen.last = now;
            } else replies.set(id, { count: 1, first: now, last: now });
            const list = times.get(id) ?? [];
            list.push(now);
            times.set(id, list);
          }
          resolve();
        }),
      );
    }
  });
  return {
    replies,
    failures,
    repliesSince: (id, since) => (times.get(id) ?? []).filter((t) => t >= since).length,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}
