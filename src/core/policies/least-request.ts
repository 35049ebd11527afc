/**
 * `least_request` (gRFC A48): power of d choices over calls in flight, weights honoured as Envoy
 * does. Config: `{"least_request": {"choiceCount": 2, "activeRequestBias": 1.0}}`.
 */
import { z } from 'zod';
import { createLeastRequestPicker, LEAST_REQUEST_DEFAULTS, type LeastRequestOptions } from '../pickers/least-request-picker.js';
import { integer, number } from '../parse-config.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const LEAST_REQUEST = 'least_request';

/** "If choice_count < 2, the config will be rejected. [...] values greater than 10 will be treated as 10." - A48 */
const MAX_CHOICE_COUNT = 10;

/** The `least_request` policy. */
export const leastRequestPolicy = definePolicy({
  name: LEAST_REQUEST,
  createPicker: createLeastRequestPicker,
  schema: z.object({
    choiceCount: integer(2).optional(),
    activeRequestBias: number(0).optional(),
  }),
  toOptions: (p): LeastRequestOptions => ({
    choiceCount: Math.min((p.choiceCount as number | undefined) ?? LEAST_REQUEST_DEFAULTS.choiceCount, MAX_CHOICE_COUNT),
    activeRequestBias: (p.activeRequestBias as number | undefined) ?? LEAST_REQUEST_DEFAULTS.activeRequestBias,
  }),
});
