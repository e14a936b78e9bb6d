/**
 * The results row of one experiment run: what runExperiment appends to results/<experiment>.{jsonl,csv}, typed
 * (`ExperimentRow`), and the pure functions that compute its columns from the run's config, training history and
 * final evaluation. Metrics are in the paper's units (docs/paper.md §1.4): loss = mean nats per target token,
 * bits per byte = nats / ln 2 / bytes, word-level perplexity = exp(nats / words). Every unit is kept in the row
 * (word perplexity wherever the split has a word count); which ones a page shows follows the tokenizer: bits per
 * byte for byte-level data, nats per token and word perplexity for BPE (scripts/summary.ts unitColumns).
 */
import { Config } from "../config";
import { countParamsOf } from "../nn/params";
import type { StepMetrics } from "../train/index";
import type { EvalResult } from "../train/evaluate";
import type { SplitName } from "../data/datasets";
import { median } from "../util/stats";
import type { ResultRow } from "./results";

/**
 * One row of results/<experiment>: identity, the swept parameters (spec.params, by their own names, untyped),
 * the config essentials as dotted columns, the final evaluation of the validation and test splits (the default
 * spec.evalSplits; a run with other splits lacks the others' columns), speed and codebook summaries, and the
 * stamps appendResult adds.
 */
export interface ExperimentRow extends ResultRow {
  experiment: string;
  run: string;
  /** ties the row to its run folder (runs/<experiment>/<run>/experiment.json) */
  run_uid: string;
  profile: string | null;
  preset: string;
  dataset: string;
  /** "bytes" or "bpe" */
  tokenizer: string;
  seed: number;
  /** parameter updates done */
  steps: number;
  n_params: number;
  "model.attnType": string;
  "model.headType": string;
  "model.dModel": number;
  "model.dK": number;
  "model.dV": number;
  "model.nLayer": number;
  /** codebook size S */
  "model.nCode": number;
  /** block length L */
  "model.blockLen": number;
  "model.memLen": number;
  "model.aggCache": boolean;
  "model.vocabSize": number;
  "train.batchSize": number;
  /** sequence length T */
  "train.sequenceLen": number;
  "train.updateLen": number;
  "train.optimizer": string;
  "train.lrMax": number;
  "train.maxSteps": number;
  /** mean nats per target token */
  val_loss: number;
  /** bits per byte of text (image data: per sub-pixel) */
  val_bpb: number;
  /** perplexity per token */
  val_ppl: number;
  /** word-level perplexity; null without word counts (images) */
  val_word_ppl: number | null;
  val_tokens: number;
  test_loss: number;
  test_bpb: number;
  test_ppl: number;
  test_word_ppl: number | null;
  test_tokens: number;
  /** median training speed, the first (compiling) update excluded; null without timings */
  tokens_per_s: number | null;
  step_time_s: number | null;
  /** seconds of training over all updates */
  train_s: number | null;
  /** nats per token over the last 10% of updates */
  train_loss: number | null;
  /** bits per byte over the last 10% of updates: byte-level data only (null for BPE: its tokens vary in bytes) */
  train_bpb: number | null;
  /** fraction of the S codewords hit per update, and the codes' entropy in bits (null for full attention) */
  code_usage: number | null;
  code_entropy_bits: number | null;
  /** seconds spent in runExperiment on this run, over all calls */
  wall_s: number;
  /** the run folder, relative to the repository */
  run_dir: string;
  timestamp: string;
  git_commit: string;
  git_dirty: boolean | null;
  backend: string;
  backend_detail: string;
  node: string;
}

/** Columns every row has; spec.params must not reuse them. */
export const RESERVED_COLUMNS = new Set(["experiment", "run", "run_uid", "profile", "preset", "dataset", "tokenizer", "seed", "steps"]);

/** Mean of the last `frac` of the values (at least one). */
function tailMean(xs: number[], frac = 0.1): number | null {
  if (xs.length === 0) return null;
  const k = Math.max(1, Math.round(xs.length * frac));
  const tail = xs.slice(-k);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

/**
 * Speed and codebook summaries of a training history: median tokens/s and seconds per update (the first update,
 * which compiles kernels, excluded), final train loss (nats per token; bits per byte for byte-level data) and
 * codebook usage/entropy (means over the last 10% of updates).
 * @param history metrics.jsonl records; tokensPerUpdate = B·U
 * @param tokenizer the dataset's: train_bpb only for "bytes"
 */
export function historySummary(history: StepMetrics[], tokensPerUpdate: number, tokenizer: "bytes" | "bpe" = "bytes"): Record<string, number | null> {
  const timed = history.length > 1 ? history.slice(1) : history;
  const tps = timed.map((m) => m.tokensPerSec).filter((x) => x > 0);
  return {
    tokens_per_s: tps.length ? median(tps) : null,
    step_time_s: tps.length ? median(tps.map((t) => tokensPerUpdate / t)) : null,
    train_s: tps.length ? history.reduce((a, m) => a + (m.tokensPerSec > 0 ? tokensPerUpdate / m.tokensPerSec : 0), 0) : null,
    train_loss: tailMean(history.map((m) => m.loss)), // nats per token (StepMetrics.bpb is per token, not per byte)
    train_bpb: tokenizer === "bytes" ? tailMean(history.map((m) => m.bpb)) : null, // one token = one byte
    code_usage: tailMean(history.map((m) => m.codeUsage)),
    code_entropy_bits: tailMean(history.map((m) => m.codeEntropy)),
  };
}

/** "validation" → "val", "test" → "test", "train" → "train": the column prefix of a split's metrics. */
export function splitPrefix(split: SplitName): string {
  return split === "validation" ? "val" : split;
}

/** A split's metrics as row columns: <prefix>_{loss, bpb, ppl, word_ppl, tokens}. */
export function evalColumns(r: EvalResult): Record<string, number | null> {
  const p = splitPrefix(r.split as SplitName);
  return {
    [`${p}_loss`]: r.loss, [`${p}_bpb`]: r.bpb, [`${p}_ppl`]: r.ppl,
    [`${p}_word_ppl`]: r.wordPpl ?? null, [`${p}_tokens`]: r.tokens,
  };
}

/** The config columns a row keeps (nested: flattened to model.nCode etc. by appendResult). */
export function configEssentials(cfg: Config): Record<string, unknown> {
  const m = cfg.model, t = cfg.train;
  return {
    n_params: countParamsOf(m),
    model: {
      attnType: m.attnType, headType: m.headType, dModel: m.dModel, dK: m.dK, dV: m.dV, nLayer: m.nLayer,
      nCode: m.nCode, blockLen: m.blockLen, memLen: m.memLen, aggCache: m.aggCache, vocabSize: m.vocabSize,
    },
    train: {
      batchSize: t.batchSize, sequenceLen: t.sequenceLen, updateLen: t.updateLen, optimizer: t.optimizer, lrMax: t.lrMax,
      maxSteps: t.maxSteps,
    },
  };
}
