/**
 * A kit config as the official JAX code's launch (fields.ts describes that code): for branch main the
 * "python3 scripts/launch.py --flag=value ..." command of the paper's runs, for branch optimized a complete
 * scripts/config_*.py module and its launch command, each with the kit settings the branch cannot express (and
 * what the command does instead) and the official settings the kit has no field for (and the value chosen).
 *
 * The point is to hand a paper-scale run that the kit cannot train on a CPU to the code that can, with nothing
 * lost silently: every kit field is either carried over, or named in a Note.
 */
import type { Config } from "../../config";
import {
  Branch, KIT_DATA_TO_OFFICIAL, LEGACY_FLAGS, Note, OFFICIAL_COMMITS, OFFICIAL_FIXED, OFFICIAL_REPO, OFFICIAL_VOCAB,
  OPTIMIZED_CONFIG_FILES, OPTIMIZED_FIELDS, OfficialDataset, OfficialType, OfficialValue, OfficialValues,
  PRESET_CONFIG_FILE, PRESET_DATA, SIMPLE_FIELDS, getPath, optimizedDerived,
} from "./fields";
import { shellQuote } from "../../util/shell";

export interface ExportOptions {
  /** the kit dataset the run trains on (a run's data.json name, or --data); default: the preset's own */
  data?: string;
  /** the run's tokenizer kind ("bytes" | "bpe"), when known */
  tokenizer?: string;
  /** activation dtype of the official run (the kit computes in float32; the optimized configs use bfloat16) */
  precision?: "float32" | "bfloat16";
  /** the official run's data, vocabulary and checkpoint folder (local or gs://) */
  workdir?: string;
}

export interface DataChoice {
  /** the kit's name */
  kit: string;
  official: OfficialDataset;
  /** the kit dataset is an offline stand-in for the official one */
  standIn: boolean;
}

export interface BranchExport {
  branch: Branch;
  commit: string;
  /** every setting the command passes, by official name, in the launcher's order (null: left at None) */
  values: OfficialValues;
  /** the command as arguments, then as shell text (one flag per line) */
  argv: string[];
  command: string;
  /** kit settings this branch cannot express: what the command does instead */
  notExpressible: Note[];
  /** official settings without a kit field: the value the command uses */
  officialOnly: Note[];
  /** branch optimized: the config module the command loads */
  configFile?: { path: string; text: string; base: string; differences: Array<{ field: string; official: OfficialValue; kit: OfficialValue }> };
  /** branch optimized: the same run as the official config file plus --config.* overrides, when flags can say it */
  overrideArgv?: string[] | null;
}

export interface OfficialExport {
  preset: string;
  data: DataChoice;
  repository: string;
  main: BranchExport;
  optimized: BranchExport;
  /** kit settings neither branch has (evaluation cadence, ...) */
  kitOnly: Note[];
}

/** The official dataset for a kit dataset name (pg19:<dir> and the offline stand-ins included). */
export function officialData(cfg: Config, data?: string): DataChoice {
  const kit = data ?? PRESET_DATA[cfg.preset];
  if (kit === undefined) {
    throw new Error(`preset ${cfg.preset} has no dataset of its own: pass --data enwik8, pg19 or imagenet64 (or one of the kit's stand-ins: ${Object.keys(KIT_DATA_TO_OFFICIAL).filter((k) => KIT_DATA_TO_OFFICIAL[k].standIn).join(", ")})`);
  }
  const hit = KIT_DATA_TO_OFFICIAL[kit.split(":")[0]];
  if (!hit) {
    throw new Error(`data ${JSON.stringify(kit)}: the official code reads only enwik8, pg19 and imagenet64; pass --data with one of those (or a kit stand-in such as foldoc, gutenberg, fashion-mnist)`);
  }
  return { kit, official: hit.dataset, standIn: hit.standIn };
}

/** A float as Python prints it in a literal: 1.0, 0.0004, 1e-09 style exponents kept as JS writes them. */
export function pyFloat(x: number): string {
  return Number.isInteger(x) && Math.abs(x) < 1e16 ? `${x}.0` : String(x);
}

/** A value as a flag of `type` is written on a command line (int01: argparse 0/1 of branch main; bool: absl True/False). */
export function flagText(type: OfficialType, v: OfficialValue): string {
  if (v === null) return "None";
  if (type === "int01") return v ? "1" : "0";
  if (type === "bool") return v ? "True" : "False";
  if ((type === "float" || type === "float?") && typeof v === "number") return pyFloat(v);
  return String(v);
}

