/**
 * One plain typed config for model and training, with presets as data.
 * Letters follow the paper: T = sequence length, L = block length, M = memory length (= L),
 * S = codebook size, d_k / d_v = key / value widths.
 *
 * Presets are plain data (`PRESETS`); `getPreset(name, overrides)` deep-merges and validates, and every
 * validation error names the field, its value and the fix.
 */

import { deepMerge } from "./util/json";

/**
 * How attention is computed, named after the functions of lib/nn/attention*.ts: vqAttentionQuadratic (the
 * definition, T×T over quantized keys), vqAttentionRecurrent (block recurrence with the compressive cache),
 * vqAttentionParallel (the same, blocks in parallel: training), fullAttention (the quadratic baseline). The three
 * vq-* forms compute the same function.
 */
export type AttnType = "vq-quadratic" | "vq-recurrent" | "vq-parallel" | "full";

/** Every attention form, in the order above. */
export const ATTN_TYPES: readonly AttnType[] = ["vq-quadratic", "vq-recurrent", "vq-parallel", "full"];

/**
 * Old names of the forms. Run folders and checkpoints written before the rename store "vq-linear" for
 * vq-recurrent in config.json; validation maps them to today's name so those runs still load and resume.
 */
const LEGACY_ATTN_TYPES: Readonly<Record<string, AttnType>> = { "vq-linear": "vq-recurrent" };

/** The forms with T×T scores: they carry no state between calls (updateLen must equal T). */
export function isQuadraticForm(t: AttnType): boolean {
  return t === "vq-quadratic" || t === "full";
}

/**
 * Model fields added after run folders already existed, with the value that means what older kits did: a config
 * stored without one (config.json, a checkpoint's manifest) gets it, so an old run still resumes and is reused.
 * A new field is added here with its old-behaviour default.
 */
const ADDED_MODEL_FIELDS: Partial<ModelConfig> = { fullChunk: 0 };

/**
 * A model config in today's form, in place; returns it: a legacy attention name (LEGACY_ATTN_TYPES) replaced by
 * today's, and the fields added since it was stored (ADDED_MODEL_FIELDS) set to their old-behaviour defaults.
 * Called by validation, so every config that is checked (fresh, read from a run folder or a checkpoint) holds
 * only the names of ATTN_TYPES and every field afterwards.
 */
export function upgradeModelConfig(m: ModelConfig): ModelConfig {
  const legacy = LEGACY_ATTN_TYPES[m.attnType as string];
  if (legacy) m.attnType = legacy;
  for (const [k, v] of Object.entries(ADDED_MODEL_FIELDS)) {
    if ((m as unknown as Record<string, unknown>)[k] === undefined) (m as unknown as Record<string, unknown>)[k] = v;
  }
  return m;
}
/** SHGA: single-head gated attention (GAU); MHA / MQA only for the throughput study. */
export type HeadType = "shga" | "mha" | "mqa";
export type OptimizerName = "adamw" | "adafactor";

export interface ModelConfig {
  /** vocabulary size V (259 for bytes: 0 pad, 1 eos, 2 unk, byte b -> b+3) */
  vocabSize: number;
  dModel: number;
  /** d_k */
  dK: number;
  /** d_v (SHGA: 2·d_model) */
  dV: number;
  headType: HeadType;
  /** query heads (1 for shga) */
  nHead: number;
  /** layers; shga: two GAUs per layer, no MLP; mha/mqa: attention + MLP */
  nLayer: number;
  /** MLP width (0 for shga) */
  dFF: number;
  /** codebook size S */
  nCode: number;
  /** block length L */
  blockLen: number;
  /** memory length M (the paper uses M = L) */
  memLen: number;
  attnType: AttnType;
  /** full attention only: query/key chunk length of the memory-efficient form (nn/attention-chunked.ts; memory
   *  T·C instead of T², the same values and gradients); 0 = unchunked T×T scores. Ignored by the VQ forms. */
  fullChunk?: number;
  /** compressive cache on/off (off: window of M + L keys with locality mask) */
  aggCache: boolean;
  /** let gradients flow through the carried cache within one update */
  gradThruCache: boolean;
  /** absolute sinusoid times a learnable scalar (images) */
  peAbs: boolean;
  /** max wavelength of the sinusoids */
  peLam: number;
  pDropEmb: number;
  pDropSin: number;
  pDropRes: number;
  /** LayerDrop */
  pDropLyr: number;
  /** commitment loss coefficient */
  cBeta: number;
  /** codebook EMA rate */
  cGamma: number;
  /** tied input/output embedding */
  eTie: boolean;
  /** RMSNorm before the output head */
  ePreln: boolean;
  /** output scale (tied head) */
  eScale: number;
}

