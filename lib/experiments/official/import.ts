/**
 * The reverse of export.ts: a kit config from the official code's settings, given as a branch-optimized config
 * module (scripts/config_*.py), a branch-optimized launch (`--config=FILE --config.<field>=<value> ...`), or a
 * branch-main flag list ("python3 scripts/launch.py --flag=value ...", a scripts/lm_*.sh script included).
 *
 * The result is the nearest kit preset plus the overrides that make it equal on every setting both sides have,
 * the official values the kit cannot represent (each with what was kept instead), and the kit fields the source
 * did not give (a shell script's "$VARIABLE"s), which keep the preset's value. Nothing is dropped silently.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Config, DeepPartial, getPreset, presetNames } from "../../config";
import {
  Branch, LEGACY_FLAGS, Note, OFFICIAL_DATASETS, OFFICIAL_VOCAB, OPTIMIZED_CONFIG_FILES, OPTIMIZED_FIELDS,
  OPTIMIZED_LAUNCH_FLAGS, OfficialDataset, OfficialType, OfficialValue, OfficialValues, PRESET_DATA, SIMPLE_FIELDS,
  getPath, optimizedDerived, setPath,
} from "./fields";

/** Official settings read from a file or a command line. */
export interface ParsedOfficial {
  branch: Branch;
  /** every setting, defaults of the launcher included (branch main) or the whole config (optimized) */
  values: OfficialValues;
  /** settings whose value was a shell variable or otherwise not a literal: flag -> the text */
  unresolved: Record<string, string>;
  /** launcher flags outside the model config (branch optimized: --workdir, --mode, ...) */
  launcher: Record<string, string>;
}

export interface KitImport {
  /** the preset the overrides apply to */
  preset: string;
  /** what to merge into the preset: getPreset(preset, overrides) gives `config` */
  overrides: DeepPartial<Config>;
  config: Config;
  /** the official dataset, when the source names one */
  data: OfficialDataset | null;
  branch: Branch;
  /** official settings the kit cannot represent, with what was kept instead */
  notRepresented: Note[];
  /** official settings without a kit field (dtypes, paths, logging), ignored */
  officialOnly: Note[];
  /** kit fields the source did not give: the preset's value was kept */
  notGiven: Note[];
}

/** Thrown for official text that cannot be read; the message names the setting and the fix. */
export class OfficialParseError extends Error {}

