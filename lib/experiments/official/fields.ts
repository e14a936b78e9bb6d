/**
 * What the official JAX code (github.com/transformer-vq/transformer_vq) accepts, written down as data, so that a
 * kit config can be handed to it and one of its configs read back (export.ts, import.ts):
 *
 * - branch main (commit 21943e4, the paper's runs): "python3 scripts/launch.py --flag=value ...", argparse flags,
 *   most without a default, which the per-dataset shell scripts scripts/lm_{enwik8,pg19,imagenet64}.sh fill in;
 * - branch optimized (commit 293e3b1, block-parallel, MHA/MQA): "python3 scripts/launch.py --config=FILE ...",
 *   where FILE is a Python module whose get_config() sets `config.<field> = <value>` (ml_collections), shipped as
 *   scripts/config_{enwik8,pg19,imagenet64,throughput,tiny}.py; `--config.<field>=<value>` overrides one field.
 *
 * The flag names, types and defaults, and the values of the five config files, were read from those commits;
 * the tables are ours. Kit fields map one to one where the official code has the same setting (SIMPLE_FIELDS);
 * the rest is handled field by field in export.ts / import.ts, and KIT_FIELD_MAP says for every kit field where it
 * goes (or why nowhere).
 */

export const OFFICIAL_REPO = "github.com/transformer-vq/transformer_vq";
export const OFFICIAL_COMMITS = { main: "21943e4", optimized: "293e3b1" } as const;
export type Branch = "main" | "optimized";
export const BRANCHES: readonly Branch[] = ["main", "optimized"];

/** A value as the official code holds it (dtypes as their names, "float32" / "bfloat16"; None as null). */
export type OfficialValue = number | string | boolean | null;
export type OfficialValues = Record<string, OfficialValue>;

/** How a field is typed in the official code: how it is printed and parsed. */
export type OfficialType = "int" | "float" | "bool" | "int01" | "str" | "dtype" | "float?" | "int?";

/** One setting that does not carry over, and why. */
export interface Note {
  /** the kit field (model.aggCache) or the official setting (lr_schedule) */
  field: string;
  /** its value */
  value: unknown;
  /** what happens instead, and why */
  reason: string;
}

/** The datasets the official code reads. */
export const OFFICIAL_DATASETS = ["enwik8", "pg19", "imagenet64"] as const;
export type OfficialDataset = (typeof OFFICIAL_DATASETS)[number];

/** Vocabulary size per official dataset: bytes + 3 special ids, or the 32k SentencePiece model it trains. */
export const OFFICIAL_VOCAB: Record<OfficialDataset, number> = { enwik8: 259, pg19: 32_000, imagenet64: 259 };

/** Kit dataset names (lib/data/datasets.ts DATASET_NAMES) and the official dataset each is or stands in for. */
export const KIT_DATA_TO_OFFICIAL: Record<string, { dataset: OfficialDataset; standIn: boolean }> = {
  enwik8: { dataset: "enwik8", standIn: false },
  foldoc: { dataset: "enwik8", standIn: true },
  gcide: { dataset: "enwik8", standIn: true },
  pg19: { dataset: "pg19", standIn: false },
  gutenberg: { dataset: "pg19", standIn: true },
  imagenet64: { dataset: "imagenet64", standIn: false },
  "fashion-mnist": { dataset: "imagenet64", standIn: true },
  "wallpaper-patches": { dataset: "imagenet64", standIn: true },
};

/** The dataset each preset is made for (its official counterpart; tiny: like config_tiny.py), when --data is not given. */
export const PRESET_DATA: Record<string, OfficialDataset> = {
  "paper-enwik8": "enwik8", "paper-pg19": "pg19", "paper-imagenet64": "imagenet64", "paper-throughput": "enwik8", tiny: "enwik8",
};