export interface TrainConfig {
  /** global batch size B */
  batchSize: number;
  /** T: the recurrent state is reset every T tokens; evaluation windows are T long */
  sequenceLen: number;
  /** tokens per parameter update (truncated backprop window); divides T, multiple of L */
  updateLen: number;
  optimizer: OptimizerName;
  lrMax: number;
  warmupSteps: number;
  /** parameter updates in the run (also the cosine schedule's length) */
  maxSteps: number;
  /** the cosine schedule ends at lrFinalFrac × lrMax (paper: 0.1) */
  lrFinalFrac: number;
  adamB1: number;
  adamB2: number;
  adamEps: number;
  /** decoupled weight decay, not scaled by the learning rate (paper 4.4); 0 = off */
  wdLam: number;
  /** global-norm clip; 0 = off */
  gradClip: number;
  /** evaluate every this many updates (0 = only at the end) */
  evalEvery: number;
  /** checkpoint every this many updates */
  saveEvery: number;
  /** tokens of the validation split per periodic evaluation (0 = all) */
  evalTokens: number;
  seed: number;
}

export interface SamplingConfig {
  /** nucleus p */
  topP: number;
  temperature: number;
}

export interface Config {
  /** preset name this config came from */
  preset: string;
  model: ModelConfig;
  train: TrainConfig;
  sampling: SamplingConfig;
}

// ---------------------------------------------------------------------------------------------------------------
// Presets (data). Paper presets follow docs/paper.md §4: the optimized-branch configs (T = 8192 / 8192 / 12288,
// L = M = 512, S = 512, batch 32 / 32 / 16, one parameter update per sequence) with the legacy scripts' regularizers
// and output heads. They are far beyond this machine; they exist so that the architecture (parameter count) and the
// hyperparameters are written down once, as data.
// ---------------------------------------------------------------------------------------------------------------

