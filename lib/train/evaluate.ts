/**
 * Evaluation in the paper's units (section 1.4). The loss is the mean cross-entropy in nats per non-pad target
 * token, −(1/N) Σ_t log p(x_t | x_<t); byte-level data (Enwik8, ImageNet64) reports bits per byte = nats / ln 2
 * (in general total nats / ln 2 / bytes of the scored text, so subword runs are comparable); PG-19 reports
 * word-level perplexity exp(total nats / number of words). Reports show word-level perplexity for subword (BPE)
 * text only (`reportsWordPerplexity`): for byte-level data the convention is bits per byte, and exp(nats / words)
 * of a byte model early in training is a number like 1e15–1e19 that nothing compares with.
 * A split is cut into non-overlapping windows of T tokens; each window starts from a fresh recurrent state, its
 * input is [EOS] + targets[:-1], and it is run block-recurrently (in pieces of updateLen tokens carrying the
 * state), so every token sees at most T tokens of context, exactly as the official eval_op.
 */
import * as tf from "../runtime/tf";
import { Config } from "../config";
import { graphEnabled } from "../runtime/graph";
import { checkTokenIds, codebookTargets, forward } from "../nn/model";
import { Model } from "../nn/params";
import { RecurrentState, disposeState, initState, replaceState, stateFromTensors, stateTensors, tidyWithState } from "../nn/state";
import { Batch, TokenStream, batchSegment, evalBatches, segmentCount, sequenceCount } from "../data/batches";
import { Dataset, SplitName } from "../data/datasets";
import { countWords } from "../data/pg19";
import { callModelGraph } from "./graphs";

/** Evaluation result for one split. */
export interface EvalResult {
  split: string;
  /** mean nats per non-pad target token */
  loss: number;
  /** bits per byte: nats / ln 2 / bytes of the scored text (= loss / ln 2 on byte data without EOS) */
  bpb: number;
  /** bytes of the scored text (pixel values for images); undefined when unknown, then bpb = loss / ln 2 */
  bytes?: number;
  /** exp(loss): per-token perplexity */
  ppl: number;
  /** non-pad target tokens scored */
  tokens: number;
  /** windows of T evaluated */
  windows: number;
  /** windows of T in the whole stream (= windows when the whole split was scored); set by evaluateStream (records
   *  logged before it existed lack it) */
  windowsTotal?: number;
  /** total nats (for word-level perplexity) */
  nats: number;
  /** word-level perplexity exp(nats / words), when the split's word count is known (PG-19 style) */
  wordPpl?: number;
  words?: number;
}

/**
 * Whether a report shows word-level perplexity for data of this tokenizer: subword (BPE) text yes, with nats per
 * token (the PG-19 convention); byte-level data no, it reports bits per byte (docs/paper.md §1.4).
 */
export function reportsWordPerplexity(tokenizerKind: "bytes" | "bpe"): boolean {
  return tokenizerKind !== "bytes";
}

/** Bits per byte (or per token) from nats per token. */
export function bitsPerByte(natsPerToken: number): number {
  return natsPerToken / Math.LN2;
}

/** Word-level perplexity exp(total nats / words): the PG-19 convention (Rae et al., 2020 word counts). */
export function wordPerplexity(totalNats: number, words: number): number {
  if (!(words > 0)) throw new Error(`word count ${words} must be positive: pass the split's word count from the dataset`);
  return Math.exp(totalNats / words);
}

/**
 * Flat indices i·V + target_i into logProbs reshaped to [B·n·V], for gathering log p(target).
 * targets: [B·n] token ids; V: vocabulary size. Throws on ids outside [0, V).
 */
export function targetIndices(targets: Int32Array, V: number): Int32Array {
  const idx = new Int32Array(targets.length);
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (!(t >= 0 && t < V)) {
      throw new Error(`target token ${t} at position ${i} is outside the vocabulary [0, ${V}): the data does not match the model's vocabSize`);
    }
    idx[i] = i * V + t;
  }
  return idx;
}

/**
 * Σ over tokens of −log p(target) · mask (a scalar tensor, differentiable w.r.t. logProbs).
 * logProbs: [B, n, V]; targets: [B·n] int ids (host array); mask: [B, n] float (1 = real token).
 */
