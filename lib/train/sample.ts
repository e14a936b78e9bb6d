/**
 * Sampling with the recurrent state (paper section 3 and the official sample_op): the model runs with block
 * length 1, so each new token costs one step of the linear-time recurrence — attention over the last M keys plus
 * the compressive cache of per-code value sums — instead of attention over the whole prefix.
 * Every sequence is prompted with EOS (the data convention, docs/paper.md §6), then the optional prompt, then tokens
 * drawn by nucleus (top-p) sampling (Holtzman et al., 2020): keep the most probable tokens until their
 * probability mass reaches p, renormalize, draw. Logits are divided by the temperature first.
 * The draw uses the seeded host PRNG of lib/runtime/rng.ts, so the same seed gives the same samples on every backend whose forward pass
 * agrees bitwise.
 *
 * `drawSample` is the one front-end (runExperiment, `npm run sample`): a request with defaults, the prompt encoded
 * with the data's tokenizer, the tokens decoded into texts or images.
 */
import * as tf from "../runtime/tf";
import { forward } from "../nn/model";
import { Model } from "../nn/params";
import { disposeState, initState, replaceState, tidyWithState } from "../nn/state";
import { EOS_ID, PAD_ID, Tokenizer, decodePrintable, encodeText } from "../data/vocab";
import { ImageShape, decodeImage } from "../data/image";
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
        const o = forward(model, inp, state, { training: false, blockLen: 1, idsChecked: true }); // the prompt was checked above; drawn ids are < V
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
 * What a sample asks for. topP, temperature and seed are required (runExperiment fills them from the config);
 * length defaults to one whole image for image data and 256 tokens for text, batch to 1, prompt to none.
 */
export interface SampleRequest {
  /** new tokens per row (images: fewer than h·w·c leave the image's last pixels black) */
  length?: number;
  /** rows sampled together (one recurrent state row each) */
  batch?: number;
  topP: number;
  temperature: number;
  seed: number;
  /** text fed after the initial EOS, encoded with the source's tokenizer (text only) */
  prompt?: string;
}

/** A request with every default filled in (the cache key of a run folder's sample.json). */
export type SampleSettings = Required<SampleRequest>;

/** What samples decode with: a Dataset, or a run folder's data (lib/train/loop.ts readRunData). */
export interface SampleSource {
  kind: "text" | "image";
  tokenizer: Tokenizer;
  /** [h, w, c] of image data */
  imageShape?: ImageShape | null;
}

/** Sampled tokens, decoded for their source. */
export interface Sample {
  options: SampleSettings;
  /** [batch][length] token ids (prompt excluded) */
  tokens: number[][];
  /** text: each row decoded with the tokenizer, prompt included; bytes that are not valid UTF-8 (a byte-level
   *  model can emit any byte) and control characters other than newline and tab appear as \xNN escapes
   *  (lib/data/vocab.ts printableText), never as U+FFFD */
  texts?: string[];
  /** images: each row as pixels [h·w·c] */
  images?: Uint8Array[];
  imageShape?: ImageShape;
}

function imageShapeOf(source: SampleSource): ImageShape {
  if (!source.imageShape) throw new Error("sample: image data needs its imageShape [h, w, c]");
  return source.imageShape;
}

/** The request with its defaults, in a fixed key order (settings compare as JSON). */
export function sampleSettings(req: SampleRequest, source: SampleSource): SampleSettings {
  const length = req.length ?? (source.kind === "image" ? imageShapeOf(source).reduce((a, b) => a * b, 1) : 256);
  // checked here, not deep in sampleTokens, where a bad count fails as "Invalid typed array length" or worse
  if (!(Number.isInteger(length) && length >= 0)) throw new Error(`sample length ${length} must be an integer ≥ 0 (new tokens per row)`);
  if (req.batch !== undefined && !(Number.isInteger(req.batch) && req.batch >= 1)) throw new Error(`sample batch ${req.batch} must be an integer ≥ 1 (rows sampled together)`);
  return { length, batch: req.batch ?? 1, topP: req.topP, temperature: req.temperature, seed: req.seed, prompt: req.prompt ?? "" };
}

/**
 * Decodes sampled tokens for their source: texts (prompt included) or images. An image sample shorter than an
 * image (smoke runs) is filled with PAD, which decodes black.
 */
export function decodeSample(options: SampleSettings, tokens: number[][], source: SampleSource): Sample {
  if (source.kind === "text") return { options, tokens, texts: tokens.map((t) => options.prompt + decodePrintable(source.tokenizer, t)) };
  const [h, w, c] = imageShapeOf(source);
  const fill = (t: number[]) => (t.length >= h * w * c ? t : [...t, ...new Array<number>(h * w * c - t.length).fill(PAD_ID)]);
  return { options, tokens, imageShape: [h, w, c], images: tokens.map((t) => decodeImage(fill(t), h, w, c)) };
}

/**
 * The one sampling front-end: checks that the model carries a recurrent state, encodes the prompt, samples
 * (sampleTokens) and decodes. Show images with lib/data/image.ts imageGridPNG.
 * @param source the data the model was trained on (its tokenizer, or its image shape)
 * @param onToken progress, called after every new token
 */
export function drawSample(model: Model, source: SampleSource, req: SampleRequest, onToken?: (done: number, total: number) => void): Sample {
  const attn = model.config.attnType;
  if (attn === "full" || attn === "vq-quadratic") {
    throw new Error(`sample: attnType ${attn} carries no recurrent state, so it cannot sample with block length 1; ` +
      `sample from a vq-recurrent or vq-parallel run (omit spec.sample for this run)`);
  }
  const options = sampleSettings(req, source);
  if (options.prompt && source.kind === "image") throw new Error("sample.prompt: image datasets take no text prompt; omit it");
  const prompt = options.prompt ? Array.from(encodeText(source.tokenizer, options.prompt)) : [];
  const rows = sampleTokens(model, { ...options, prompt, onToken });
  return decodeSample(options, rows.map((r) => Array.from(r)), source);
}
