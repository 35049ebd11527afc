/**
 * Small builders for Envoy v3 messages in the JSON-like shape protobufjs encodes (field names as
 * in the .proto files, snake_case). `google.protobuf.Any` is written `{"@type": url, ...fields}`
 * (the proto3 JSON mapping of Any), which protobufjs encodes by looking the type up.
 */

/** The prefix of every type URL of the Envoy, xDS and protobuf messages used here. */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** A message packed into a `google.protobuf.Any`. */
export type TypedMessage = { readonly '@type': string } & Record<string, unknown>;

/** Packs `fields` as the message `typeName` ("envoy.config.cluster.v3.Cluster") into an Any. */
export function typed(typeName: string, fields: Record<string, unknown> = {}): TypedMessage {
  return { '@type': `${TYPE_URL_PREFIX}${typeName}`, ...fields };
}

/** A `google.protobuf.Duration` of `ms` milliseconds. */
export function duration(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** A `google.protobuf.UInt32Value` (and the other numeric wrappers). */
export function wrapped(value: number): { value: number } {
  return { value };
}

/**
 * A JSON value as `google.protobuf.Value`. The well-known types come from protobufjs's bundled
 * definitions, whose field names are camelCase (unlike the Envoy messages, loaded with keepCase).
 */
function toValue(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value as Record<string, unknown>) };
}

/** A JSON object as `google.protobuf.Struct` (what TypedStruct carries, gRFC A52). */
export function toStruct(json: Record<string, unknown>): { fields: Record<string, unknown> } {
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, toValue(v)])) };
}
