/**
 * Config validation at the edge: zod schemas, with errors turned into one line that names the
 * component, the field and the rule — `least_request: choiceCount must be an integer >= 2, got 1`.
 */
import { z } from 'zod';
import { ERROR_CODES, GrpcHaError } from './errors.js';

/** Validates `input` against `schema`; throws a GrpcHaError(INVALID_CONFIG) naming `component` and the field. */
export function parseConfig<S extends z.ZodType>(component: string, schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${component}: ${describeIssue(issue, input)}`, {
    cause: result.error,
  });
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const field = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = field ? ` in ${field}` : '';
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}${where}`;
  }
  const got = valueAt(input, issue.path);
  const subject = field || 'config';
  return `${subject} ${issue.message}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** An integer field with bounds; the message states the rule. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): z.ZodNumber {
  const rule = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer in [${min}, ${max}]`;
  return z.number({ error: rule }).int({ error: rule }).gte(min, { error: rule }).lte(max, { error: rule });
}

/** A finite number field with an inclusive lower bound (and optional upper bound). */
export function number(min: number, max = Number.MAX_VALUE): z.ZodNumber {
  const rule = max === Number.MAX_VALUE ? `must be a number >= ${min}` : `must be a number in [${min}, ${max}]`;
  return z.number({ error: rule }).gte(min, { error: rule }).lte(max, { error: rule });
}

/** A number field that must be strictly positive. */
export function positive(): z.ZodNumber {
  const rule = 'must be a number > 0';
  return z.number({ error: rule }).gt(0, { error: rule }).lte(Number.MAX_VALUE, { error: rule });
}
