/**
 * The demo's scripted story: faults injected into the running backends at fixed fractions of the
 * run, each with a caption saying what should happen next, and the phases the summary reports.
 */
import type { BackendHealth } from './demo-view.js';
import type { BackendProcess } from './backend-process.js';

/** One step: at `at` × the duration, the run enters `phase`; `caption` is printed and `act` run. */
export interface StoryStep {
  /** When, as a fraction (0..1) of the duration. */
  readonly at: number;
  /** Name of the phase that starts here (a row of the summary). */
  readonly phase: string;
  /** What happens and what to watch for. */
  readonly caption: string;
  /** Injects the fault (or the recovery). */
  act(): void | Promise<void>;
}

/** What the story acts on, provided by the demo. */
export interface StoryCast {
  /** The backends started first, in order (at least 2). */
  readonly backends: readonly BackendProcess[];
  /** Latency the slow backend gets, ms. */
  readonly slowMs: number;
  /** The policy, named in the captions. */
  readonly policy: string;
  /** Updates the health the live view shows. */
  setHealth(id: string, health: BackendHealth): void;
  /** SIGKILLs a backend. */
  kill(backend: BackendProcess): Promise<void>;
  /** Starts and registers a new backend; resolves with its id. */
  startReplacement(): Promise<string>;
}

/** The name of the phase before the first step. */
export const FIRST_PHASE = 'steady';

/**
 * The story: the last backend gets slow; then it recovers and the second one reports
 * NOT_SERVING; then that one is SERVING again and the last one fails every call (outlier
 * detection ejects it); then it recovers and the first one is SIGKILLed; then a new one starts
 * and registers.
 */
export function storySteps(cast: StoryCast): StoryStep[] {
  const n = cast.backends.length;
  const slow = cast.backends[n - 1]!;
  const notServing = cast.backends[1 % n]!;
  const victim = cast.backends[0]!;
  return [
    {
      at: 0.15,
      phase: 'slow',
      caption:
        `${slow.id} gets slow (+${cast.slowMs} ms per call): ` +
        (cast.policy === 'peak_ewma' || cast.policy === 'least_request'
          ? `${cast.policy} moves traffic away from it`
          : `${cast.policy} does not weigh latency, its share stays (peak_ewma would move traffic away)`),
      act: () => slow.send(`latency ${cast.slowMs}`),
    },
    {
      at: 0.3,
      phase: 'not-serving',
      caption: `${slow.id} is fast again; ${notServing.id} reports NOT_SERVING: the client's health checks drain it, no call fails`,
      act: () => {
        slow.send('latency 1');
        notServing.send('serving false');
        cast.setHealth(notServing.id, 'NOT_SERVING');
      },
    },
    {
      at: 0.45,
      phase: 'errors',
      caption: `${notServing.id} is SERVING again; ${slow.id} fails every call (UNAVAILABLE): outlier detection ejects it after 5 in a row, retries hide the failures`,
      act: () => {
        notServing.send('serving true');
        cast.setHealth(notServing.id, 'SERVING');
        slow.send('fail 1');
      },
    },
    {
      at: 0.6,
      phase: 'killed',
      caption: `${slow.id} answers again (it returns when its ejection ends); ${victim.id} is killed (SIGKILL): calls in flight are retried on the others, the registry forgets it`,
      act: async () => {
        slow.send('fail 0');
        await cast.kill(victim);
      },
    },
    {
      at: 0.75,
      phase: 'replacement',
      caption: 'a new backend starts and registers in the registry: the client finds it and traffic reaches it',
      act: async () => {
        await cast.startReplacement();
      },
    },
  ];
}
