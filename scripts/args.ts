// Command-line flags shared by scripts/train.ts, eval.ts and sample.ts: `--name value`, `--name=value`,
// boolean `--name`, repeatable `--set section.field=value`. Unknown flags are errors that list the known ones.

export type FlagKind = "string" | "number" | "boolean" | "list";
export type FlagSpec = Record<string, { kind: FlagKind; help: string }>;
export type Flags = Record<string, string | number | boolean | string[] | undefined>;

/** Thrown for bad command lines; scripts print its message and the usage, then exit 2. */
export class UsageError extends Error {}

/** Parses argv (without node and the script) against `spec`. */
export function parseFlags(argv: string[], spec: FlagSpec): Flags {
  const out: Flags = {};
  for (const [k, s] of Object.entries(spec)) if (s.kind === "list") out[k] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: flags look like --name value`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown flag --${name}; known flags: ${Object.keys(spec).map((k) => `--${k}`).join(", ")}`);
    if (s.kind === "boolean") {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== "true" && v !== "false") throw new UsageError(`--${name} takes no value (or =true / =false), got ${JSON.stringify(v)}`);
        out[name] = v === "true";
      } else out[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length || argv[i + 1].startsWith("--")) throw new UsageError(`--${name} needs a value (${s.help})`);
      value = argv[++i];
    }
    if (s.kind === "number") {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(value)}`);
      out[name] = n;
    } else if (s.kind === "list") (out[name] as string[]).push(value);
    else out[name] = value;
  }
  return out;
}

/** "  --name   help" lines for the usage text. */
export function usageLines(spec: FlagSpec): string {
  const w = Math.max(...Object.keys(spec).map((k) => k.length)) + 4;
  return Object.entries(spec).map(([k, s]) => `  --${k.padEnd(w)}${s.help}`).join("\n");
}

/**
 * Applies `section.field=value` assignments to a config object in place. The field must exist; the value is
 * parsed as the field's current type (number, boolean true/false/1/0, or string).
 */
export function applySettings(cfg: object, assignments: string[]): void {
  for (const a of assignments) {
    const eq = a.indexOf("=");
    if (eq < 0) throw new UsageError(`--set ${JSON.stringify(a)} must look like section.field=value, e.g. train.lrMax=1e-3`);
    const key = a.slice(0, eq);
    const raw = a.slice(eq + 1);
    const parts = key.split(".");
    let obj = cfg as Record<string, unknown>;
    for (const p of parts.slice(0, -1)) {
      const next = obj[p];
      if (typeof next !== "object" || next === null) throw new UsageError(`--set ${key}: no config section ${JSON.stringify(p)}; sections: ${Object.keys(obj).filter((k) => typeof obj[k] === "object").join(", ")}`);
      obj = next as Record<string, unknown>;
    }
    const field = parts[parts.length - 1];
    if (!(field in obj) || typeof obj[field] === "object") {
      throw new UsageError(`--set ${key}: unknown field; fields here: ${Object.keys(obj).filter((k) => typeof obj[k] !== "object").join(", ")}`);
    }
    const cur = obj[field];
    if (typeof cur === "number") {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--set ${key}=${raw}: ${key} is a number`);
      obj[field] = n;
    } else if (typeof cur === "boolean") {
      if (!["true", "false", "1", "0"].includes(raw)) throw new UsageError(`--set ${key}=${raw}: ${key} is true or false`);
      obj[field] = raw === "true" || raw === "1";
    } else obj[field] = raw;
  }
}

/**
 * Runs a CLI's async main: an error prints `error: <message>` (plus the usage for a UsageError) and sets the exit
 * code (2 for usage errors, 1 otherwise).
 */
export function runMain(main: () => Promise<void>, usage: string): void {
  main().catch((e: Error) => {
    console.error(`error: ${e.message}`);
    if (e instanceof UsageError) console.error(usage);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  });
}