/** A value as a Python literal of a config module. */
export function pyLiteral(type: OfficialType, v: OfficialValue): string {
  if (v === null) return "None";
  if (type === "dtype") return `jnp.${v}`;
  if (type === "bool" || type === "int01") return v ? "True" : "False";
  if (type === "str") return JSON.stringify(v);
  if ((type === "float" || type === "float?") && typeof v === "number") return pyFloat(v);
  return typeof v === "number" && Number.isInteger(v) && Math.abs(v) >= 10_000 ? String(v).replace(/\B(?=(\d{3})+$)/g, "_") : String(v);
}

/** A shell word: left bare when it is safe, else single-quoted. */

/** argv as shell text, one flag per line after the program. */
function commandText(argv: string[]): string {
  const [prog, script, ...flags] = argv;
  return [`${prog} ${script}`, ...flags.map(shellQuote)].join(" \\\n  ");
}

/** Notes common to both branches: vocabulary, dataset stand-in, tokenizer, the launcher's fixed values. */
function commonNotes(cfg: Config, data: DataChoice, opts: ExportOptions): Note[] {
  const notes: Note[] = [];
  const V = OFFICIAL_VOCAB[data.official];
  if (cfg.model.vocabSize !== V) {
    notes.push({ field: "model.vocabSize", value: cfg.model.vocabSize, reason: `the official ${data.official} vocabulary has ${V} tokens; the command trains with ${V}` });
  }
  if (data.standIn) notes.push({ field: "data", value: data.kit, reason: `the kit's offline stand-in for ${data.official}; the command trains on the real ${data.official}` });
  if (data.official === "pg19" && opts.tokenizer === "bpe") {
    notes.push({ field: "tokenizer", value: "bpe", reason: "the kit's own byte-level BPE; the official code trains a 32,000-piece SentencePiece model on PG-19 instead (command train_vocab)" });
  }
  for (const [field, f] of Object.entries(OFFICIAL_FIXED)) {
    if (f.adamOnly && cfg.train.optimizer !== "adamw") continue;
    const v = getPath(cfg, field) as number;
    if (v !== f.value) notes.push({ field, value: v, reason: `${f.where}; the command uses ${f.value}` });
  }
  return notes;
}

/** Print every this many updates: the launcher's 200, fewer for short runs, a multiple of the updates per sequence. */
function printEvery(cfg: Config): number {
  const perSeq = cfg.train.sequenceLen / cfg.train.updateLen;
  const want = Math.min(200, Math.max(1, Math.floor(cfg.train.maxSteps / 4)));
  return perSeq * Math.max(1, Math.round(want / perSeq));
}

/** Batches per evaluation for the kit's evalTokens (0 = the whole split: null). */
function evalBatches(cfg: Config): number | null {
  return cfg.train.evalTokens > 0 ? Math.ceil(cfg.train.evalTokens / (cfg.train.batchSize * cfg.train.sequenceLen)) : null;
}

/** What n_eval_step stands for, and the rounding when evalTokens is not a whole number of batches. */
function evalReason(cfg: Config, batches: OfficialValue, extra = ""): string {
  const t = cfg.train, per = t.batchSize * t.sequenceLen;
  const rounded = typeof batches === "number" && batches * per !== t.evalTokens ? `, rounded to ${batches} batches of B·T = ${per} tokens` : "";
  return `batches per evaluation (None: the whole validation split${extra}), from train.evalTokens = ${t.evalTokens}${rounded}`;
}

