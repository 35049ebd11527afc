/**
 * `peak_ewma` (Finagle, Linkerd): power of two choices on latency EWMA × (in flight + 1).
 * Config: `{"peak_ewma": {"decayMs": 10000, "defaultRttMs": 1, "failurePenalty": 5}}`.
 */
import { z } from 'zod';
import { DEFAULT_EWMA, type EwmaSettings } from '../pickers/endpoint-load.js';
import { createPeakEwmaPicker } from '../pickers/peak-ewma-picker.js';
import { number, positive } from '../parse-config.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const PEAK_EWMA = 'peak_ewma';

function settings(p: Record<string, unknown>): EwmaSettings {
  return {
    decayMs: (p.decayMs as number | undefined) ?? DEFAULT_EWMA.decayMs,
    defaultRttMs: (p.defaultRttMs as number | undefined) ?? DEFAULT_EWMA.defaultRttMs,
    failurePenalty: (p.failurePenalty as number | undefined) ?? DEFAULT_EWMA.failurePenalty,
    sampleWindow: (p.sampleWindow as number | undefined) ?? DEFAULT_EWMA.sampleWindow,
  };
}

/** The `peak_ewma` policy. */
export const peakEwmaPolicy = definePolicy({
  name: PEAK_EWMA,
  createPicker: createPeakEwmaPicker,
  schema: z.object({
    decayMs: positive().optional(),
    defaultRttMs: number(0).optional(),
    failurePenalty: number(1).optional(),
    sampleWindow: number(1).optional(),
  }),
  toOptions: settings,
  ewmaSettings: settings,
});