/** branch main's scripts/launch.py flags in its order: type and argparse default (undefined: none, so required). */
export const LEGACY_FLAGS: Record<string, { type: OfficialType; default?: OfficialValue; choices?: string[] }> = {
  multihost: { type: "int", default: 0 },
  command: { type: "str", choices: ["train_vocab", "train", "validation", "test", "sample", "bench"] },
  dataset: { type: "str", choices: [...OFFICIAL_DATASETS] },
  data_dir: { type: "str", default: null },
  vocab_path: { type: "str", default: null },
  prng_seed: { type: "int" }, global_batch_size: { type: "int" }, sequence_len: { type: "int" },
  update_len: { type: "int" }, block_len: { type: "int" }, mem_len: { type: "int" },
  grad_thru_cache: { type: "int01" }, agg_cache: { type: "int01" },
  param_dtype: { type: "str", choices: ["bfloat16", "float32"] }, dtype: { type: "str", choices: ["bfloat16", "float32"] },
  d_model: { type: "int" }, d_k: { type: "int" }, d_v: { type: "int" }, d_ff: { type: "int", default: 0 },
  n_head: { type: "int" }, n_code: { type: "int" }, n_layer: { type: "int" },
  pe_abs: { type: "int01" }, pe_lam: { type: "int", default: 100_000 },
  p_dropemb: { type: "float" }, p_dropsin: { type: "float" }, p_dropres: { type: "float" }, p_droplyr: { type: "float" },
  c_beta: { type: "float" }, c_gamma: { type: "float" },
  e_tie: { type: "int01" }, e_preln: { type: "int01" }, e_scale: { type: "float" },
  grad_clip: { type: "float?", default: null },
  optimizer: { type: "str", choices: ["adamw", "lion", "adafactor"] },
  lr_max: { type: "float" }, lr_schedule: { type: "str" }, wd_lam: { type: "float" }, p_nucleus: { type: "float" },
  n_warmup_step: { type: "int" }, n_max_step: { type: "int" }, n_extra_step: { type: "int" },
  n_print_step: { type: "int", default: 200 }, n_save_step: { type: "int" }, n_eval_step: { type: "int", default: null },
  n_save_keep: { type: "int", default: 5 },
  in_checkpoint_dir: { type: "str" }, out_checkpoint_dir: { type: "str" }, model_name: { type: "str" },
  run_id: { type: "str", default: null },
};

/** branch optimized's config fields in the order of its config files, with their types. */
export const OPTIMIZED_FIELDS: Record<string, OfficialType> = {
  dataset: "str", prng_seed: "int", global_batch_size: "int", sequence_len: "int", block_len: "int",
  param_dtype: "dtype", dtype: "dtype", attn_type: "str", head_type: "str", reduction_type: "str",
  d_model: "int", d_k: "int", n_code: "int", n_layer: "int", pe_abs: "bool", pe_lam: "int",
  p_dropsin: "float", p_dropres: "float", p_droplyr: "float", c_beta: "float", c_gamma: "float",
  e_tie: "bool", e_preln: "bool", e_scale: "float", grad_clip: "float?", optimizer: "str", lr_max: "float",
  lr_schedule: "str", wd_lam: "float", n_warmup_step: "int", n_max_step: "int", n_print_step: "int",
  n_save_step: "int", n_eval_step: "int?", n_save_keep: "int",
};

/** branch optimized's own launcher flags besides --config (absl). */
export const OPTIMIZED_LAUNCH_FLAGS = ["config", "multihost", "mode", "workdir", "wb_enabled", "wb_run", "model_name",
  "gpu_coord_addr", "gpu_n_process", "gpu_process_id"];

const CONFIG_ENWIK8: OfficialValues = {
  dataset: "enwik8", prng_seed: 42, global_batch_size: 32, sequence_len: 8192, block_len: 512,
  param_dtype: "float32", dtype: "bfloat16", attn_type: "vq", head_type: "shga", reduction_type: "serial",
  d_model: 768, d_k: 128, n_code: 512, n_layer: 24, pe_abs: false, pe_lam: 100_000,
  p_dropsin: 0.2, p_dropres: 0.5, p_droplyr: 0.3, c_beta: 0.0001, c_gamma: 0.99, e_tie: false, e_preln: false, e_scale: 1.0,
  grad_clip: 0.1, optimizer: "adamw", lr_max: 0.0004, lr_schedule: "cosine", wd_lam: 0.0002,
  n_warmup_step: 10_000, n_max_step: 125_000, n_print_step: 100, n_save_step: 1000, n_eval_step: 100, n_save_keep: 5,
};
const CONFIG_PG19: OfficialValues = {
  ...CONFIG_ENWIK8, dataset: "pg19", d_model: 2048, p_dropsin: 0.1, p_dropres: 0.1, p_droplyr: 0.1,
  e_tie: true, e_preln: true, e_scale: 0.005, grad_clip: null, optimizer: "adafactor", lr_max: 0.01, wd_lam: 0.0, n_max_step: 500_000,
};

