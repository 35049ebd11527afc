/** The hash ring_hash uses: XXH32 (xxhash-wasm), for ring positions and request keys alike. */
import xxhash from 'xxhash-wasm';

const api = await xxhash();

/** 32-bit xxHash of a string's UTF-8 bytes. */
export function hash32(input: string): number {
  return api.h32(input, 0) >>> 0;
}
