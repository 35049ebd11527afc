/**
 * `ring_hash` (gRFC A42, with A76's `requestHashHeader`): consistent hashing on a request
 * metadata key. Config: `{"ring_hash": {"requestHashHeader": "x-user-id", "minRingSize": 1024, "maxRingSize": 4096}}`.
 */
import { z } from 'zod';
import { createRingHashPicker, RING_HASH_DEFAULTS, type RingHashOptions } from '../pickers/ring-hash-picker.js';
import { integer } from '../parse-config.js';
import type { PolicyDefinition } from './policy-config.js';

/** The service config key. */
export const RING_HASH = 'ring_hash';

/** "min_ring_size ... max_ring_size ... capped at 8M" - A42 */
const RING_SIZE_CAP = 8_388_608;

const headerRule = 'must be a lowercase metadata key (letters, digits, "-", "_", "."), not ending in "-bin"';

/** The `ring_hash` policy. */
export const ringHashPolicy: PolicyDefinition<RingHashOptions> = {
  name: RING_HASH,
  createPicker: createRingHashPicker,
  schema: z
    .object({
      requestHashHeader: z
        .string({ error: headerRule })
        .regex(/^[a-z0-9_.-]+$/, { error: headerRule })
        .refine((h) => !h.endsWith('-bin'), { error: headerRule })
        .optional(),
      minRingSize: integer(1, RING_SIZE_CAP).optional(),
      maxRingSize: integer(1, RING_SIZE_CAP).optional(),
    })
    .refine((p) => (p.minRingSize ?? RING_HASH_DEFAULTS.minRingSize) <= (p.maxRingSize ?? RING_HASH_DEFAULTS.maxRingSize), {
      error: 'must be >= minRingSize',
      path: ['maxRingSize'],
    }),
  toOptions: (p) => ({
    minRingSize: (p.minRingSize as number | undefined) ?? RING_HASH_DEFAULTS.minRingSize,
    maxRingSize: (p.maxRingSize as number | undefined) ?? RING_HASH_DEFAULTS.maxRingSize,
  }),
  hashHeader: (p) => p.requestHashHeader as string | undefined,
  includeUnavailable: true,
};