/** The launch of branch main (scripts/launch.py flags). */
export function exportMain(cfg: Config, data: DataChoice, opts: ExportOptions = {}): BranchExport {
  const m = cfg.model, t = cfg.train;
  const workdir = opts.workdir ?? "workdir";
  const modelName = `transformer_vq_${data.official}`;
  const notExpressible = commonNotes(cfg, data, opts);
  const v: OfficialValues = {
    multihost: 0, command: "train", dataset: data.official, data_dir: `${workdir}/datasets`,
    vocab_path: data.official === "pg19" ? `${workdir}/vocabs/pg19_sentencepiece.model` : null,
  };
  for (const f of SIMPLE_FIELDS) if (f.main) v[f.main] = getPath(cfg, f.kit) as OfficialValue;
  Object.assign(v, {
    param_dtype: "float32", dtype: opts.precision ?? "float32", grad_clip: t.gradClip > 0 ? t.gradClip : null,
    lr_schedule: "cosine", n_extra_step: 0, n_print_step: printEvery(cfg), n_eval_step: evalBatches(cfg),
    in_checkpoint_dir: `${workdir}/checkpoints/${modelName}`, out_checkpoint_dir: `${workdir}/checkpoints/${modelName}`, model_name: modelName,
  });
  if (m.headType !== "shga") {
    notExpressible.push({ field: "model.headType", value: m.headType, reason: `branch main has gated heads only (no ${m.headType} layers with an MLP); export for branch optimized instead` });
  }
  if (m.attnType === "full") notExpressible.push({ field: "model.attnType", value: "full", reason: "branch main has no quadratic baseline; the command trains VQ-attention (branch optimized has attn_type full)" });
  const perSeq = t.sequenceLen / t.updateLen;
  if (t.saveEvery < perSeq || t.saveEvery % perSeq !== 0) {
    notExpressible.push({ field: "train.saveEvery", value: t.saveEvery, reason: `the launcher requires n_save_step to be a multiple of T / update_len = ${perSeq}; the command would stop at its assertion` });
  }
  const officialOnly: Note[] = [
    { field: "dtype", value: v.dtype, reason: "activation dtype; the kit computes in float32 (the optimized configs use bfloat16: --precision bfloat16)" },
    { field: "param_dtype", value: "float32", reason: "parameters in float32, as the kit" },
    { field: "lr_schedule", value: "cosine", reason: "the kit's schedule (linear warm-up, cosine to lrFinalFrac)" },
    { field: "n_extra_step", value: 0, reason: "constant-rate updates after the schedule; the kit has none (the paper used 0)" },
    { field: "n_print_step", value: v.n_print_step, reason: "log interval; the kit logs every update" },
    { field: "n_eval_step", value: v.n_eval_step, reason: evalReason(cfg, v.n_eval_step) },
    { field: "n_save_keep", value: 5, reason: "the launcher keeps the 5 newest checkpoints, each saved only when the validation loss improved; the kit keeps the last two" },
    { field: "data_dir, vocab_path, in/out_checkpoint_dir, model_name", value: workdir, reason: "paths below --workdir; model_name is the W&B project (set WANDB_API_KEY, or WANDB_MODE=offline)" },
  ];
  if (data.official === "pg19") officialOnly.push({ field: "vocab_path", value: v.vocab_path, reason: "the 32k SentencePiece model; a run trains it there when it is missing (or run the command once with --command=train_vocab)" });
  const argv = ["python3", "scripts/launch.py"];
  for (const [name, spec] of Object.entries(LEGACY_FLAGS)) {
    const x = v[name];
    if (x === undefined || x === null) continue;
    argv.push(`--${name}=${flagText(spec.type, x)}`);
  }
  return { branch: "main", commit: OFFICIAL_COMMITS.main, values: v, argv, command: commandText(argv), notExpressible, officialOnly };
}

