/**
 * The picker the health layer puts over its child's picker: it applies slow start to what the
 * child picks, feeds call results to the outlier detector, and hands grpc-js the wrapped
 * subchannel ("Any load balancing policy that wraps subchannels must unwrap the subchannel in
 * the picker" - grpc-js subchannel-interface.ts).
 */
import { experimental, type Metadata, type status as Status } from '@grpc/grpc-js';
import type { PickerEnv } from '../core/pickers/picker.js';
import type { EndpointSetHealth } from '../core/health/endpoint-set-health.js';
import { slowStartPick } from '../core/health/slow-start.js';
import { HealthSubchannel } from './health-subchannel.js';
import { takeStreamMark } from './stream-calls.js';

/** Wraps a child picker; see the module comment. */
export class HealthPicker implements experimental.Picker {
  constructor(
    private readonly child: experimental.Picker,
    /** The channel's health model: the picker reads its ramp and feeds it call results. */
    private readonly health: EndpointSetHealth,
    private readonly env: PickerEnv,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    // Whatever the child (grpc-js's round_robin reads no mark), the mark is never sent.
    takeStreamMark(args.metadata);
    let result = this.child.pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    if (!(result.subchannel instanceof HealthSubchannel)) return result;
    const health = this.health;
    const rampUntil = health.rampUntil;
    if (rampUntil !== Number.NEGATIVE_INFINITY) {
      const now = this.env.now();
      if (now < rampUntil) {
        result = slowStartPick(
          result,
          () => {
            const again = this.child.pick(args);
            return again.pickResultType === experimental.PickResultType.COMPLETE && again.subchannel instanceof HealthSubchannel ? again : null;
          },
          (r) => {
            const endpoint = (r.subchannel as HealthSubchannel).endpoint;
            return endpoint === undefined ? 1 : health.factorOf(endpoint.key, now);
          },
          health.maxFactor(now),
          this.env.random,
        );
      }
    }
    const wrapper = result.subchannel as HealthSubchannel;
    const subchannel = wrapper.unwrap();
    const endpoint = wrapper.endpoint;
    if (!health.counting || endpoint === undefined) return { ...result, subchannel } as experimental.PickResult;
    const inner = result.onCallEnded;
    const key = endpoint.key;
    return {
      ...result,
      subchannel,
      onCallEnded: (code: Status, details: string, metadata: Metadata) => {
        health.recordResult(key, code);
        inner?.(code, details, metadata);
      },
    } as experimental.PickResult;
  }
}