/** The values of branch optimized's scripts/config_*.py at commit 293e3b1, by file name. */
export const OPTIMIZED_CONFIG_FILES: Record<string, OfficialValues> = {
  "config_enwik8.py": CONFIG_ENWIK8,
  "config_pg19.py": CONFIG_PG19,
  "config_imagenet64.py": { ...CONFIG_PG19, dataset: "imagenet64", global_batch_size: 16, sequence_len: 12_288, p_dropres: 0.0, p_droplyr: 0.0 },
  "config_throughput.py": { ...CONFIG_ENWIK8, global_batch_size: 8, p_dropsin: 0.1, p_dropres: 0.0, p_droplyr: 0.0, wd_lam: 0.0,
    n_warmup_step: 10, n_max_step: 20, n_print_step: 5, n_save_step: 100, n_eval_step: 10 },
  "config_tiny.py": { ...CONFIG_ENWIK8, global_batch_size: 8, sequence_len: 800, block_len: 50, n_code: 50, n_layer: 2,
    n_warmup_step: 80, n_max_step: 1000, n_print_step: 10, n_save_step: 100, n_eval_step: 10 },
};

/** The official config file each preset is closest to (what its differences are printed against). */
export const PRESET_CONFIG_FILE: Record<string, string> = {
  "paper-enwik8": "config_enwik8.py", "paper-pg19": "config_pg19.py", "paper-imagenet64": "config_imagenet64.py",
  "paper-throughput": "config_throughput.py", tiny: "config_tiny.py",
};

/** A kit field that maps one to one onto an official setting of the same meaning. */
export interface SimpleField {
  kit: string;
  /** the flag of branch main; null when that branch has no such setting */
  main: string | null;
  /** the config field of branch optimized; null when it has none (export.ts checks the fixed value) */
  optimized: string | null;
}

/** Kit fields with the same meaning and unit on the official side (names differ). */
export const SIMPLE_FIELDS: readonly SimpleField[] = [
  { kit: "model.dModel", main: "d_model", optimized: "d_model" },
  { kit: "model.dK", main: "d_k", optimized: "d_k" },
  { kit: "model.dV", main: "d_v", optimized: null },
  { kit: "model.nHead", main: "n_head", optimized: null },
  { kit: "model.dFF", main: "d_ff", optimized: null },
  { kit: "model.nLayer", main: "n_layer", optimized: "n_layer" },
  { kit: "model.nCode", main: "n_code", optimized: "n_code" },
  { kit: "model.blockLen", main: "block_len", optimized: "block_len" },
  { kit: "model.memLen", main: "mem_len", optimized: null },
  { kit: "model.aggCache", main: "agg_cache", optimized: null },
  { kit: "model.gradThruCache", main: "grad_thru_cache", optimized: null },
  { kit: "model.peAbs", main: "pe_abs", optimized: "pe_abs" },
  { kit: "model.peLam", main: "pe_lam", optimized: "pe_lam" },
  { kit: "model.pDropEmb", main: "p_dropemb", optimized: null },
  { kit: "model.pDropSin", main: "p_dropsin", optimized: "p_dropsin" },
  { kit: "model.pDropRes", main: "p_dropres", optimized: "p_dropres" },
  { kit: "model.pDropLyr", main: "p_droplyr", optimized: "p_droplyr" },
  { kit: "model.cBeta", main: "c_beta", optimized: "c_beta" },
  { kit: "model.cGamma", main: "c_gamma", optimized: "c_gamma" },
  { kit: "model.eTie", main: "e_tie", optimized: "e_tie" },
  { kit: "model.ePreln", main: "e_preln", optimized: "e_preln" },
  { kit: "model.eScale", main: "e_scale", optimized: "e_scale" },
  { kit: "train.batchSize", main: "global_batch_size", optimized: "global_batch_size" },
  { kit: "train.sequenceLen", main: "sequence_len", optimized: "sequence_len" },
  { kit: "train.updateLen", main: "update_len", optimized: null },
  { kit: "train.optimizer", main: "optimizer", optimized: "optimizer" },
  { kit: "train.lrMax", main: "lr_max", optimized: "lr_max" },
  { kit: "train.warmupSteps", main: "n_warmup_step", optimized: "n_warmup_step" },
  { kit: "train.maxSteps", main: "n_max_step", optimized: "n_max_step" },
  { kit: "train.wdLam", main: "wd_lam", optimized: "wd_lam" },
  { kit: "train.seed", main: "prng_seed", optimized: "prng_seed" },
  { kit: "train.saveEvery", main: "n_save_step", optimized: "n_save_step" },
  { kit: "sampling.topP", main: "p_nucleus", optimized: null },
];

