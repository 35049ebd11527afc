/**
 * `ring_hash` (gRFC A42, with A76's `requestHashHeader`): consistent hashing on a request
 * metadata key. Config: `{"ring_hash": {"requestHashHeader": "x-user-id", "minRingSize": 1024, "maxRingSize": 4096}}`.
 *
 * It also takes `min_ring_size` / `max_ring_size`, the names `@grpc/grpc-js-xds` gives the
 * ring sizes of an xDS Cluster when it hands them to the policy registered as `ring_hash`: a
 * process that registers grpc-ha's policies after grpc-js-xds's gets this one for xDS clusters
 * too, and it must accept what the xDS client passes (the request hash then comes from the
 * route's hash policy, see picker-balancer.ts).
 */
import { z } from 'zod';
import { createRingHashPicker, RING_HASH_DEFAULTS, type RingHashOptions } from '../pickers/ring-hash-picker.js';
import { integer } from '../parse-config.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const RING_HASH = 'ring_hash';

/** "min_ring_size ... max_ring_size ... capped at 8M" - A42 */
const RING_SIZE_CAP = 8_388_608;

/** A ring size as grpc-js-xds passes it: the proto's UInt64Value as a decimal string ("1024"). */
const ringSizeText = () =>
  z.preprocess((v) => (typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : v), integer(1, RING_SIZE_CAP));

const headerRule = 'must be a lowercase metadata key (letters, digits, "-", "_", "."), not ending in "-bin"';

/** The `ring_hash` policy. */
export const ringHashPolicy = definePolicy({
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
      min_ring_size: ringSizeText().optional(),
      max_ring_size: ringSizeText().optional(),
    })
    .refine((p) => (p.minRingSize ?? p.min_ring_size ?? RING_HASH_DEFAULTS.minRingSize) <= (p.maxRingSize ?? p.max_ring_size ?? RING_HASH_DEFAULTS.maxRingSize), {
      error: 'must be >= minRingSize',
      path: ['maxRingSize'],
    }),
  toOptions: (p): RingHashOptions => ({
    minRingSize: (p.minRingSize as number | undefined) ?? (p.min_ring_size as number | undefined) ?? RING_HASH_DEFAULTS.minRingSize,
    maxRingSize: (p.maxRingSize as number | undefined) ?? (p.max_ring_size as number | undefined) ?? RING_HASH_DEFAULTS.maxRingSize,
  }),
  hashHeader: (p) => p.requestHashHeader as string | undefined,
  includeUnavailable: true,
});