/** A deep partial of a config, for overrides. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

const BASE_MODEL: ModelConfig = {
  vocabSize: 259, dModel: 768, dK: 128, dV: 1536, headType: "shga", nHead: 1, nLayer: 24, dFF: 0,
  nCode: 512, blockLen: 512, memLen: 512, attnType: "vq-parallel", fullChunk: 0, aggCache: true, gradThruCache: true,
  peAbs: false, peLam: 100_000, pDropEmb: 0, pDropSin: 0.2, pDropRes: 0.5, pDropLyr: 0.3,
  cBeta: 0.0001, cGamma: 0.99, eTie: false, ePreln: false, eScale: 1.0,
};

const BASE_TRAIN: TrainConfig = {
  batchSize: 32, sequenceLen: 8192, updateLen: 8192, optimizer: "adamw", lrMax: 4e-4, warmupSteps: 10_000,
  maxSteps: 125_000, lrFinalFrac: 0.1, adamB1: 0.9, adamB2: 0.98, adamEps: 1e-9, wdLam: 2e-4, gradClip: 0.1,
  evalEvery: 100, saveEvery: 1000, evalTokens: 0, seed: 0,
};

function preset(name: string, model: Partial<ModelConfig>, train: Partial<TrainConfig>, sampling: Partial<SamplingConfig>): Config {
  return {
    preset: name,
    model: { ...BASE_MODEL, ...model },
    train: { ...BASE_TRAIN, ...train },
    sampling: { topP: 0.9, temperature: 1.0, ...sampling },
  };
}

/** Every preset by name. Read with `getPreset` (which copies); never mutate these. */
export const PRESETS: Readonly<Record<string, Config>> = {
  /** Enwik8, ~190M parameters (187,679,491 with codebooks; paper §1.2 / §4.1). */
  "paper-enwik8": preset("paper-enwik8", {}, {}, { topP: 0.9 }),
  /** PG-19, ~1.3B parameters: 32k SentencePiece vocab, tied head with RMSNorm and e_scale, Adafactor. */
  "paper-pg19": preset("paper-pg19",
    { vocabSize: 32_000, dModel: 2048, dV: 4096, pDropSin: 0.1, pDropRes: 0.1, pDropLyr: 0.1, eTie: true, ePreln: true, eScale: 0.005 },
    { optimizer: "adafactor", lrMax: 1e-2, maxSteps: 500_000, wdLam: 0, gradClip: 0 },
    { topP: 0.8 }),
  /** ImageNet64, ~1.2B parameters: one 64×64×3 image = 12,288 byte tokens; absolute sinusoid (legacy script). */
  "paper-imagenet64": preset("paper-imagenet64",
    { dModel: 2048, dV: 4096, peAbs: true, pDropSin: 0.1, pDropRes: 0.0, pDropLyr: 0.0, eTie: true, ePreln: true, eScale: 0.005 },
    { batchSize: 16, sequenceLen: 12_288, updateLen: 12_288, optimizer: "adafactor", lrMax: 1e-2, maxSteps: 500_000, wdLam: 0, gradClip: 0 },
    { topP: 0.999 }),
  /** The throughput study (paper §3, config_throughput.py): 20 short steps at batch 8; vary T, attnType, headType. */
  "paper-throughput": preset("paper-throughput",
    { pDropSin: 0.1, pDropRes: 0.0, pDropLyr: 0.0 },
    { batchSize: 8, warmupSteps: 10, maxSteps: 20, wdLam: 0, evalEvery: 0, saveEvery: 100 },
    {}),
  /** Tests and smoke runs: a fraction of a second per step on one core. */
  tiny: preset("tiny",
    { dModel: 32, dK: 8, dV: 64, nLayer: 1, nCode: 16, blockLen: 8, memLen: 8, pDropSin: 0.1, pDropRes: 0.1, pDropLyr: 0.0 },
    { batchSize: 2, sequenceLen: 32, updateLen: 32, lrMax: 1e-3, warmupSteps: 5, maxSteps: 20, wdLam: 0, evalEvery: 10, saveEvery: 10, evalTokens: 4096 },
    {}),
  /** What the notebooks' default profile trains on the 2-core CPU (wasm backend) in about 10-15 minutes. */
  "cpu-small": preset("cpu-small",
    { dModel: 128, dK: 32, dV: 256, nLayer: 2, nCode: 64, blockLen: 64, memLen: 64, pDropSin: 0.1, pDropRes: 0.1, pDropLyr: 0.0 },
    { batchSize: 8, sequenceLen: 512, updateLen: 512, lrMax: 2e-3, warmupSteps: 50, maxSteps: 600, wdLam: 0, evalEvery: 100, saveEvery: 100, evalTokens: 65_536 },
    {}),
};

/** Names of all presets. */
export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** Deep merge of `overrides` into a copy of `base`; unknown keys are errors (they are always typos). */
export function mergeConfig<T extends object>(base: T, overrides: DeepPartial<T> | undefined, path = "config"): T {
  return deepMerge(base, overrides, (at, known) => {
    throw new Error(`${at} is not a config field; known fields: ${known.join(", ")}`);
  }, path);
}

/**
 * Deep merge of two partial configs: `b` wins, nested objects merge ({model: {dModel: 64}} + {model: {nCode: 8}} ->
 * {model: {dModel: 64, nCode: 8}}). Field names are checked later, by getPreset.
 */
export function mergeOverrides(a: DeepPartial<Config>, b: DeepPartial<Config>): DeepPartial<Config> {
  return deepMerge(a, b);
}

/**
 * A fresh copy of preset `name` with `overrides` deep-merged in, validated.
 * @param name one of `presetNames()`
 * @param overrides e.g. `{ model: { nCode: 256 }, train: { seed: 3 } }`
 */
