/**
 * Config validation at the edge: zod schemas, with errors turned into one line that names the
 * component, the field and the rule — `least_request: choiceCount must be an integer >= 2, got 1`.
 */
import { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { ERROR_CODES, GrpcHaError } from './errors.js';

/** Validates `input` against `schema`; throws a GrpcHaError(INVALID_CONFIG) naming `component` and the field. */
export function parseConfig<S extends z.ZodType>(component: string, schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${component}: ${describeIssues(result.error.issues, schema, input)}`, {
    cause: result.error,
  });
}

/**
 * One line for the issue that explains the others: a misspelt field first (it is usually why a
 * required one is missing), and inside a union the branch the input was meant for.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, input: unknown, prefix: readonly PropertyKey[] = []): string {
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // The branch whose issues are not "this is not even my type" is the one the input was written for.
    const meant = issue.errors.find((branch) => !branch.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')));
    if (meant && meant.length > 0) return describeIssues(meant, schema, input, path);
  }
  const field = path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = field ? ` in ${field}` : '';
    const valid = objectKeysAt(schema, path);
    const hint = issue.keys.length === 1 && valid ? didYouMean(issue.keys[0]!, valid) : '';
    const list = valid ? ` (${field ? `${field} takes` : 'valid fields:'} ${valid.join(', ')})` : '';
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}${where}${hint}${list}`;
  }
  const got = valueAt(input, path);
  const subject = field || 'config';
  return `${subject} ${issue.message}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`;
}

/** The field names of the object schema at `path` inside `schema`, when there is one. */
export function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: z.ZodType | undefined = unwrap(schema);
  for (const key of path) {
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(key)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else return undefined;
    s = s === undefined ? undefined : unwrap(s);
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
}

/** Looks through optional, nullable, default and pipe wrappers, and into the object branch of a union. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (true) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else if (s instanceof z.ZodUnion) {
      const object = (s.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject);
      if (!object) return s;
      s = object;
    } else return s;
  }
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
