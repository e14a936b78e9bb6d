/**
 * Sampling with the recurrent state (paper section 3 and the official sample_op): the model runs with block
 * length 1, so each new token costs one step of the linear-time recurrence — attention over the last M keys plus
 * the compressive cache of per-code value sums — instead of attention over the whole prefix.
 * Every sequence is prompted with EOS (the data convention, paper §6), then the optional prompt, then tokens
 * drawn by nucleus (top-p) sampling (Holtzman et al., 2020): keep the most probable tokens until their
 * probability mass reaches p, renormalize, draw. Logits are divided by the temperature first.
 * The draw uses the seeded host PRNG of lib/runtime/rng.ts, so the same seed gives the same samples on every backend whose forward pass
 * agrees bitwise.
 */
import * as tf from "../runtime/tf";
import { Model, disposeState, forward, initState } from "../nn/model";
import { replaceState, tidyWithState } from "./evaluate";
import { EOS_ID, Tokenizer, decodeText, encodeText } from "../data/vocab";
import { ImageShape, decodeImage, encodePNG, imageGrid } from "../data/image";
import { Rng } from "../runtime/rng";

/**
 * The nucleus distribution: softmax(logProbs / temperature) restricted to the smallest set of most probable
 * tokens whose mass reaches topP, renormalized. The most probable token is always kept; temperature 0 = greedy.
 * logProbs: [V] → probabilities [V] (zeros outside the nucleus).
 */
export function nucleusProbs(logProbs: ArrayLike<number>, topP: number, temperature: number): Float64Array {
  if (!(topP > 0 && topP <= 1)) throw new Error(`sampling.topP = ${topP} must be in (0, 1]`);
  if (!(temperature >= 0)) throw new Error(`sampling.temperature = ${temperature} must be ≥ 0`);
  const V = logProbs.length;
  const out = new Float64Array(V);
  let best = 0;
  for (let i = 1; i < V; i++) if (logProbs[i] > logProbs[best]) best = i;
  if (temperature === 0) {
    out[best] = 1;
    return out;
  }
  let z = 0;
  for (let i = 0; i < V; i++) z += (out[i] = Math.exp((logProbs[i] - logProbs[best]) / temperature));
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => out[b] - out[a] || a - b);
  let mass = 0, kept = 0;
  for (const i of order) {
    if (kept > 0 && mass >= topP) {
      out[i] = 0;
      continue;
    }
    out[i] /= z;
    mass += out[i];
    kept++;
  }
  for (let i = 0; i < V; i++) out[i] /= mass;
  return out;
}

/** One draw from probabilities [V] (summing to 1) with a uniform u ∈ [0, 1). */
export function drawToken(probs: Float64Array, u: number): number {
  let acc = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    acc += probs[i];
    last = i;
    if (u < acc) return i;
  }
  return last;
}

export interface SampleOptions {
  /** new tokens per sequence */
  length: number;
  /** sequences sampled together (one recurrent state row each); default 1 */
  batch?: number;
  topP: number;
  temperature: number;
  seed: number;
  /** tokens fed after the initial EOS (same prompt for every row); default none */
  prompt?: ArrayLike<number>;
  /** called after every new token with the count so far */
  onToken?: (done: number, total: number) => void;
}

/**
 * Samples `length` new tokens per row with block length 1 and the recurrent state.
 * Returns [batch] arrays of [length] token ids (the prompt not included).
 */
export function sampleTokens(model: Model, opts: SampleOptions): Int32Array[] {
  const B = opts.batch ?? 1;
  const V = model.config.vocabSize;
  const prompt = Array.from(opts.prompt ?? []);
  for (const t of prompt) {
    if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new Error(`prompt token ${t} is outside the vocabulary [0, ${V}): encode the prompt with the run's tokenizer`);
  }
  const rng = new Rng(opts.seed);
  const out = Array.from({ length: B }, () => new Int32Array(opts.length));
  let state = initState(model, B);
  let feed: number[][] = Array.from({ length: B }, () => [EOS_ID, ...prompt]);
  try {
    for (let s = 0; s < opts.length; s++) {
      const n = feed[0].length;
      const [next, last] = tidyWithState(() => {
        const inp = tf.tensor2d(feed.flat(), [B, n], "int32");
        const o = forward(model, inp, state, { training: false, blockLen: 1 });
        return [o.state, tf.reshape(tf.slice(o.logProbs, [0, n - 1, 0], [B, 1, V]), [B, V])];
      });
      const lp = last.dataSync();
      last.dispose();
      state = replaceState(state, next);
      for (let b = 0; b < B; b++) {
        const probs = nucleusProbs(lp.subarray(b * V, (b + 1) * V), opts.topP, opts.temperature);
        out[b][s] = drawToken(probs, rng.nextFloat());
      }
      feed = out.map((row) => [row[s]]);
      opts.onToken?.(s + 1, opts.length);
    }
  } finally {
    disposeState(state);
  }
  return out;
}

/**
 * Text samples: `opts.prompt` (a string) is encoded with the run's tokenizer, `length` new tokens are sampled per
 * row and decoded (prompt included). Returns [batch] strings.
 */
export function sampleText(model: Model, tokenizer: Tokenizer, opts: Omit<SampleOptions, "prompt"> & { prompt?: string }): string[] {
  const prompt = opts.prompt ? Array.from(encodeText(tokenizer, opts.prompt)) : [];
  return sampleTokens(model, { ...opts, prompt }).map((row) => (opts.prompt ?? "") + decodeText(tokenizer, row));
}

/**
 * Image samples: each row is one image of h·w·c tokens (raster order, channels interleaved), decoded to pixels
 * and laid out in a grid, returned with the grid as PNG bytes (show it with display.ts, save it as a file).
 * images: [batch] pixel arrays [h·w·c]; png: the grid.
 */
export function sampleImages(model: Model, shape: ImageShape, opts: Omit<SampleOptions, "prompt" | "length">): { images: Uint8Array[]; png: Buffer } {
  const [h, w, c] = shape;
  const images = sampleTokens(model, { ...opts, length: h * w * c }).map((row) => decodeImage(row, h, w, c));
  const grid = imageGrid(images, h, w, c);
  return { images, png: encodePNG(grid.pixels, grid.w, grid.h, c) };
}
