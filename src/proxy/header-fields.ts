/**
 * Header fields as the h2 engine hands them over: one flat `[name, value, name, value, ...]`
 * array per HEADERS block, in wire order (repeated names stay separate fields), read and edited
 * in place without building a map per call.
 */

/** The value of the first field called `name`, or undefined. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Sets the value of the first field called `name`; does nothing when there is none. */
export function setField(fields: string[], name: string, value: string): void {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === name) {
      fields[i + 1] = value;
      return;
    }
  }
}
