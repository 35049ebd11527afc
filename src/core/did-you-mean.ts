/**
 * "Did you mean": the closest valid name to a mistyped one, for every error that names a set of
 * valid choices (policy names, config fields, option keys, URI schemes, CLI values). A name is
 * close when it differs only in case and separators (`peak-ewma` → `peak_ewma`, `deadlinems` →
 * `deadlineMs`), is a prefix of a valid name, even misspelt (`decay` → `decayMs`, `panicTreshold` → `panicThresholdPercent`), is one without its package
 * (`Inventory/GetStock` → `shop.Inventory/GetStock`), or is within a small edit
 * distance, an adjacent swap counting as one edit (`idempotant` → `idempotent`, `flie` → `file`).
 */

/** The valid name closest to `given`, or undefined when none is close enough to suggest. */
export function closestName(given: string, choices: readonly string[]): string | undefined {
  const key = normalise(given);
  if (key === '') return undefined;
  const same = choices.find((c) => normalise(c) === key);
  if (same !== undefined) return same;
  if (key.length >= 3) {
    const prefixed = choices.filter((c) => normalise(c).startsWith(key));
    if (prefixed.length === 1) return prefixed[0];
    // A name without its package: "Inventory/GetStock" for "shop.Inventory/GetStock".
    const suffixed = choices.filter((c) => normalise(c).endsWith(`.${key}`));
    if (suffixed.length === 1) return suffixed[0];
  }
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const choice of choices) {
    const c = normalise(choice);
    // A misspelt start of a longer name counts too: "panicTreshold" for "panicThresholdPercent".
    const start = key.length >= 4 ? Math.min(editDistance(key, c.slice(0, key.length)), editDistance(key, c.slice(0, key.length + 1))) : Infinity;
    const d = Math.min(editDistance(key, c), start);
    if (d < bestDistance) {
      best = choice;
      bestDistance = d;
    }
  }
  return best;
}

/** `; did you mean "x"?` for the closest valid name, or "" when none is close. */
export function didYouMean(given: string, choices: readonly string[]): string {
  const near = closestName(given, choices);
  return near === undefined ? '' : `; did you mean ${JSON.stringify(near)}?`;
}

/** The choices as a list for an error message: `"a", "b", "c"`. */
export function listChoices(choices: readonly string[]): string {
  return choices.map((c) => JSON.stringify(c)).join(', ');
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
