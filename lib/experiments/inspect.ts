/**
 * Looking inside the quantizer: the keys of one attention sublayer, their shortcodes and codewords, and the axes
 * of a 2-D view of them (lib/notebook/figures/keys.ts draws it). Keys are projected on the two leading principal
 * axes of the keys (PCA by power iteration on the d_k × d_k covariance); codewords are projected on the same
 * axes, so a codeword sits among the keys it stands for when the codebook fits them (C_s is the running mean of
 * its keys: docs/paper.md §5.2).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { loadDataset } from "../data/datasets";
import { encodeBytes } from "../data/vocab";
import { ROOT } from "../util/io";
import { forward, updateCodebooks } from "../nn/model";
import { Model } from "../nn/params";
import { disposeState, initState } from "../nn/state";
import { CodeStats, codebook, quantizationMetrics, QuantizationMetrics, shortcodes } from "../nn/vq";

export interface KeysAndCodes {
  /** [n][d_k] keys (head 0) of the sampled positions */
  keys: number[][];
  /** [n] their shortcodes */
  codes: number[];
  /** [S][d_k] the codebook (head 0) */
  codewords: number[][];
  metrics: QuantizationMetrics;
}

/**
 * EMA codebook updates only (no gradient step): each call runs the model on one batch and moves every
 * codebook toward the mean of its keys — online k-means, the same update training applies.
 * @param batches [B, n] int32 token batches
 */
export function fitCodebooks(m: Model, batches: tf.Tensor2D[]): void {
  for (const ids of batches) {
    const st = initState(m, ids.shape[0]);
    let stats: CodeStats[] = [];
    tf.tidy(() => {
      const out = forward(m, ids, st, { training: false });
      stats = out.vqStats.map((s) => ({ codeSums: tf.keep(s.codeSums), codeCounts: tf.keep(s.codeCounts) }));
    });
    updateCodebooks(m, [stats]);
    stats.forEach((s) => tf.dispose([s.codeSums, s.codeCounts]));
    disposeState(st);
  }
}

/**
 * Keys of attention sublayer `sublayer` for a batch, with their shortcodes, the codebook and metrics.
 * @param ids      [B, n] int32 tokens
 * @param sublayer index into m.codebooks
 */
export function keysAndCodes(m: Model, ids: tf.Tensor2D, sublayer = 0): KeysAndCodes {
  if (!m.codebooks[sublayer]) throw new Error(`sublayer ${sublayer} does not exist (the model has ${m.codebooks.length} codebooks)`);
  const st = initState(m, ids.shape[0]);
  const out = tf.tidy(() => {
    const o = forward(m, ids, st, { training: false, returnKeys: true });
    const k = o.keys![sublayer]; // [B, h, n, d_k]
    const cb = m.codebooks[sublayer];
    const C = codebook(cb.cSum, cb.cCount);
    const z = shortcodes(k, C);
    const dK = k.shape[3];
    const head0 = (x: tf.Tensor) => tf.slice(x, [0, 0, 0, 0], [-1, 1, -1, -1]).reshape([-1, dK]);
    return { keys: head0(k), codes: tf.slice(z, [0, 0, 0], [-1, 1, -1]).reshape([-1]), C: tf.slice(C, [0, 0, 0], [1, -1, -1]).reshape([-1, dK]), k, Cfull: C };
  });
  const metrics = quantizationMetrics(out.k, out.Cfull);
  const res: KeysAndCodes = {
    keys: out.keys.arraySync() as number[][],
    codes: Array.from(out.codes.dataSync()),
    codewords: out.C.arraySync() as number[][],
    metrics,
  };
  tf.dispose(Object.values(out));
  disposeState(st);
  return res;
}

/**
 * Text to look at keys with: the FOLDOC training split (the offline Enwik8 stand-in) when it is available, else
 * the bytes of this kit's attention source code as byte tokens (a notebook then still runs without data).
 */
