/** Helpers shared by the discovery tests: calls, polling with a deadline, captured logs. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import type { EchoClient, EchoReply } from '../../src/example/echo-service.js';
import { setDiscoveryLogger, type LogLevel } from '../../src/discovery/log.js';

/** One unary call; rejects with the ServiceError. */
export function unary(client: EchoClient, deadlineMs = 3000): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    client.unary({ message: 'hi' }, { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, reply) =>
      err ? reject(err) : resolve(reply!),
    ),
  );
}

/** Sends `calls` sequential unary calls; returns replies per server id (failures under "error"). */
export async function spread(client: EchoClient, calls: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < calls; i++) {
    let key: string;
    try {
      key = (await unary(client)).serverId;
    } catch {
      key = 'error';
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Polls `check` every `everyMs` until it returns true; fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 20): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await check()) return performance.now() - start;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

type LogLine = { level: LogLevel; message: string };

/** The captures in force: every discovery line goes to each (a file's extras and its contract rows capture at once). */
const captures = new Set<(line: LogLine) => void>();

/** Captures discovery log lines until `restore()`; also echoes errors when GRPC_HA_TEST_LOGS is set. */
export function captureLogs(): { lines: LogLine[]; restore(): void; has(level: LogLevel, re: RegExp): boolean } {
  const lines: LogLine[] = [];
  const sink = (line: LogLine) => lines.push(line);
  if (captures.size === 0) {
    setDiscoveryLogger((level, message) => {
      for (const capture of captures) capture({ level, message });
      if (process.env['GRPC_HA_TEST_LOGS']) console.error(`[${level}] ${message}`);
    });
  }
  captures.add(sink);
  return {
    lines,
    restore: () => {
      captures.delete(sink);
      if (captures.size === 0) setDiscoveryLogger(null);
    },
    has: (level, re) => lines.some((l) => l.level === level && re.test(l.message)),
  };
}

/** A fresh temporary directory, and its removal. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
