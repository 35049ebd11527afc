/**
 * Long-lived streams through drains and stream age, with real backend processes and real signals:
 * on SIGTERM a stream's handler hears drainSignal and ends the stream itself; a handler that
 * ignores it leaves its client with UNAVAILABLE "server shutting down" (not CANCELLED, which
 * grpc-js's forceShutdown gives) once the grace ends; a maximum stream age ends streams the same
 * way, and reopenStream moves them onto an instance started after they opened.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { createClient } from '../src/client/create-client.js';
import { reopenStream } from '../src/client/reopen-stream.js';
import { spawnBackend, type BackendProcess } from '../src/example/backend-process.js';
import { EchoClient, type EchoReply } from '../src/example/echo-service.js';
import { waitFor } from './support/discovery.js';

/** One server stream, recorded: its replies (with when they came) and how it ended. */
function watch(client: EchoClient, message: string) {
  const replies: { message: string; at: number }[] = [];
  const call = client.serverStream({ message, count: 1_000_000 });
  const ended = new Promise<{ error: ServiceError | null; at: number }>((resolve) => {
    call.on('data', (r: EchoReply) => replies.push({ message: r.message, at: performance.now() }));
    call.on('error', (error: ServiceError) => resolve({ error, at: performance.now() }));
    call.on('end', () => resolve({ error: null, at: performance.now() }));
  });
  return { replies, ended, call };
}

/** Opens a stream on a new backend, SIGTERMs the backend once replies flow, and reports how the stream ended. */
async function sigtermWithOpenStream(options: Parameters<typeof spawnBackend>[0]) {
  const backend = await spawnBackend({ latencyMs: 20, ...options });
  const client = new EchoClient(backend.address, credentials.createInsecure());
  try {
    const stream = watch(client, 'w');
    await waitFor('the stream to flow', () => stream.replies.length >= 3);
    const t0 = performance.now();
    const exited = backend.stop('SIGTERM', 15_000);
    const { error, at } = await stream.ended;
    return { error, afterMs: at - t0, t0, replies: stream.replies, exitCode: await exited };
  } finally {
    client.close();
    await backend.stop('SIGKILL');
  }
}

describe('streams through a drain (real processes, SIGTERM)', () => {
  it('the handler hears drainSignal and ends its stream at once: a last reply, then UNAVAILABLE "server shutting down"', async () => {
    const { error, afterMs, replies, exitCode } = await sigtermWithOpenStream({ id: 'heeds', drainNoticeMs: 200, drainGraceMs: 8000 });
    assert.equal(error?.code, status.UNAVAILABLE, `ended with ${error?.code} ${error?.details}`);
    assert.match(error.details, /^server shutting down \(SIGTERM\); reconnect to another instance$/);
    assert.equal(replies.at(-1)?.message, 'w:end:drain', 'the handler sent its last reply');
    // Ended by the handler when the drain began, not by the server when the 8 s grace ended.
    assert.ok(afterMs < 4000, `the stream ended ${Math.round(afterMs)} ms after SIGTERM`);
    assert.equal(exitCode, 0);
  });

  it('a handler that ignores the drain keeps streaming through the grace, then its client gets UNAVAILABLE, not CANCELLED', async () => {
    const graceMs = 800;
    const { error, afterMs, t0, replies, exitCode } = await sigtermWithOpenStream({ id: 'ignores', drainNoticeMs: 0, drainGraceMs: graceMs, ignoreDrain: true });
    assert.equal(error?.code, status.UNAVAILABLE, `ended with ${error?.code} ${error?.details}`);
    assert.match(error.details, /^server shutting down \(SIGTERM\)/);
    assert.ok(afterMs >= graceMs * 0.9, `ended ${Math.round(afterMs)} ms after SIGTERM, before the ${graceMs} ms grace`);
    assert.ok(replies.some((r) => r.at > t0 + graceMs / 2), 'replies kept coming during the grace');
    assert.ok(!replies.some((r) => r.message.includes(':end:')), 'the handler did not end it');
    assert.equal(exitCode, 0);
  });
});

describe('maximum stream age', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-stream-age-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const registry = `file:///?dir=${encodeURIComponent(dir)}`;

  it('ends streams with UNAVAILABLE at their age, and reopenStream moves them onto an instance started later', async () => {
    const backends: BackendProcess[] = [];
    const start = async (id: string) => {
      const b = await spawnBackend({ id, service: 'aged', registry, latencyMs: 20, maxStreamAgeMs: 800 });
      backends.push(b);
      await b.registered;
    };
    await start('old');
    // round_robin: each reopen takes the next instance in turn, so some must land on the new one.
    const client = createClient(EchoClient, `file:///aged?dir=${encodeURIComponent(dir)}`, { policy: 'round_robin' });
    const stop = new AbortController();
    const servedBy = [new Set<string>(), new Set<string>(), new Set<string>(), new Set<string>()];
    const endings: string[] = [];
    const reopened: string[] = [];
    const loops = servedBy.map(async (seen, i) => {
      const stream = reopenStream(() => client.serverStream({ message: `s${i}`, count: 1_000_000 }), {
        signal: stop.signal,
        onReopen: (error) => reopened.push(`${error.code} ${error.details}`),
      });
      for await (const reply of stream) {
        seen.add(reply.serverId);
        if (reply.message.includes(':end:')) endings.push(reply.message);
      }
    });
    try {
      await waitFor('every stream on the old instance', () => servedBy.every((s) => s.has('old')), 5000);
      await start('new');
      await waitFor('a stream moved to the new instance', () => servedBy.some((s) => s.has('new')), 8000);
      stop.abort();
      await Promise.all(loops); // no loop threw: every end was reopened
      assert.ok(reopened.length >= 1);
      for (const r of reopened) assert.match(r, /^14 stream reached the server's maximum stream age \(\d+ ms\); open it again/);
      assert.ok(endings.every((m) => /^s\d:end:max-age$/.test(m)) && endings.length >= 1, `endings: ${endings.join(', ')}`);
    } finally {
      stop.abort();
      client.close();
      await Promise.all(backends.map((b) => b.stop('SIGKILL')));
    }
  });
});