export function maskedNLLSum(logProbs: tf.Tensor3D, targets: Int32Array, mask: tf.Tensor2D): tf.Scalar {
  const [B, n, V] = logProbs.shape;
  if (targets.length !== B * n || mask.shape[0] !== B || mask.shape[1] !== n) {
    throw new Error(`maskedNLLSum: logProbs [${logProbs.shape}], targets [${targets.length}] and mask [${mask.shape}] disagree (want B·n = ${B * n})`);
  }
  return tf.tidy(() => maskedNLLSumAt(logProbs, tf.tensor1d(targetIndices(targets, V), "int32"), mask));
}

/** maskedNLLSum with the targets given as flat indices into logProbs (targetIndices), as a tensor [B·n]. */
export function maskedNLLSumAt(logProbs: tf.Tensor3D, idx: tf.Tensor1D, mask: tf.Tensor2D): tf.Scalar {
  const [B, n, V] = logProbs.shape;
  return tf.tidy(() => {
    const lp = tf.gather(tf.reshape(logProbs, [B * n * V]), idx);
    return tf.neg(tf.sum(tf.mul(lp, tf.reshape(mask, [B * n])))) as tf.Scalar;
  });
}

/** The tensors of one evaluated segment: token ids [B, U], flat target indices, loss mask [B, U]. */
interface SegmentFeeds { inputs: tf.Tensor2D; idx: tf.Tensor1D; mask: tf.Tensor2D }

/** Σ −log p of the scored targets of one segment and the state after it: a pure function of tensors. */
function segmentNLL(model: Model, x: SegmentFeeds, state: RecurrentState): [RecurrentState, tf.Scalar] {
  const o = forward(model, x.inputs, state, { training: false, idsChecked: true }, x.mask);
  return [o.state, maskedNLLSumAt(o.logProbs, x.idx, x.mask)];
}

/** segmentNLL through its graph on the native backend (callModelGraph); inputs: parameters, codebooks, state, feeds. */
function graphNLL(model: Model, x: SegmentFeeds, state: RecurrentState): [RecurrentState, tf.Scalar] {
  const st = stateTensors(state);
  const inputs = [...model.params.values(), ...codebookTargets(model), ...st, x.inputs, x.idx, x.mask];
  const fn = () => {
    const [next, nll] = segmentNLL(model, x, state);
    return [nll, ...stateTensors(next)];
  };
  const out = callModelGraph(model, "eval", state, 0, fn, inputs); // no dropout: seed unused
  return [stateFromTensors(state.pos + x.inputs.shape[1], out.slice(1)), out[0] as tf.Scalar];
}

/**
 * Total nats and scored tokens of one batch of windows, run from a fresh state in segments of U tokens.
 * batch: inputs/targets/lossMask [B·T] (lib/data/batches.ts); U divides T and is a multiple of the model's L.
 * On the native backend each segment runs as one TensorFlow graph (graphEnabled), the same function to float32 rounding.
 */
export function windowNLL(model: Model, batch: Batch, U: number): { nats: number; tokens: number } {
  const { B } = batch;
  const V = model.config.vocabSize;
  const nSeg = segmentCount(batch.T, U);
  let state = initState(model, B);
  let nats = 0, tokens = 0;
  try {
    for (let j = 0; j < nSeg; j++) {
      const seg = batchSegment(batch, j, U);
      checkTokenIds(seg.inputs, V);
      const [next, nll] = tidyWithState(() => {
        const x: SegmentFeeds = {
          inputs: tf.tensor2d(seg.inputs, [B, U], "int32"), idx: tf.tensor1d(targetIndices(seg.targets, V), "int32"),
          mask: tf.tensor2d(seg.lossMask, [B, U]),
        };
        return graphEnabled() ? graphNLL(model, x, state) : segmentNLL(model, x, state);
      });
      nats += nll.dataSync()[0];
      nll.dispose();
      state = replaceState(state, next);
      for (let i = 0; i < seg.lossMask.length; i++) tokens += seg.lossMask[i];
    }
  } finally {
    disposeState(state);
  }
  return { nats, tokens };
}

/** Options for `evaluateStream`. */
export interface EvaluateOptions {
  /** split name for the record */
  split?: string;
  /** score only the first windows covering this many tokens (0 = all; training uses train.evalTokens) */
  maxTokens?: number;
  /** word count of the scored text, for word-level perplexity */
  words?: number;
  /** byte count of the scored text, for bits per byte (default: bpb = loss / ln 2) */
  bytes?: number;
  /** called after each batch with the windows done and the windows in all */
  onProgress?: (windowsDone: number, windowsTotal: number) => void;
}

/**
 * Loss, bpb and perplexity of `model` on a token stream [N]: non-overlapping windows of T = cfg.train.sequenceLen
 * (lib/data/batches.ts evalBatches: B = cfg.train.batchSize windows per batch, the last batch padded with PAD
 * rows), each run recurrently in segments of cfg.train.updateLen tokens from a fresh state.
 */
