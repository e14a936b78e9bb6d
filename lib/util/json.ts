/**
 * Plain JSON values as the kit's configs and records are: deep merge and a readable deep difference. One
 * implementation for configs (strict merge of a preset with overrides), ablation overrides (merge of two partial
 * configs) and run records (what changed between a saved config and a requested one).
 */

/** A non-null, non-array object: the nodes a deep merge descends into. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Deep merge of `overrides` into a copy of `base`: nested objects merge, every other value of `overrides` wins,
 * `undefined` values are skipped.
 * @param onUnknown called for a key of `overrides` that `base` lacks, with its dotted path (to refuse typos);
 *   without it the key is added
 * @param path the dotted path of `base`, for onUnknown
 */
export function deepMerge<T extends object>(base: T, overrides: unknown, onUnknown?: (path: string, known: string[]) => void,
  path = ""): T {
  const out: Record<string, unknown> = JSON.parse(JSON.stringify(base));
  if (!isPlainObject(overrides)) return out as T;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const at = path ? `${path}.${key}` : key;
    if (!(key in out) && onUnknown) onUnknown(at, Object.keys(out));
    const cur = out[key];
    out[key] = isPlainObject(cur) && isPlainObject(value) ? deepMerge(cur, value, onUnknown, at) : value;
  }
  return out as T;
}

/** How jsonDiff names the two sides, e.g. ["checkpoint", "requested"]. */
export interface DiffOptions {
  /** dotted path of the values compared (prefixes every line) */
  prefix?: string;
  /** names of the two sides, printed after each value: `a (checkpoint) vs b (requested)` */
  labels?: [string, string];
}

/**
 * The leaves where two JSON values differ, one line each: `model.nCode: 64 vs 128` (or with labels
 * `model.nCode: 64 (checkpoint) vs 128 (requested)`). Objects are compared key by key, everything else (arrays
 * included) by its JSON text; a key missing on one side shows as undefined.
 */
export function jsonDiff(a: unknown, b: unknown, opts: DiffOptions = {}): string[] {
  const prefix = opts.prefix ?? "";
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => jsonDiff(a[k], b[k], { ...opts, prefix: prefix ? `${prefix}.${k}` : k }));
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const [la, lb] = opts.labels ? [` (${opts.labels[0]})`, ` (${opts.labels[1]})`] : ["", ""];
  return [`${prefix}: ${JSON.stringify(a)}${la} vs ${JSON.stringify(b)}${lb}`];
}