/** The config module of branch optimized for the kit config, and its launch. */
export function exportOptimized(cfg: Config, data: DataChoice, opts: ExportOptions = {}): BranchExport {
  const m = cfg.model, t = cfg.train;
  const base = PRESET_CONFIG_FILE[cfg.preset] ?? `config_${data.official}.py`;
  const v: OfficialValues = { ...OPTIMIZED_CONFIG_FILES[base] };
  for (const f of SIMPLE_FIELDS) if (f.optimized) v[f.optimized] = getPath(cfg, f.kit) as OfficialValue;
  Object.assign(v, {
    dataset: data.official, param_dtype: "float32", dtype: opts.precision ?? "float32",
    attn_type: m.attnType === "full" ? "full" : "vq", head_type: m.headType, grad_clip: t.gradClip > 0 ? t.gradClip : null,
    // the branch's evaluation divides its time by (batches − 1): one batch would stop it with a ZeroDivisionError
    lr_schedule: "cosine", n_eval_step: evalBatches(cfg) === null ? null : Math.max(2, evalBatches(cfg)!),
  });
  const notExpressible = commonNotes(cfg, data, opts);
  const derived = optimizedDerived(m.headType, m.dModel, m.dK);
  const fixed: Array<[string, unknown, unknown, string]> = [
    ["model.dV", m.dV, derived.dV, `d_v is derived from head_type ${m.headType}`],
    ["model.nHead", m.nHead, derived.nHead, `the query heads are derived from head_type ${m.headType}`],
    ["model.dFF", m.dFF, derived.dFF, `the MLP width is derived from head_type ${m.headType}`],
    ["model.memLen", m.memLen, m.blockLen, "the window is always the previous block (M = L)"],
    ["model.aggCache", m.aggCache, true, "the compressive cache is always on (ablate it on branch main, --agg_cache=0)"],
    ["model.gradThruCache", m.gradThruCache, true, "gradients always flow through the cache"],
    ["model.pDropEmb", m.pDropEmb, 0, "there is no embedding dropout"],
    ["train.updateLen", t.updateLen, t.sequenceLen, "one parameter update per sequence (update length = T)"],
  ];
  for (const [field, kit, official, why] of fixed) {
    if (kit !== official) notExpressible.push({ field, value: kit, reason: `${why}; the config gives ${official}` });
  }
  if (m.headType !== "shga" && m.dModel % m.dK !== 0) {
    notExpressible.push({ field: "model.dK", value: m.dK, reason: `head_type ${m.headType} needs d_k to divide d_model = ${m.dModel} (the launcher asserts it)` });
  }
  notExpressible.push({ field: "model", value: "the same settings", reason: "branch optimized builds a slightly different layer than the kit and branch main: RMSNorm without gain and bias, a tied head without output bias (e_scale on the features), codebook statistics weighted R = T/L times more (docs/paper.md §0), so parameter counts differ" });
  notExpressible.push({ field: "sampling.topP", value: cfg.sampling.topP, reason: "branch optimized does not sample; sample with branch main (--command=sample)" });
  const officialOnly: Note[] = [
    { field: "dtype", value: v.dtype, reason: "activation dtype; the kit computes in float32 (the official configs use bfloat16: --precision bfloat16)" },
    { field: "param_dtype", value: "float32", reason: "parameters in float32, as the kit" },
    { field: "reduction_type", value: v.reduction_type, reason: "how the cache is summed across blocks (serial, matmul, assoc_scan); all give the same function as the kit's vq-parallel" },
    { field: "lr_schedule", value: "cosine", reason: "the kit's schedule" },
    { field: "n_print_step", value: v.n_print_step, reason: `log interval, kept from ${base}; the kit logs every update` },
    { field: "n_eval_step", value: v.n_eval_step, reason: evalReason(cfg, v.n_eval_step, "; at least 2, which the branch's timing needs") },
    { field: "n_save_keep", value: v.n_save_keep, reason: "checkpoints kept, each saved only when the validation loss improved; the kit keeps the last two" },
    { field: "workdir, mode, multihost", value: opts.workdir ?? "workdir", reason: "launcher flags: data, vocabularies and checkpoints go below --workdir" },
  ];
  const stem = `config_kit_${cfg.preset.replace(/[^A-Za-z0-9]+/g, "_")}.py`;
  const official = OPTIMIZED_CONFIG_FILES[base];
  const differences = Object.keys(OPTIMIZED_FIELDS).filter((k) => official[k] !== v[k]).map((k) => ({ field: k, official: official[k], kit: v[k] }));
  const text = configModule(v, cfg.preset, base);
  const launch = (config: string) => ["python3", "scripts/launch.py", `--config=${config}`, "--multihost=False", `--workdir=${opts.workdir ?? "workdir"}`, "--mode=train"];
  const argv = launch(`scripts/${stem}`);
  // ml_collections parses an override by the field's type in the file: a None field, a dtype, or a switch between
  // a number and None cannot be given as --config.<field>
  const flaggable = differences.every((d) => d.official !== null && d.kit !== null && OPTIMIZED_FIELDS[d.field] !== "dtype");
  const overrideArgv = flaggable
    ? [...launch(`scripts/${base}`), ...differences.map((d) => `--config.${d.field}=${flagText(OPTIMIZED_FIELDS[d.field], d.kit)}`)]
    : null;
  return {
    branch: "optimized", commit: OFFICIAL_COMMITS.optimized, values: v, argv, command: commandText(argv), notExpressible, officialOnly,
    configFile: { path: `scripts/${stem}`, text, base, differences }, overrideArgv,
  };
}

