/**
 * The worker processes of a proxy on workers: forked from one entry script with an IPC channel
 * (structured clone), configured before they get a connection, handed each accepted client
 * connection — to the worker holding the fewest, so that a worker started to replace a dead one
 * takes the new connections until it catches up — and replaced when one dies, without touching
 * the others. The primary (primary.ts) decides what they run; this file only keeps them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import type { FromWorker, ToWorker, WorkerState } from './worker-messages.js';

/** The number of workers `workers: N | auto` asks for: `auto` is the cores Node reports. */
export function workerCount(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/**
 * A worker's V8 young generation is capped at SEMI_SPACE_MB: by default it grows to 16 MiB per
 * semi-space under load (the whole proxy process then holds ~120-150 MB), while a proxy's garbage
 * is short-lived and small (a call's objects), so scavenges stay cheap at this size.
 * The primary's own flags go along (tests' and inspectors' flags do not); a --max-semi-space-size
 * given there wins.
 */
const SEMI_SPACE_MB = 2;

function workerExecArgv(): string[] {
  const inherited = process.execArgv.filter((a) => !a.startsWith('--test') && !a.startsWith('--experimental-test') && !a.startsWith('--inspect'));
  const given = inherited.some((a) => a.startsWith('--max-semi-space-size')) || /--max-semi-space-size/.test(process.env.NODE_OPTIONS ?? '');
  return given ? inherited : [...inherited, `--max-semi-space-size=${SEMI_SPACE_MB}`];
}

/** What the pool needs from the primary. */
export interface WorkerPoolOptions {
  /** The worker entry script (src/cli/proxy-worker.ts compiled). */
  readonly entry: string;
  /** The config message for a worker that starts, or for every worker after a reload. */
  readonly configMessage: (seq: number) => Extract<ToWorker, { t: 'config' }>;
  /** Call results a worker sent. */
  readonly onResults: (runs: Extract<FromWorker, { t: 'results' }>['runs']) => void;
  readonly log: (message: string) => void;
}

/** How long the primary waits for a worker to answer a config or a state request, ms. */
const ANSWER_TIMEOUT_MS = 10_000;
const STATE_TIMEOUT_MS = 1000;
/** A worker that dies within this of its start is restarted after a growing delay (crash loop), ms. */
const MIN_LIFE_MS = 2000;
const MAX_RESTART_DELAY_MS = 10_000;
/** Connections held while no worker is ready (at start, or while every worker restarts). */
const MAX_WAITING_CONNECTIONS = 4096;

/** One worker process as the pool sees it. */
class PoolWorker {
  /** Configured and taking connections. */
  ready = false;
  /** Client connections it reported, plus those handed to it since. */
  connections = 0;
  readonly startedAt = performance.now();
  /** Answers awaited, by sequence number. */
  readonly waiting = new Map<number, (message: FromWorker | null) => void>();

  constructor(readonly child: ChildProcess) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  send(message: ToWorker, handle?: Socket): boolean {
    if (!this.child.connected) return false;
    try {
      this.child.send(message, handle as never, { keepOpen: false }, () => {});
      return true;
    } catch {
      return false;
    }
  }
}

/** See the module comment. */
export class WorkerPool {
  private readonly workers = new Set<PoolWorker>();
  private size: number;
  private seq = 0;
  private stopping = false;
  private crashes = 0;
  private turn = 0;
  private readonly waitingConnections: { socket: Socket; listener: number }[] = [];

  constructor(
    count: number,
    private readonly options: WorkerPoolOptions,
  ) {
    this.size = count;
  }

  /** Starts the workers; resolves once every one is configured, rejects if one fails to start. */
  async start(): Promise<void> {
    const started: Promise<void>[] = [];
    for (let i = 0; i < this.size; i++) started.push(this.spawn());
    await Promise.all(started);
  }

  /** Process ids of the live workers. */
  pids(): number[] {
    return [...this.workers].filter((w) => w.child.exitCode === null).map((w) => w.pid);
  }

  /** Hands a client connection accepted by listener generation `listener` to the least busy ready worker. */
  dispatch(socket: Socket, listener: number): void {
    const worker = this.leastBusy();
    if (worker === undefined) {
      if (this.waitingConnections.length >= MAX_WAITING_CONNECTIONS) socket.destroy();
      else this.waitingConnections.push({ socket, listener });
      return;
    }
    worker.connections++;
    if (!worker.send({ t: 'connection', listener }, socket)) socket.destroy();
  }

  /** Sends `message` to every ready worker. */
  broadcast(message: ToWorker): void {
    for (const w of this.workers) if (w.ready) w.send(message);
  }

  /** Sends the current config to every worker and waits for each to apply it; rejects naming the first that failed. */
  async configure(): Promise<void> {
    const answers = [...this.workers].filter((w) => w.ready).map((w) => this.configureOne(w));
    await Promise.all(answers);
  }

  /** Every ready worker's counters (those that do not answer within a second are left out). */
  async collect(): Promise<WorkerState[]> {
    const seq = ++this.seq;
    const answers = [...this.workers]
      .filter((w) => w.ready)
      .map((w) => this.ask(w, { t: 'state', seq }, STATE_TIMEOUT_MS).then((m) => (m?.t === 'state' ? m.state : null)));
    return (await Promise.all(answers)).filter((s): s is WorkerState => s !== null);
  }

  /** Changes the number of workers: starts more, or drains the newest ones. */
  resize(count: number, graceMs: number): void {
    this.size = count;
    const live = [...this.workers];
    for (let i = live.length; i < count; i++) void this.spawn().catch((error: unknown) => this.options.log((error as Error).message));
    for (const w of live.slice(count).reverse()) this.retire(w, graceMs);
  }

  /** Drains every worker (calls in flight get `graceMs`), kills those still alive after it, and resolves when all have exited. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const { socket } of this.waitingConnections.splice(0)) socket.destroy();
    await Promise.all([...this.workers].map((w) => this.retire(w, graceMs)));
  }

  private retire(w: PoolWorker, graceMs: number): Promise<void> {
    this.workers.delete(w);
    w.ready = false;
    if (w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
    if (!w.send({ t: 'drain', graceMs })) w.child.kill('SIGTERM');
    const timer = setTimeout(() => w.child.kill('SIGKILL'), graceMs + 2000);
    return exited.finally(() => clearTimeout(timer));
  }

  private leastBusy(): PoolWorker | undefined {
    const ready = [...this.workers].filter((w) => w.ready);
    if (ready.length === 0) return undefined;
    // Fewest connections; among equals, take turns.
    this.turn = (this.turn + 1) % ready.length;
    let best: PoolWorker | undefined;
    for (let i = 0; i < ready.length; i++) {
      const w = ready[(this.turn + i) % ready.length]!;
      if (best === undefined || w.connections < best.connections) best = w;
    }
    return best;
  }

  private spawn(): Promise<void> {
    const child = fork(this.options.entry, [], {
      serialization: 'advanced',
      // stdout carries the proxy's JSON events: workers write only to stderr.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: workerExecArgv(),
    });
    const worker = new PoolWorker(child);
    this.workers.add(worker);
    return new Promise<void>((resolve, reject) => {
      let configured = false;
      child.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'ready':
            this.configureOne(worker).then(
              () => {
                configured = true;
                worker.ready = true;
                this.flushWaiting();
                resolve();
              },
              (error: unknown) => {
                reject(error as Error);
                child.kill('SIGKILL');
              },
            );
            break;
          case 'results':
            this.options.onResults(m.runs);
            break;
          case 'connections':
            worker.connections = m.open;
            break;
          default:
            if ('seq' in m) {
              const answer = worker.waiting.get(m.seq);
              worker.waiting.delete(m.seq);
              answer?.(m);
            }
        }
      });
      child.once('exit', (code, signal) => {
        for (const answer of worker.waiting.values()) answer(null);
        worker.waiting.clear();
        const wasMember = this.workers.delete(worker);
        if (!configured) reject(new Error(`proxy worker exited (${signal ?? code}) before it was configured`));
        if (this.stopping || !wasMember) return;
        const lived = performance.now() - worker.startedAt;
        this.crashes = lived < MIN_LIFE_MS ? this.crashes + 1 : 0;
        const delay = this.crashes === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** this.crashes);
        this.options.log(`worker ${worker.pid} exited (${signal ?? `code ${code}`}); starting another${delay > 0 ? ` in ${delay} ms` : ''}`);
        const timer = setTimeout(() => {
          if (!this.stopping && this.workers.size < this.size) void this.spawn().catch((error: unknown) => this.options.log((error as Error).message));
        }, delay);
        timer.unref();
      });
    });
  }

  private async configureOne(worker: PoolWorker): Promise<void> {
    const seq = ++this.seq;
    const answer = await this.ask(worker, this.options.configMessage(seq), ANSWER_TIMEOUT_MS);
    if (answer === null) throw new Error(`proxy worker ${worker.pid} did not take the config`);
    if (answer.t === 'configured' && answer.error !== undefined) throw new Error(`proxy worker ${worker.pid} rejected the config: ${answer.error}`);
  }

  private ask(worker: PoolWorker, message: ToWorker & { seq: number }, timeoutMs: number): Promise<FromWorker | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        worker.waiting.delete(message.seq);
        resolve(null);
      }, timeoutMs);
      worker.waiting.set(message.seq, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      if (!worker.send(message)) {
        clearTimeout(timer);
        worker.waiting.delete(message.seq);
        resolve(null);
      }
    });
  }

  private flushWaiting(): void {
    for (const { socket, listener } of this.waitingConnections.splice(0)) this.dispatch(socket, listener);
  }
}