export function evaluateStream(model: Model, tokens: TokenStream, cfg: Config, opts: EvaluateOptions = {}): EvalResult {
  const { sequenceLen: T, batchSize: B, updateLen } = cfg.train;
  if (tokens.length === 0) throw new Error(`evaluation split ${opts.split ?? ""} is empty: the dataset has no tokens there`);
  const budget = opts.maxTokens ?? 0;
  if (!(Number.isInteger(budget) && budget >= 0)) throw new Error(`maxTokens = ${budget} must be an integer ≥ 0 (0 = the whole split)`);
  const maxSequences = opts.maxTokens && opts.maxTokens > 0 ? Math.ceil(opts.maxTokens / T) : 0;
  const windowsTotal = sequenceCount(tokens, T);
  const nWin = Math.min(windowsTotal, maxSequences || Infinity);
  let nats = 0, scored = 0, windows = 0;
  for (const batch of evalBatches(tokens, { B, T, maxSequences })) {
    const r = windowNLL(model, batch, updateLen);
    nats += r.nats;
    scored += r.tokens;
    windows = Math.min(windows + B, nWin);
    opts.onProgress?.(windows, nWin);
  }
  const loss = nats / scored;
  const bpb = opts.bytes !== undefined ? bitsPerByte(nats / opts.bytes) : bitsPerByte(loss);
  const res: EvalResult = { split: opts.split ?? "validation", loss, bpb, ppl: Math.exp(loss), tokens: scored, windows, windowsTotal, nats };
  if (opts.bytes !== undefined) res.bytes = opts.bytes;
  if (opts.words !== undefined) {
    res.words = opts.words;
    res.wordPpl = wordPerplexity(nats, opts.words);
  }
  return res;
}

/**
 * Bytes and words of the text that an evaluation with budget `maxTokens` scores: the dataset's own counts for a
 * whole split, else counted on the decoded first windows. Images: bytes = pixel values, no words.
 */
export function scoredTextCounts(ds: Dataset, split: SplitName, T: number, maxTokens = 0): { bytes: number; words?: number } {
  const stream = ds.splits[split];
  const n = maxTokens > 0 ? Math.min(stream.length, Math.ceil(maxTokens / T) * T) : stream.length;
  if (n === stream.length) return { bytes: ds.byteCounts[split], words: ds.wordCounts?.[split] };
  if (ds.kind === "image") return { bytes: n };
  const text = ds.tokenizer.decode(stream.subarray(0, n));
  return { bytes: text.length, words: countWords(text) };
}

/**
 * Throws when the train or validation split holds fewer tokens than one sequence of T: training would mostly see
 * padding, and the validation score (val_bpb) would rest on a handful of tokens (1 for a file a little shorter
 * than T). The message names the sizes and the two fixes (more data, or a shorter T).
 */
export function checkSplitsHoldSequence(ds: Dataset, T: number): void {
  const short = (["train", "validation"] as const).filter((s) => ds.splits[s].length < T);
  if (short.length === 0) return;
  const sizes = (["train", "validation"] as const).map((s) => `${s} ${ds.splits[s].length} tokens (${ds.byteCounts[s]} bytes)`).join(", ");
  const fits = Math.min(ds.splits.train.length, ds.splits.validation.length);
  throw new Error(`${ds.name} is too short for sequences of T = ${T} tokens: ${sizes}; the ${short.join(" and ")} split must hold at ` +
    `least one sequence of T tokens. Use more data (a single file is split 90/5/5, so at least ${20 * T} tokens of it), ` +
    `or shorten the sequence: --set train.sequenceLen=N --set train.updateLen=N with N ≤ ${fits} a multiple of model.blockLen = L.`);
}

/**
 * Loss (nats/token), bits per byte, perplexity and (subword text) word-level perplexity of `model` on one split of
 * a dataset (lib/data/datasets.ts), windows of T = cfg.train.sequenceLen with the state reset per window.
 * opts.maxTokens limits the evaluation to the first windows (0 = the whole split).
 */
export function evaluate(model: Model, ds: Dataset, split: SplitName, cfg: Config, opts: Omit<EvaluateOptions, "split" | "words" | "bytes"> = {}): EvalResult {
  const counts = scoredTextCounts(ds, split, cfg.train.sequenceLen, opts.maxTokens ?? 0);
  return evaluateStream(model, ds.splits[split], cfg, { ...opts, split, ...counts });
}