/** A config module in the format of branch optimized's scripts/config_*.py. */
export function configModule(v: OfficialValues, preset: string, base: string): string {
  const lines = [
    `# Transformer-VQ kit preset ${preset}, exported for ${OFFICIAL_REPO} (branch optimized, commit ${OFFICIAL_COMMITS.optimized}).`,
    `# Written by \`npm run export-official\`; the settings that differ from scripts/${base} are marked.`,
    "import jax.numpy as jnp",
    "from ml_collections import config_dict",
    "",
    "",
    "def get_config():",
    "    config = config_dict.ConfigDict()",
  ];
  const official = OPTIMIZED_CONFIG_FILES[base];
  for (const [k, type] of Object.entries(OPTIMIZED_FIELDS)) {
    const mark = official && official[k] !== v[k] ? `  # ${base}: ${pyLiteral(type, official[k])}` : "";
    lines.push(`    config.${k} = ${pyLiteral(type, v[k])}${mark}`);
  }
  lines.push("    return config", "");
  return lines.join("\n");
}

/** Kit settings that neither branch has, and that do not change the trained model. */
function kitOnlyNotes(cfg: Config): Note[] {
  const t = cfg.train, notes: Note[] = [];
  if (t.evalEvery !== t.saveEvery) {
    notes.push({ field: "train.evalEvery", value: t.evalEvery, reason: `the official code evaluates only at each save, every n_save_step = ${t.saveEvery} updates` });
  }
  if (cfg.model.attnType === "vq-quadratic" || cfg.model.attnType === "vq-recurrent") {
    notes.push({ field: "model.attnType", value: cfg.model.attnType, reason: "the official code picks its own form of the same function: main runs the block recurrence, optimized the block-parallel form" });
  }
  return notes;
}

/** Both branches' launches of a kit config. */
export function exportOfficial(cfg: Config, opts: ExportOptions = {}): OfficialExport {
  const data = officialData(cfg, opts.data);
  return {
    preset: cfg.preset, data, repository: OFFICIAL_REPO,
    main: exportMain(cfg, data, opts), optimized: exportOptimized(cfg, data, opts), kitOnly: kitOnlyNotes(cfg),
  };
}

function noteLines(notes: Note[]): string[] {
  return notes.length ? notes.map((n) => `  - ${n.field} = ${JSON.stringify(n.value)}: ${n.reason}`) : ["  (none)"];
}

/** The readable form of an export: per branch the command, what it cannot express, what it sets on its own. */
export function renderExport(e: OfficialExport, branches: Branch[] = ["main", "optimized"], configWritten?: string): string {
  const out = [
    `Preset ${e.preset}, data ${e.data.kit}${e.data.standIn ? ` (stand-in for ${e.data.official})` : ""}, for the official code at https://${e.repository}`,
  ];
  if (branches.includes("main")) {
    const b = e.main;
    out.push("", `== branch main (commit ${b.commit}: the paper's runs, scripts/launch.py flags) ==`, "",
      `From the root of a checkout at ${b.commit} (pip3 install -e '.[no_tpu]', or '.[tpu]' on a TPU VM):`, "", b.command, "",
      "Kit settings this branch cannot express:", ...noteLines(b.notExpressible), "",
      "Official settings the kit has no field for (the value used):", ...noteLines(b.officialOnly));
  }
  if (branches.includes("optimized")) {
    const b = e.optimized, f = b.configFile!;
    out.push("", `== branch optimized (commit ${b.commit}: block-parallel, config files) ==`, "",
      `From the root of a checkout at ${b.commit} (pip3 install -e '.[cpu]', '.[gpu]' or '.[tpu]').`, "",
      configWritten ? `Config written to ${configWritten}; copy it to ${f.path} in the official checkout.` : `Save this as ${f.path} in the official checkout (or pass --write-config FILE):`);
    if (!configWritten) out.push("", f.text);
    out.push("", b.command, "",
      `Settings that differ from the official scripts/${f.base}: ${f.differences.length ? f.differences.map((d) => `${d.field} ${pyLiteral(OPTIMIZED_FIELDS[d.field], d.official)} -> ${pyLiteral(OPTIMIZED_FIELDS[d.field], d.kit)}`).join(", ") : "none"}`);
    out.push(b.overrideArgv
      ? `The same run without the new file: ${b.overrideArgv.map(shellQuote).join(" ")}`
      : "(Some of these cannot be given as --config.<field> overrides: a None or dtype field, so the run needs the file above.)");
    out.push("", "Kit settings this branch cannot express:", ...noteLines(b.notExpressible), "",
      "Official settings the kit has no field for (the value used):", ...noteLines(b.officialOnly));
  }
  out.push("", "Kit settings neither branch has (they do not change the model):", ...noteLines(e.kitOnly));
  return out.join("\n");
}
