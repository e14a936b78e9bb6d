// Command lines of every scripts/*.ts CLI, through node:util parseArgs (strict: an unknown flag is an error).
// A command describes itself once (CommandSpec: usage, flags with meaning and default, examples); parseCommand
// answers --help / -h from that description and exits 0, and turns every parse failure into a UsageError whose
// message names the flag and the fix. Scripts print it with the usage line and exit 2 (runMain does this).
//
// Flag kinds: "string" (--name value or --name=value), "number" (the same, checked to be a finite number, and to
// be in the flag's range when its spec says so: `integer`, `min`, `above`, `max`), "boolean" (--name; --name=true / --name=false also work), "list" (a repeatable string, e.g. --set a=1 --set b=2).
import { parseArgs } from "node:util";
import { PROFILES, Profile } from "../lib/notebook/profiles";

export type FlagKind = "string" | "number" | "boolean" | "list";

export interface FlagDef {
  kind: FlagKind;
  /** what the flag means */
  help: string;
  /** the default as the user should read it ("test", "the run's own", ...); shown in --help */
  default?: string;
  /** placeholder of the value in --help (default: N for numbers, VALUE otherwise) */
  value?: string;
  /** one-letter alias, e.g. "h" for -h */
  short?: string;
  /** numbers: only whole numbers are allowed (counts, lengths, seeds) */
  integer?: boolean;
  /** numbers: the smallest value allowed */
  min?: number;
  /** numbers: the value must be greater than this (e.g. 0 for a time limit or nucleus p) */
  above?: number;
  /** numbers: the largest value allowed */
  max?: number;
}

export type FlagSpec = Record<string, FlagDef>;
export type Flags = Record<string, string | number | boolean | string[] | undefined>;

/** What a command is and takes: the single source of its --help text and of its parsing. */
export interface CommandSpec {
  /** what the user types before `--`, e.g. "npm run train" */
  command: string;
  /** the arguments after `--` in the usage line, e.g. "--preset NAME --data NAME|FILE [flags]" */
  args: string;
  /** what the command does, one or two sentences */
  summary: string;
  /** positional arguments in order; without this list the command takes none */
  positionals?: Array<{ name: string; help: string }>;
  flags: FlagSpec;
  /** full command lines that work as written */
  examples: string[];
  /** extra paragraphs after the flags (exit codes, environment variables) */
  notes?: string[];
}

/** Thrown for bad command lines; scripts print its message and the usage, then exit 2. */
export class UsageError extends Error {}

const HELP_FLAG: FlagDef = { kind: "boolean", short: "h", help: "print this help and exit" };

/** A spec with --help / -h added (unless it has its own). */
function withHelp(spec: FlagSpec): FlagSpec {
  return "help" in spec ? spec : { ...spec, help: HELP_FLAG };
}

function knownFlags(spec: FlagSpec): string {
  return Object.keys(spec).map((k) => `--${k}`).join(", ");
}

/** Levenshtein distance, for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The choice closest to `value` (a prefix either way, or within an edit distance of a third of its length), if any. */
export function closestChoice(value: string, choices: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  const close = choices
    .map((k) => ({ k, d: k.toLowerCase().startsWith(v) || v.startsWith(k.toLowerCase()) ? 1 : editDistance(v, k.toLowerCase()) }))
    .filter((c) => c.d <= Math.max(1, Math.floor(value.length / 3)))
    .sort((a, b) => a.d - b.d);
  return close[0]?.k;
}

function suggestion(name: string, spec: FlagSpec): string {
  const close = closestChoice(name.replace(/^-+/, ""), Object.keys(spec));
  return close !== undefined ? `; did you mean --${close}?` : "";
}

/** The flag a parseArgs message is about ("Option '--out <value>' argument missing" → "out"). */
function optionIn(message: string): string | undefined {
  return /--([A-Za-z0-9][A-Za-z0-9_-]*)/.exec(message)?.[1];
}

/** Rewrites parseArgs' errors as UsageErrors that name the flag and say what to type instead. */
function usageErrorOf(e: unknown, spec: FlagSpec): UsageError {
  const err = e as { code?: string; message?: string };
  const message = err.message ?? String(e);
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const name = /'([^']+)'/.exec(message)?.[1] ?? message;
    const shown = name.startsWith("-") ? name : `--${name}`;
    return new UsageError(`unknown flag ${shown}; known flags: ${knownFlags(spec)}${suggestion(name, spec)}`);
  }
  if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = /'([^']*)'/.exec(message)?.[1] ?? "";
    return new UsageError(`unexpected argument ${JSON.stringify(arg)}: flags look like --name value (known flags: ${knownFlags(spec)})`);
  }
  if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const name = optionIn(message);
    const s = name === undefined ? undefined : spec[name];
    if (name !== undefined && s) {
      if (/does not take an argument/.test(message)) return new UsageError(`--${name} takes no value (or =true / =false)`);
      const hint = /ambiguous/.test(message) ? `; a value that starts with "-" is written --${name}=<value>` : "";
      return new UsageError(`--${name} needs a value: the ${s.help}${hint}`);
    }
  }
  return new UsageError(message);
}