/** A literal of `type` as the official launcher parses it, or undefined when it is not one. */
export function parseValue(type: OfficialType, raw: string): OfficialValue | undefined {
  const s = raw.trim().replace(/^(["'])(.*)\1$/s, "$2");
  if ((type === "float?" || type === "int?") && s === "None") return null;
  if (type === "int" || type === "int?") return /^[+-]?\d(_?\d)*$/.test(s) ? Number(s.replace(/_/g, "")) : undefined;
  if (type === "float" || type === "float?") {
    const n = Number(s.replace(/_/g, ""));
    return s !== "" && Number.isFinite(n) ? n : undefined;
  }
  if (type === "int01") return s === "0" ? false : s === "1" ? true : undefined;
  if (type === "bool") return /^(true|1)$/i.test(s) ? true : /^(false|0)$/i.test(s) ? false : undefined;
  if (type === "dtype") {
    const m = /^(?:jnp\.|np\.)?(float32|bfloat16)$/.exec(s);
    return m ? m[1] : undefined;
  }
  return s;
}

/** Shell words of a command text: quotes, backslash escapes and line continuations as sh reads them. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && text[i + 1] === "\n") { i++; continue; }
    if (/\s/.test(c)) { if (cur !== null) words.push(cur); cur = null; continue; }
    cur ??= "";
    if (c === "'") { const j = text.indexOf("'", i + 1); if (j < 0) throw new OfficialParseError("unclosed ' quote in the command"); cur += text.slice(i + 1, j); i = j; } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) cur += text[j] === "\\" && /["\\$`]/.test(text[j + 1] ?? "") ? text[++j] : text[j];
      if (j >= text.length) throw new OfficialParseError('unclosed " quote in the command');
      i = j;
    } else if (c === "\\") cur += text[++i] ?? "";
    else cur += c;
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** The `config.<field> = <value>` assignments of a config module (branch optimized's format). */
export function parseConfigModule(text: string, source = "the config file"): OfficialValues {
  const values: OfficialValues = {};
  text.split("\n").forEach((line, i) => {
    const m = /^\s*config\.(\w+)\s*=\s*(.*?)\s*(#.*)?$/.exec(line);
    if (!m) return;
    const [, field, raw] = m;
    const type = OPTIMIZED_FIELDS[field];
    if (!type) throw new OfficialParseError(`${source} line ${i + 1}: config.${field} is not a field of the official configs; known: ${Object.keys(OPTIMIZED_FIELDS).join(", ")}`);
    const v = parseValue(type, raw);
    if (v === undefined) throw new OfficialParseError(`${source} line ${i + 1}: config.${field} = ${raw} is not ${typeWord(type)}`);
    values[field] = v;
  });
  if (Object.keys(values).length === 0) throw new OfficialParseError(`${source} sets no config.<field>; pass an official scripts/config_*.py or a launch command`);
  return values;
}

function typeWord(type: OfficialType): string {
  return { int: "an integer", "int?": "an integer or None", float: "a number", "float?": "a number or None", bool: "True or False",
    int01: "0 or 1", str: "a string", dtype: "jnp.float32 or jnp.bfloat16" }[type];
}

/**
 * Reads official settings from text: a config module, or a launch command of either branch (a whole shell script
 * is read from its `launch.py` on).
 * @param baseDir where a --config=FILE that is not one of the official file names is looked up
 */
export function parseOfficial(text: string, baseDir = process.cwd()): ParsedOfficial {
  if (/^\s*config\.\w+\s*=/m.test(text)) return { branch: "optimized", values: parseConfigModule(text), unresolved: {}, launcher: {} };
  const at = text.indexOf("launch.py");
  const words = shellWords(at >= 0 ? text.slice(at + "launch.py".length) : text);
  const flags: Array<[string, string]> = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const m = /^--?([A-Za-z_][\w.]*)(?:=(.*))?$/s.exec(w);
    if (!m) {
      if (/^(python3?|.*\.py)$/.test(w)) continue;
      throw new OfficialParseError(`unexpected ${JSON.stringify(w)}: give official flags as --name=value (e.g. "--d_model=768 --n_code=512")`);
    }
    const value = m[2] ?? (words[i + 1] !== undefined && !words[i + 1].startsWith("--") ? words[++i] : undefined);
    if (value === undefined) throw new OfficialParseError(`--${m[1]} has no value; write --${m[1]}=VALUE`);
    flags.push([m[1], value]);
  }
  if (flags.length === 0) throw new OfficialParseError("no official flags found; pass a config_*.py file, a lm_*.sh script, or flags such as \"--d_model=768 --n_code=512\"");
  const optimized = flags.some(([k]) => k === "config" || k.startsWith("config."));
  return optimized ? parseOptimizedFlags(flags, baseDir) : parseLegacyFlags(flags);
}

function parseLegacyFlags(flags: Array<[string, string]>): ParsedOfficial {
  const values: OfficialValues = {};
  for (const [k, spec] of Object.entries(LEGACY_FLAGS)) if (spec.default !== undefined) values[k] = spec.default;
  const unresolved: Record<string, string> = {};
  for (const [k, raw] of flags) {
    const spec = LEGACY_FLAGS[k];
    if (!spec) throw new OfficialParseError(`--${k} is not a flag of branch main's scripts/launch.py; known: ${Object.keys(LEGACY_FLAGS).map((f) => `--${f}`).join(", ")}`);
    if (raw.includes("$")) { unresolved[k] = raw; continue; }
    const v = parseValue(spec.type, raw);
    if (v === undefined || (spec.choices && !spec.choices.includes(String(v)))) {
      throw new OfficialParseError(`--${k}=${raw}: the launcher needs ${spec.choices ? `one of ${spec.choices.join(", ")}` : typeWord(spec.type)}`);
    }
    values[k] = v;
  }
  return { branch: "main", values, unresolved, launcher: {} };
}

function parseOptimizedFlags(flags: Array<[string, string]>, baseDir: string): ParsedOfficial {
  const file = flags.find(([k]) => k === "config")?.[1];
  if (file === undefined) throw new OfficialParseError("--config.<field> overrides need --config=FILE (e.g. --config=scripts/config_enwik8.py)");
  const local = path.resolve(baseDir, file);
  const values = fs.existsSync(local) ? parseConfigModule(fs.readFileSync(local, "utf8"), file) : { ...OPTIMIZED_CONFIG_FILES[path.basename(file)] };
  if (!fs.existsSync(local) && !OPTIMIZED_CONFIG_FILES[path.basename(file)]) {
    throw new OfficialParseError(`--config=${file}: no such file here, and not one of the official ${Object.keys(OPTIMIZED_CONFIG_FILES).join(", ")}; pass the file's path`);
  }
  const unresolved: Record<string, string> = {}, launcher: Record<string, string> = {};
  for (const [k, raw] of flags) {
    if (k === "config") continue;
    if (!k.startsWith("config.")) {
      if (!OPTIMIZED_LAUNCH_FLAGS.includes(k)) throw new OfficialParseError(`--${k} is not a flag of branch optimized's scripts/launch.py; known: ${OPTIMIZED_LAUNCH_FLAGS.map((f) => `--${f}`).join(", ")}, --config.<field>`);
      launcher[k] = raw;
      continue;
    }
    const field = k.slice("config.".length), type = OPTIMIZED_FIELDS[field];
    if (!type) throw new OfficialParseError(`--${k}: ${field} is not a field of the official configs; known: ${Object.keys(OPTIMIZED_FIELDS).join(", ")}`);
    if (raw.includes("$")) { unresolved[field] = raw; continue; }
    const v = parseValue(type, raw);
    if (v === undefined) throw new OfficialParseError(`--${k}=${raw} is not ${typeWord(type)}`);
    values[field] = v;
  }
  return { branch: "optimized", values, unresolved, launcher };
}

/** The kit fields the official settings give, by dotted path, with the notes on what does not carry over. */
function kitFields(p: ParsedOfficial): { fields: Record<string, unknown>; notRepresented: Note[]; officialOnly: Note[] } {
  const v = p.values, fields: Record<string, unknown> = {}, notRepresented: Note[] = [], officialOnly: Note[] = [];
  const has = (k: string) => v[k] !== undefined;
  for (const f of SIMPLE_FIELDS) {
    const name = p.branch === "main" ? f.main : f.optimized;
    if (name && has(name) && v[name] !== null) fields[f.kit] = v[name];
  }
  if (has("dataset")) fields["model.vocabSize"] = OFFICIAL_VOCAB[v.dataset as OfficialDataset];
  if (p.unresolved.grad_clip === undefined) fields["train.gradClip"] = v.grad_clip ?? 0;
  if (v.n_eval_step !== undefined && has("global_batch_size") && has("sequence_len")) {
    fields["train.evalTokens"] = v.n_eval_step === null ? 0 : (v.n_eval_step as number) * (v.global_batch_size as number) * (v.sequence_len as number);
  } else if (typeof v.n_eval_step === "number") {
    notRepresented.push({ field: "n_eval_step", value: v.n_eval_step, reason: "batches per evaluation; train.evalTokens needs the batch size and T, which the source does not give: kept the preset's" });
  }
  if (p.branch === "optimized") {
    const head = String(v.head_type ?? "shga");
    if (!["shga", "mha", "mqa"].includes(head)) notRepresented.push({ field: "head_type", value: head, reason: "the kit has shga, mha and mqa; kept the preset's" });
    else {
      fields["model.headType"] = head;
      if (has("d_model") && has("d_k")) {
        const d = optimizedDerived(head, v.d_model as number, v.d_k as number);
        Object.assign(fields, { "model.dV": d.dV, "model.nHead": d.nHead, "model.dFF": d.dFF });
      }
    }
    const attn: Record<string, string> = { vq: "vq-parallel", vq_old: "vq-recurrent", full: "full", full_old: "full" };
    if (attn[String(v.attn_type)]) fields["model.attnType"] = attn[String(v.attn_type)];
    else if (has("attn_type")) notRepresented.push({ field: "attn_type", value: v.attn_type, reason: "not an attention form of the kit; kept the preset's" });
    if (has("block_len")) fields["model.memLen"] = v.block_len;
    if (has("sequence_len")) fields["train.updateLen"] = v.sequence_len;
    Object.assign(fields, { "model.aggCache": true, "model.gradThruCache": true, "model.pDropEmb": 0 });
    officialOnly.push({ field: "reduction_type", value: v.reduction_type, reason: "the cross-block sum's implementation; the kit's vq-parallel computes the same function" });
  } else {
    fields["model.headType"] = "shga";
    if (has("n_head") && v.n_head !== 1) notRepresented.push({ field: "n_head", value: v.n_head, reason: "several gated heads per layer; the kit's gated layer (shga) has one, so nHead = 1 was kept" });
    fields["model.nHead"] = 1;
    if (v.d_ff !== 0) notRepresented.push({ field: "d_ff", value: v.d_ff, reason: "branch main's gated layers have no MLP and ignore d_ff; the kit's shga needs dFF = 0" });
    fields["model.dFF"] = 0;
    if (has("mem_len") && has("block_len")) fields["model.attnType"] = v.mem_len === v.block_len ? "vq-parallel" : "vq-recurrent";
    if (has("n_extra_step") && v.n_extra_step !== 0) notRepresented.push({ field: "n_extra_step", value: v.n_extra_step, reason: "the kit has no constant-rate updates after the schedule; train.maxSteps counts the scheduled ones" });
  }
  if (v.optimizer === "lion") { delete fields["train.optimizer"]; notRepresented.push({ field: "optimizer", value: "lion", reason: "the kit has adamw and adafactor; kept the preset's" }); }
  if (has("lr_schedule") && v.lr_schedule !== "cosine") notRepresented.push({ field: "lr_schedule", value: v.lr_schedule, reason: "the kit's schedule is cosine only; kept cosine" });
  for (const k of ["param_dtype", "dtype", "n_print_step", "n_save_keep", "data_dir", "vocab_path", "in_checkpoint_dir", "out_checkpoint_dir", "model_name", "command", "multihost", "run_id"]) {
    if (v[k] !== undefined && v[k] !== null) officialOnly.push({ field: k, value: v[k], reason: k.endsWith("dtype") ? "the kit computes in float32" : "no kit field (logging, paths, launch mode)" });
  }
  for (const [k, raw] of Object.entries(p.launcher)) officialOnly.push({ field: k, value: raw, reason: "a launcher flag (paths, mode, logging)" });
  return { fields, notRepresented, officialOnly };
}

/** The preset that differs from `fields` in the fewest settings (ties: the one made for `data`, then the first). */
function nearestPreset(fields: Record<string, unknown>, data: OfficialDataset | null): string {
  let best = "", bestScore = Infinity;
  for (const name of presetNames()) {
    const cfg = getPreset(name);
    const diffs = Object.entries(fields).filter(([k, val]) => getPath(cfg, k) !== val).length;
    const score = diffs + (data !== null && PRESET_DATA[name] === data ? 0 : 0.5);
    if (score < bestScore) { best = name; bestScore = score; }
  }
  return best;
}

/** The kit config of official settings: the nearest preset, the overrides, and every setting that did not carry over. */
export function kitFromOfficial(p: ParsedOfficial): KitImport {
  const { fields, notRepresented, officialOnly } = kitFields(p);
  const data = OFFICIAL_DATASETS.includes(p.values.dataset as OfficialDataset) ? (p.values.dataset as OfficialDataset) : null;
  const preset = nearestPreset(fields, data);
  const base = getPreset(preset);
  const overrides: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(fields)) if (getPath(base, k) !== val) setPath(overrides, k, val);
  let config: Config;
  try {
    config = getPreset(preset, overrides as DeepPartial<Config>);
  } catch (e) {
    throw new OfficialParseError(`the official settings give no valid kit config (nearest preset ${preset}): ${(e as Error).message}`);
  }
  const notGiven: Note[] = [];
  const given = [...SIMPLE_FIELDS.map((f) => ({ kit: f.kit, name: p.branch === "main" ? f.main : f.optimized })),
    { kit: "model.vocabSize", name: "dataset" }, { kit: "train.gradClip", name: "grad_clip" }];
  for (const f of given) {
    const name = f.name;
    if (name && fields[f.kit] === undefined) {
      const why = p.unresolved[name] !== undefined ? `--${name} is ${JSON.stringify(p.unresolved[name])}, not a value` : `the source does not set ${name}`;
      notGiven.push({ field: f.kit, value: getPath(config, f.kit), reason: `${why}; kept ${preset}'s value` });
    }
  }
  return { preset, overrides: { preset, ...overrides } as DeepPartial<Config>, config, data, branch: p.branch, notRepresented, officialOnly, notGiven };
}

/** `npm run train` arguments for an import: the preset, the data and one --set per override. */
export function trainArgs(k: KitImport): string[] {
  const args = ["--preset", k.preset];
  if (k.data) args.push("--data", k.data);
  const walk = (o: Record<string, unknown>, at: string) => {
    for (const [key, val] of Object.entries(o)) {
      if (key === "preset" && at === "") continue;
      const p = at ? `${at}.${key}` : key;
      if (val !== null && typeof val === "object") walk(val as Record<string, unknown>, p);
      else args.push("--set", `${p}=${val}`);
    }
  };
  walk(k.overrides as Record<string, unknown>, "");
  return args;
}
