/**
 * The picker the health layer puts over its child's picker: it applies slow start to what the
 * child picks, feeds call results to the outlier detector, and hands grpc-js the wrapped
 * subchannel ("Any load balancing policy that wraps subchannels must unwrap the subchannel in
 * the picker" - grpc-js subchannel-interface.ts).
 */
import { experimental, type Metadata, type status as Status } from '@grpc/grpc-js';
import { HealthSubchannel, type EndpointHandle } from './health-subchannel.js';
import { slowStartFactor, slowStartPick, type SlowStartSettings } from '../core/health/slow-start.js';

/** What the picker reads from its layer; the layer owns and updates it, the picker only reads. */
export interface HealthPickerSource {
  /** Slow start settings, or null when off. */
  readonly slowStart: SlowStartSettings | null;
  /** While now < rampUntil some healthy endpoint is still ramping up. */
  readonly rampUntil: number;
  /** When the longest-healthy endpoint became healthy. */
  readonly oldestHealthySince: number;
  /** Whether call results are counted (outlier ejection is on). */
  readonly counting: boolean;
  /** Clock, ms. */
  now(): number;
  /** Uniform [0, 1). */
  random(): number;
  /** The slow start factor of `endpoint` at `now` (1 when it is not ramping). */
  factorOf(endpoint: EndpointHandle | undefined, now: number): number;
  /** Records the end of a call to `endpoint`. */
  recordResult(endpoint: EndpointHandle, code: Status): void;
}

/** Wraps a child picker; see the module comment. */
export class HealthPicker implements experimental.Picker {
  constructor(
    private readonly child: experimental.Picker,
    private readonly source: HealthPickerSource,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    let result = this.child.pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    if (!(result.subchannel instanceof HealthSubchannel)) return result;
    const source = this.source;
    const slowStart = source.slowStart;
    if (slowStart !== null) {
      const now = source.now();
      if (now < source.rampUntil) {
        const maxFactor = slowStartFactor(now - source.oldestHealthySince, slowStart);
        result = slowStartPick(
          result,
          () => {
            const again = this.child.pick(args);
            return again.pickResultType === experimental.PickResultType.COMPLETE && again.subchannel instanceof HealthSubchannel ? again : null;
          },
          (r) => source.factorOf((r.subchannel as HealthSubchannel).endpoint, now),
          maxFactor,
          () => source.random(),
        );
      }
    }
    const wrapper = result.subchannel as HealthSubchannel;
    const subchannel = wrapper.unwrap();
    const endpoint = wrapper.endpoint;
    if (!source.counting || endpoint === undefined) return { ...result, subchannel } as experimental.PickResult;
    const inner = result.onCallEnded;
    return {
      ...result,
      subchannel,
      onCallEnded: (code: Status, details: string, metadata: Metadata) => {
        source.recordResult(endpoint, code);
        inner?.(code, details, metadata);
      },
    } as experimental.PickResult;
  }
}