export function probeText(): { text: Uint16Array; source: string } {
  try {
    return { text: loadDataset("foldoc").splits.train, source: "FOLDOC (the offline Enwik8 stand-in)" };
  } catch {
    return { text: encodeBytes(fs.readFileSync(path.join(ROOT, "lib", "nn", "attention.ts"))), source: "lib/nn/attention.ts (no dataset available)" };
  }
}

/**
 * B windows of n tokens of a token stream as a [B, n] int32 batch, window b of batch i starting at
 * ((i·B + b)·n·7919) mod (length − n): spread over the stream, the same for the same i.
 */
export function textWindows(text: Uint16Array, i: number, B: number, n: number): tf.Tensor2D {
  if (text.length <= n) throw new Error(`textWindows: the text has ${text.length} tokens, a window needs more than n = ${n}`);
  const ids = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    const start = ((i * B + b) * n * 7919) % (text.length - n);
    ids.set(text.subarray(start, start + n), b * n);
  }
  return tf.tensor2d(ids, [B, n], "int32");
}

/**
 * The keys of one sublayer on a probe batch before and after fitting the codebooks by EMA alone on `fitBatches`
 * batches of text (fitCodebooks; the probe is batch 10 000, apart from the fitting batches 0, 1, …).
 * @param text token stream; o.B, o.n: batch shape; o.sublayer: index into m.codebooks (default the last)
 */
export function codebookFit(m: Model, text: Uint16Array, o: { fitBatches: number; B: number; n: number; sublayer?: number }): { before: KeysAndCodes; after: KeysAndCodes } {
  const sublayer = o.sublayer ?? m.codebooks.length - 1;
  const probe = textWindows(text, 10_000, o.B, o.n);
  try {
    const before = keysAndCodes(m, probe, sublayer);
    for (let i = 0; i < o.fitBatches; i++) {
      const batch = textWindows(text, i, o.B, o.n);
      fitCodebooks(m, [batch]);
      batch.dispose();
    }
    return { before, after: keysAndCodes(m, probe, sublayer) };
  } finally {
    probe.dispose();
  }
}

/**
 * The two leading principal axes of a set of points (power iteration with deflation, deterministic start).
 * @param points [n][d]
 * @returns mean [d] and axes [2][d] (unit vectors)
 */
export function principalAxes2(points: number[][]): { mean: number[]; axes: number[][] } {
  const n = points.length;
  const d = points[0]?.length ?? 0;
  if (n < 2 || d < 2) throw new Error(`principalAxes2 needs ≥ 2 points of dimension ≥ 2, got ${n} × ${d}`);
  const mean = Array.from({ length: d }, (_, j) => points.reduce((a, p) => a + p[j], 0) / n);
  const cov = Array.from({ length: d }, () => new Array(d).fill(0));
  for (const p of points) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i][j] += (p[i] - mean[i]) * (p[j] - mean[j]) / n;
  const axes: number[][] = [];
  for (let a = 0; a < 2; a++) {
    let v = Array.from({ length: d }, (_, i) => 1 / Math.sqrt(d) + (i === a ? 0.5 : 0));
    for (let it = 0; it < 200; it++) {
      let w = cov.map((row) => row.reduce((acc, c, j) => acc + c * v[j], 0));
      for (const u of axes) { const dot = w.reduce((acc, x, j) => acc + x * u[j], 0); w = w.map((x, j) => x - dot * u[j]); }
      const norm = Math.sqrt(w.reduce((acc, x) => acc + x * x, 0)) || 1;
      v = w.map((x) => x / norm);
    }
    axes.push(v);
  }
  return { mean, axes };
}

/** Coordinates of points on principal axes. points [n][d] → [n][2] */
export function project2(points: number[][], basis: { mean: number[]; axes: number[][] }): number[][] {
  return points.map((p) => basis.axes.map((ax) => ax.reduce((acc, a, j) => acc + a * (p[j] - basis.mean[j]), 0)));
}
