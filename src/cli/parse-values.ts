/** Parsers for CLI option values: each rejects a bad value with a message naming the flag. */
import { InvalidArgumentError } from 'commander';

/** An integer in [min, max]. */
export function intIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer in [${min}, ${max}].`);
    return n;
  };
}

/** A number in [min, max]. */
export function numberIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !(n >= min && n <= max)) throw new InvalidArgumentError(`must be a number in [${min}, ${max}].`);
    return n;
  };
}

/**
 * A duration with its unit: "500ms", "2s", "1m". A bare number is refused: `--timeout 5` read as
 * milliseconds made a healthy server look unreachable, and read as seconds it would surprise
 * whoever meant milliseconds.
 */
export function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('must be a duration like 500ms, 2s or 1m.');
  if (m[2] === undefined) throw new InvalidArgumentError(`needs a unit: ${m[1]}s or ${m[1]}ms (a bare number is ambiguous).`);
  const value = Number(m[1]);
  return m[2] === 's' ? value * 1000 : m[2] === 'm' ? value * 60_000 : value;
}

/** A number of worker processes: an integer in [1, 256], or "auto" (one per core). */
export function workersValue(text: string): number | 'auto' {
  if (text.trim() === 'auto') return 'auto';
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('must be an integer in [1, 256] or auto.');
  return n;
}

/** A duration with its unit (see {@link durationMs}) in [minMs, maxMs]. */
export function durationIn(minMs: number, maxMs: number): (text: string) => number {
  const show = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
  return (text) => {
    const ms = durationMs(text);
    if (ms < minMs || ms > maxMs) throw new InvalidArgumentError(`must be between ${show(minMs)} and ${show(maxMs)}.`);
    return ms;
  };
}
