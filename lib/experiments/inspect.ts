/**
 * Looking inside the quantizer: the keys of one attention sublayer, their shortcodes and codewords, and a 2-D
 * view of them. Keys are projected on the two leading principal axes of the keys (PCA by power iteration on the
 * d_k × d_k covariance); codewords are projected on the same axes, so a codeword sits among the keys it stands
 * for when the codebook fits them (C_s is the running mean of its keys, paper §5.2).
 */
import * as tf from "../runtime/tf";
import { Model, VQStats, forward, initState, disposeState, updateCodebooks } from "../nn/model";
import { PlotlyFigure, paperLayout } from "../notebook/plots";
import { codebook, quantizationMetrics, QuantizationMetrics, shortcodes } from "../nn/vq";

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
    let stats: VQStats[] = [];
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

/**
 * Keys as dots coloured by shortcode and the codewords in use as black crosses, on the keys' two principal axes.
 * @param kc from keysAndCodes
 * @param title figure title
 */
export function keysFigure(kc: KeysAndCodes, title?: string): PlotlyFigure {
  const basis = principalAxes2(kc.keys);
  const pk = project2(kc.keys, basis);
  const used = [...new Set(kc.codes)].sort((a, b) => a - b);
  const pc = project2(used.map((s) => kc.codewords[s]), basis);
  return {
    data: [
      { type: "scattergl", mode: "markers", name: "keys (colour = shortcode)", x: pk.map((p) => p[0]), y: pk.map((p) => p[1]),
        text: kc.codes.map((z) => `code ${z}`), marker: { size: 4, opacity: 0.55, color: kc.codes, colorscale: "Rainbow" } },
      { type: "scatter", mode: "markers", name: "codewords in use", x: pc.map((p) => p[0]), y: pc.map((p) => p[1]),
        text: used.map((s) => `codeword ${s}`), marker: { size: 9, symbol: "x", color: "#000", line: { width: 1 } } },
    ],
    layout: paperLayout({ title, x: "first principal axis of the keys", y: "second principal axis" }),
  };
}