/** Values the official code fixes in its launcher (no flag): a kit value must equal them to carry over. */
export const OFFICIAL_FIXED: Record<string, { value: number; where: string; adamOnly?: boolean }> = {
  "train.lrFinalFrac": { value: 0.1, where: "the cosine schedule ends at 0.1 × lr_max (optax alpha = 0.1)" },
  "train.adamB1": { value: 0.9, where: "AdamW b1 = 0.9 in the launcher", adamOnly: true },
  "train.adamB2": { value: 0.98, where: "AdamW b2 = 0.98 in the launcher", adamOnly: true },
  "train.adamEps": { value: 1e-9, where: "AdamW eps = 1e-9 in the launcher", adamOnly: true },
  "sampling.temperature": { value: 1, where: "sampling draws from the nucleus at temperature 1" },
};

/**
 * Where every kit Config field goes: the flag of branch main, the field of branch optimized (a derived or fixed
 * value is described in words), or null with the reason. The tests check that it covers every field.
 */
export const KIT_FIELD_MAP: Record<string, { main: string | null; optimized: string | null; note?: string }> = {
  "model.vocabSize": { main: null, optimized: null, note: "set by the dataset: 259 bytes (enwik8, imagenet64), 32,000 SentencePiece pieces (pg19)" },
  "model.headType": { main: "n_head=1 (gated heads only)", optimized: "head_type" },
  "model.attnType": { main: "always the block recurrence (vq-*); no full attention", optimized: "attn_type (vq | full)" },
  "model.fullChunk": { main: null, optimized: null, note: "how the kit's full attention saves memory (chunks, the same values); the official full attention computes all T×T scores" },
  ...Object.fromEntries(SIMPLE_FIELDS.map((f) => [f.kit, { main: f.main, optimized: f.optimized ?? derivedOptimized(f.kit) }])),
  "train.gradClip": { main: "grad_clip (absent = off)", optimized: "grad_clip (None = off)" },
  "train.evalTokens": { main: "n_eval_step = evalTokens / (batch · T) batches (absent = the whole split)", optimized: "n_eval_step (batches per evaluation)" },
  "train.evalEvery": { main: null, optimized: null, note: "the official code evaluates only at each save (every n_save_step updates)" },
  ...Object.fromEntries(Object.entries(OFFICIAL_FIXED).map(([k, f]) => [k, { main: null, optimized: null, note: `fixed: ${f.where}` }])),
};

function derivedOptimized(kit: string): string {
  const derived: Record<string, string> = {
    "model.dV": "derived: 2·d_model (shga), d_k (mha, mqa)",
    "model.nHead": "derived: 1 (shga), d_model / d_k (mha, mqa)",
    "model.dFF": "derived: 0 (shga), 4·d_model (mha), 5·d_model (mqa)",
    "model.memLen": "fixed: = block_len",
    "model.aggCache": "fixed: on",
    "model.gradThruCache": "fixed: on",
    "model.pDropEmb": "none: no embedding dropout (0)",
    "train.updateLen": "fixed: = sequence_len (one update per sequence)",
    "sampling.topP": "none: the branch does not sample",
  };
  return derived[kit];
}

/** The value at a dotted path of a config-like object ("model.dModel"). */
export function getPath(obj: unknown, dotted: string): unknown {
  return dotted.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

/** Sets a dotted path in a nested object, creating the sections on the way. */
export function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let o = obj;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]] = value;
}

/** The derived widths of branch optimized for a head type: [d_v, query heads, d_ff]. */
export function optimizedDerived(headType: string, dModel: number, dK: number): { dV: number; nHead: number; dFF: number } {
  if (headType === "shga") return { dV: 2 * dModel, nHead: 1, dFF: 0 };
  return { dV: dK, nHead: Math.floor(dModel / dK), dFF: (headType === "mha" ? 4 : 5) * dModel };
}