/** "an integer ≥ 1", "a number in (0, 1]": the values a number flag allows, for its error message. */
export function rangeText(s: FlagDef): string {
  const what = s.integer ? "an integer" : "a number";
  const low = s.above !== undefined ? { v: s.above, open: true } : s.min !== undefined ? { v: s.min, open: false } : undefined;
  if (low && s.max !== undefined) return `${what} in ${low.open ? "(" : "["}${low.v}, ${s.max}]`;
  if (low) return `${what} ${low.open ? ">" : "≥"} ${low.v}`;
  if (s.max !== undefined) return `${what} ≤ ${s.max}`;
  return what;
}

/** Whether `n` is in the flag's range (integer, min, above, max). */
function inRange(n: number, s: FlagDef): boolean {
  return (!s.integer || Number.isInteger(n)) && (s.min === undefined || n >= s.min) &&
    (s.above === undefined || n > s.above) && (s.max === undefined || n <= s.max);
}

/**
 * Parses argv against `spec` with node:util parseArgs in strict mode.
 * @param argv the arguments after the script (process.argv.slice(2))
 * @param spec the flags
 * @param allowPositionals accept arguments that are not flags (returned in order)
 */
export function parseFlagsAndPositionals(argv: string[], spec: FlagSpec, allowPositionals = false): { flags: Flags; positionals: string[] } {
  // parseArgs has no "--name=false" for booleans: take "=true" / "=false" off before parsing.
  const args: string[] = [];
  const explicit: Record<string, boolean> = {};
  let afterTerminator = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") afterTerminator = true;
    // parseArgs reads "--tokens -100" as a flag without its value: a number flag takes a negative number as its
    // value, so that the range check below can name the flag and the values it allows
    const num = afterTerminator ? undefined : /^--(.+)$/.exec(a)?.[1];
    if (num !== undefined && spec[num]?.kind === "number" && /^-(\d|\.\d)/.test(argv[i + 1] ?? "")) {
      args.push(`--${num}=${argv[++i]}`);
      continue;
    }
    const m = afterTerminator ? null : /^--([^=]+)=(.*)$/s.exec(a);
    if (m && spec[m[1]]?.kind === "boolean") {
      if (m[2] !== "true" && m[2] !== "false") throw new UsageError(`--${m[1]} takes no value (or =true / =false), got ${JSON.stringify(m[2])}`);
      explicit[m[1]] = m[2] === "true";
      continue;
    }
    args.push(a);
  }
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {};
  for (const [k, s] of Object.entries(spec)) {
    options[k] = { type: s.kind === "boolean" ? "boolean" : "string" };
    if (s.kind === "list") options[k].multiple = true;
    if (s.short) options[k].short = s.short;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals });
  } catch (e) {
    throw usageErrorOf(e, spec);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const flags: Flags = {};
  for (const [k, s] of Object.entries(spec)) {
    const v = k in explicit ? explicit[k] : values[k];
    if (s.kind === "list") flags[k] = (v as string[] | undefined) ?? [];
    else if (s.kind === "number" && v !== undefined) {
      const n = Number(v);
      if (String(v).trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${k} must be a number, got ${JSON.stringify(v)}; it is the ${s.help}`);
      // the value is checked here, before any work: a negative count or a fractional length otherwise fails deep
      // inside the command (or silently means something else)
      if (!inRange(n, s)) throw new UsageError(`--${k} ${v}: use ${rangeText(s)}; it is the ${s.help}`);
      flags[k] = n;
    } else flags[k] = v;
  }
  return { flags, positionals: parsed.positionals };
}

/** Parses argv (without node and the script) against `spec`; no positional arguments. */
export function parseFlags(argv: string[], spec: FlagSpec): Flags {
  return parseFlagsAndPositionals(argv, spec, false).flags;
}

function flagLabel(k: string, s: FlagDef): string {
  const name = `${s.short ? `-${s.short}, ` : ""}--${k}`;
  if (s.kind === "boolean") return name;
  return `${name} ${s.value ?? (s.kind === "number" ? "N" : "VALUE")}`;
}

function flagHelp(s: FlagDef): string {
  const extra = [s.kind === "list" ? "repeatable" : "", s.default !== undefined ? `default: ${s.default}` : ""].filter(Boolean);
  return extra.length ? `${s.help} (${extra.join("; ")})` : s.help;
}

/** Width --help wraps its text to. */
const HELP_WIDTH = 110;

/** Words of `text` in lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** "  --name VALUE   meaning (default: ...)" lines for a usage text, wrapped under the meaning column. */
export function usageLines(spec: FlagSpec): string {
  const labels = Object.entries(spec).map(([k, s]) => flagLabel(k, s));
  const w = Math.max(...labels.map((l) => l.length)) + 3;
  return Object.values(spec).map((s, i) => {
    const text = wrap(flagHelp(s), Math.max(40, HELP_WIDTH - 2 - w));
    return text.map((t, j) => `  ${(j === 0 ? labels[i] : "").padEnd(w)}${t}`).join("\n");
  }).join("\n");
}

/** "usage: npm run train -- --preset NAME ..." */
export function usageLine(cmd: CommandSpec): string {
  return `usage: ${argsAfter(cmd, cmd.args)}`;
}

/** The command followed by `args` (npm needs `--` before them). */
function argsAfter(cmd: CommandSpec, args: string): string {
  return `${cmd.command}${cmd.command.startsWith("npm ") ? " -- " : " "}${args}`;
}

/** The whole --help text: usage line, what the command does, positionals, every flag, notes, examples. */
export function helpText(cmd: CommandSpec): string {
  const parts = [usageLine(cmd), "", ...wrap(cmd.summary, HELP_WIDTH)];
  if (cmd.positionals?.length) {
    const w = Math.max(...cmd.positionals.map((p) => p.name.length)) + 3;
    parts.push("", "arguments:", ...cmd.positionals.map((p) => wrap(p.help, Math.max(40, HELP_WIDTH - 2 - w))
      .map((t, j) => `  ${(j === 0 ? p.name : "").padEnd(w)}${t}`).join("\n")));
  }
  parts.push("", "flags:", usageLines(withHelp(cmd.flags)));
  for (const n of cmd.notes ?? []) parts.push("", ...wrap(n, HELP_WIDTH));
  parts.push("", cmd.examples.length === 1 ? "example:" : "examples:", ...cmd.examples.map((e) => `  ${e}`));
  return parts.join("\n");
}

/** What to print for a UsageError: the message, the usage line and where the full help is. */
export function usageErrorText(e: Error, cmd: CommandSpec | string): string {
  const usage = typeof cmd === "string" ? cmd : `${usageLine(cmd)}\n(${argsAfter(cmd, "--help")} lists every flag)`;
  return `error: ${e.message}\n${usage}`;
}

/**
 * Parses a command line against a command: on --help / -h prints the help text and exits 0; a bad command line
 * throws a UsageError naming the flag and the fix.
 * @param cmd the command's description
 * @param argv default process.argv.slice(2)
 */
export function parseCommand(cmd: CommandSpec, argv: string[] = process.argv.slice(2)): { flags: Flags; positionals: string[] } {
  const end = argv.indexOf("--");
  const own = end < 0 ? argv : argv.slice(0, end);
  if (own.includes("--help") || own.includes("-h") || own.includes("--help=true")) {
    process.stdout.write(helpText(cmd) + "\n");
    process.exit(0);
  }
  return parseFlagsAndPositionals(argv, withHelp(cmd.flags), cmd.positionals !== undefined);
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
 * Runs a CLI's async main: an error prints `error: <message>` (plus the usage line for a UsageError) and sets the
 * exit code (2 for usage errors, 1 otherwise).
 * @param usage the command (its usage line is printed) or a usage text
 */
export function runMain(main: () => Promise<void>, usage: CommandSpec | string): void {
  main().catch((e: Error) => {
    if (e instanceof UsageError) console.error(usageErrorText(e, usage));
    else console.error(`error: ${e.message}`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  });
}

/** The flags every command that runs notebooks takes: the profile, and the per-cell time limit. */
export const NOTEBOOK_FLAGS: FlagSpec = {
  profile: { kind: "string", value: "smoke|default|long", help: "the notebook profile: smoke (CI, minutes), default (the recorded runs) or long (hours; notebooks 10-13)", default: "default" },
  timeout: { kind: "number", value: "SECONDS", help: "time limit per cell", default: "1800", above: 0 },
};

/** The --profile flag's value, checked ("default" when absent). */
export function profileFlag(flags: Flags): Profile {
  const profile = (flags.profile as string | undefined) ?? "default";
  if (!(PROFILES as readonly string[]).includes(profile)) throw new UsageError(`--profile ${profile}: use smoke, default or long`);
  return profile as Profile;
}