export function getPreset(name: string, overrides?: DeepPartial<Config>): Config {
  const base = PRESETS[name];
  if (!base) throw new Error(`preset '${name}' does not exist; use one of: ${presetNames().join(", ")}`);
  const cfg = mergeConfig(base, overrides);
  if (overrides?.preset === undefined) cfg.preset = name;
  validateConfig(cfg);
  return cfg;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation: every rule names the field, the value and the fix.
// ---------------------------------------------------------------------------------------------------------------

function isInt(x: number): boolean {
  return Number.isInteger(x);
}

/** Problems with a model config, one message each (empty when valid). Needs T and the update length for the
 *  block rules when given. */
export function modelConfigErrors(m: ModelConfig, sequenceLen?: number, updateLen?: number): string[] {
  const e: string[] = [];
  const posInt = (field: keyof ModelConfig, min = 1) => {
    const v = m[field] as number;
    if (typeof v !== "number" || !isInt(v) || v < min) e.push(`model.${field} = ${v}: must be an integer ≥ ${min}`);
  };
  posInt("vocabSize", 4);
  posInt("dModel");
  posInt("dK");
  posInt("dV");
  posInt("nHead");
  posInt("nLayer");
  posInt("dFF", 0);
  posInt("nCode");
  posInt("blockLen");
  posInt("memLen");
  if (m.fullChunk !== undefined) posInt("fullChunk", 0);
  if (!ATTN_TYPES.includes(m.attnType)) e.push(`model.attnType = ${JSON.stringify(m.attnType)}: use one of ${ATTN_TYPES.join(", ")}`);
  const HEADS = ["shga", "mha", "mqa"];
  if (!HEADS.includes(m.headType)) e.push(`model.headType = ${JSON.stringify(m.headType)}: use one of ${HEADS.join(", ")}`);
  if (m.headType === "shga" && m.nHead !== 1) e.push(`model.nHead = ${m.nHead}: headType shga (single-head gated attention) requires nHead = 1; use mha or mqa for more heads`);
  if (m.headType === "shga" && m.dFF !== 0) e.push(`model.dFF = ${m.dFF}: headType shga has no MLP (two GAUs per layer); set dFF = 0`);
  if ((m.headType === "mha" || m.headType === "mqa") && m.dFF < 1) e.push(`model.dFF = ${m.dFF}: headType ${m.headType} layers are attention + MLP; set dFF > 0 (the paper uses 4·d_model for mha, 5·d_model for mqa)`);
  if (m.attnType === "vq-parallel" && m.memLen !== m.blockLen) {
    e.push(`model.memLen = ${m.memLen}: attnType vq-parallel attends to exactly the previous block, so M must equal L = ${m.blockLen}; set memLen = blockLen or use vq-recurrent`);
  }
  for (const f of ["pDropEmb", "pDropSin", "pDropRes", "pDropLyr"] as const) {
    const v = m[f];
    if (!(v >= 0 && v < 1)) e.push(`model.${f} = ${v}: a dropout rate must be in [0, 1)`);
  }
  if (!(m.cBeta >= 0)) e.push(`model.cBeta = ${m.cBeta}: the commitment coefficient must be ≥ 0 (paper: 0.0001)`);
  if (!(m.cGamma >= 0 && m.cGamma < 1)) e.push(`model.cGamma = ${m.cGamma}: the codebook EMA rate must be in [0, 1) (paper: 0.99)`);
  if (!(m.eScale > 0)) e.push(`model.eScale = ${m.eScale}: the output scale must be > 0 (1.0 untied, 0.005 tied)`);
  if (!(m.peLam > 1)) e.push(`model.peLam = ${m.peLam}: the sinusoids' max wavelength must be > 1 (paper: 100000)`);
  if (sequenceLen !== undefined && updateLen !== undefined && isInt(m.blockLen) && m.blockLen > 0) {
    const T = sequenceLen, U = updateLen, L = m.blockLen;
    if (isInt(U) && U > 0 && U % L !== 0) e.push(`model.blockLen = ${L}: L must divide train.updateLen = ${U}; pick L among the divisors of ${U}`);
    if (isInt(T) && T > 0 && T % L !== 0) e.push(`model.blockLen = ${L}: L must divide train.sequenceLen T = ${T}; pick L among the divisors of ${T}`);
    if (isQuadraticForm(m.attnType) && U !== T) {
      e.push(`train.updateLen = ${U}: attnType ${m.attnType} is quadratic and carries no state between calls, so the update length must equal T = ${T}; set updateLen = sequenceLen`);
    }
  }
  return e;
}

/** Problems with a whole config, one message each (empty when valid). */
export function configErrors(cfg: Config): string[] {
  const e = modelConfigErrors(cfg.model, cfg.train.sequenceLen, cfg.train.updateLen);
  const t = cfg.train;
  const posInt = (field: keyof TrainConfig, min = 1) => {
    const v = t[field] as number;
    if (typeof v !== "number" || !isInt(v) || v < min) e.push(`train.${field} = ${v}: must be an integer ≥ ${min}`);
  };
  posInt("batchSize");
  posInt("sequenceLen");
  posInt("updateLen");
  posInt("warmupSteps", 0);
  posInt("maxSteps");
  posInt("evalEvery", 0);
  posInt("saveEvery", 0);
  posInt("evalTokens", 0);
  posInt("seed", 0);
  if (isInt(t.sequenceLen) && isInt(t.updateLen) && t.updateLen > 0 && t.sequenceLen % t.updateLen !== 0) {
    e.push(`train.updateLen = ${t.updateLen}: the update length must divide T = ${t.sequenceLen}; pick a divisor of ${t.sequenceLen}`);
  }
  if (!["adamw", "adafactor"].includes(t.optimizer)) e.push(`train.optimizer = ${JSON.stringify(t.optimizer)}: use adamw or adafactor`);
  if (!(t.lrMax > 0)) e.push(`train.lrMax = ${t.lrMax}: the peak learning rate must be > 0`);
  if (!(t.lrFinalFrac >= 0 && t.lrFinalFrac <= 1)) e.push(`train.lrFinalFrac = ${t.lrFinalFrac}: must be in [0, 1] (paper: 0.1)`);
  for (const f of ["adamB1", "adamB2"] as const) {
    if (!(t[f] >= 0 && t[f] < 1)) e.push(`train.${f} = ${t[f]}: an Adam beta must be in [0, 1)`);
  }
  if (!(t.adamEps > 0)) e.push(`train.adamEps = ${t.adamEps}: must be > 0`);
  if (!(t.wdLam >= 0)) e.push(`train.wdLam = ${t.wdLam}: weight decay must be ≥ 0 (0 = off)`);
  if (!(t.gradClip >= 0)) e.push(`train.gradClip = ${t.gradClip}: the global-norm clip must be ≥ 0 (0 = off)`);
  const s = cfg.sampling;
  if (!(s.topP > 0 && s.topP <= 1)) e.push(`sampling.topP = ${s.topP}: nucleus p must be in (0, 1]`);
  if (!(s.temperature > 0)) e.push(`sampling.temperature = ${s.temperature}: must be > 0`);
  return e;
}

function throwIfAny(errors: string[], what: string): void {
  if (errors.length === 0) return;
  throw new Error(`invalid ${what}:\n  ${errors.join("\n  ")}`);
}

/** Throws one Error listing every problem of `cfg` (field, value, fix); returns cfg when valid. */
export function validateConfig(cfg: Config): Config {
  upgradeModelConfig(cfg.model);
  throwIfAny(configErrors(cfg), `config${cfg.preset ? ` (preset ${cfg.preset})` : ""}`);
  return cfg;
}

/** Throws when the model config alone is inconsistent (used by createModel, which has no T). */
export function validateModelConfig(m: ModelConfig): ModelConfig {
  upgradeModelConfig(m);
  throwIfAny(modelConfigErrors(m), "model config");
  return m;
}

/**
 * Throws when data holds token ids the model cannot embed.
 * @param maxTokenId the largest id in the data (or the tokenizer's vocabulary size − 1)
 * @param source where the ids come from, for the message
 */
export function checkVocabFits(m: ModelConfig, maxTokenId: number, source: string): void {
  if (maxTokenId >= m.vocabSize) {
    throw new Error(`model.vocabSize = ${m.vocabSize}: ${source} holds token id ${maxTokenId}; set vocabSize ≥ ${maxTokenId + 1}`);
  }
}
