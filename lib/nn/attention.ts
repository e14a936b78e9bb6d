/**
 * VQ-attention, the definition (paper §5.3): dense softmax attention over vector-quantized keys. With Δ the one-hot
 * shortcodes and K̂ = ΔC, query i (block length L, memory M) scores key j ≤ i as
 *
 *   s_ij = (q_i + u)·k̂_j + 1[i − j ≤ M] (q_i + v)·r_{i−j},        o_i = Σ_j softmax_j(s_ij) v_j.
 *
 * Four forms compute it: (a) `vqAttentionQuadratic` (here) — the definition, T×T; (b) `vqAttentionRecurrent` and
 * (c) `vqAttentionParallel` (attention-linear.ts) — the same function at linear cost (paper §5.4), carrying the
 * state of state.ts; (d) `fullAttention` (here) — unquantized causal softmax attention with the same biases (the
 * quadratic baseline; biases at all distances, as in the official FullAttention), also in query/key chunks with an
 * online softmax (attention-chunked.ts: the same values and gradients in memory T·C). With the compressive cache off
 * (paper 2.2), queries see only keys at distance ≤ M.
 *
 * Heads: queries have H heads, keys/values h heads (SHGA and MHA: h = H; MQA: h = 1), and each key head has its
 * own codebook. Query heads of one key head are stacked along the rows, so every product is one batched matMul.
 * Gradients: the linear forms pass the straight-through gradient only to the keys they hold exactly (the window);
 * keys in the compressive cache enter through their codewords (official code). `stBlockLen` gives the quadratic
 * form the same rule, so gradients w.r.t. keys can be compared too. The small pieces below (shapes, head grouping,
 * relative keys, score masks) serve all four forms.
 */
import * as tf from "../runtime/tf";
import { relativeBias } from "./pe";
import { QuantizedKeys } from "./vq";
import { matMul, matMulPerHead } from "../runtime/matmul";

/** Stands for −∞ in scores (as the official MASK_INFTY_APPROX). */
export const NEG_INF = -1e30;

/** Transformer-XL bias tensors of one sublayer (pe.ts `relativeKeys`, and the learned u, v). */
export interface XLBias {
  /** [h, D, d_k] relative keys r_d for distances d = 0 … D−1 (already × d_k^{-1/4}) */
  r: tf.Tensor3D;
  /** [H, d_k] content bias u (already × d_k^{-1/4}) */
  u: tf.Tensor2D;
  /** [H, d_k] position bias, the official xl_v (already × d_k^{-1/4}) */
  w: tf.Tensor2D;
}

// ------------------------------------------------------------------------------------------------------------
// Small pieces shared by all four forms
// ------------------------------------------------------------------------------------------------------------

/** Sizes of one call: batch, query heads, key heads, query heads per key head (G = H / h), tokens, widths. */
export interface Dims { B: number; H: number; h: number; G: number; T: number; dK: number; dV: number }

/** The shape as a plain number[] (tfjs types it per rank). */
export function shapeOf(x: tf.Tensor): number[] {
  return x.shape as number[];
}

/** Checks q [B,H,T,d_k], keys [B,h,T,d_k], values [B,h,T,d_v] and the XL tensors agree; returns the sizes. */
export function dimsOf(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, xl: XLBias): Dims {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new Error(`attention wants q [B, H, T, d_k], k [B, h, T, d_k], v [B, h, T, d_v]; got [${q.shape}], [${k.shape}], [${v.shape}]`);
  }
  const [B, H, T, dK] = shapeOf(q);
  const h = shapeOf(k)[1];
  const dV = shapeOf(v)[3];
  if (k.shape[0] !== B || k.shape[2] !== T || k.shape[3] !== dK) throw new Error(`keys [${k.shape}] do not match queries [${q.shape}]`);
  if (v.shape[0] !== B || v.shape[1] !== h || v.shape[2] !== T) throw new Error(`values [${v.shape}] do not match keys [${k.shape}]`);
  if (H % h !== 0) throw new Error(`${H} query heads cannot share ${h} key heads; H must be a multiple of h`);
  if (xl.r.shape[0] !== h || xl.r.shape[2] !== dK) throw new Error(`relative keys [${xl.r.shape}] must be [h=${h}, D, d_k=${dK}]`);
  if (xl.u.shape.join() !== `${H},${dK}` || xl.w.shape.join() !== `${H},${dK}`) {
    throw new Error(`XL biases u [${xl.u.shape}] and v [${xl.w.shape}] must be [H=${H}, d_k=${dK}]`);
  }
  return { B, H, h, G: H / h, T, dK, dV };
}

/** q + b per query head. q [B, H, N, d_k], b [H, d_k] → [B, H, N, d_k] */
export function addHeadBias(q: tf.Tensor, b: tf.Tensor): tf.Tensor4D {
  return tf.add(q, b.reshape([1, shapeOf(b)[0], 1, shapeOf(b)[1]])) as tf.Tensor4D;
}

/** Stacks the G query heads of each key head along rows: [B, H, N, d] → [B, h, G·N, d] (a reshape). */
export function groupHeads(x: tf.Tensor, h: number): tf.Tensor4D {
  const [B, H, N, d] = shapeOf(x);
  return x.reshape([B, h, (H / h) * N, d]) as tf.Tensor4D;
}

/** r_d for d = D−1 … 0 (reversed, the layout `relativeBias` reads). r [h, ≥D, d_k] → [h, D, d_k] */
export function reversedRelativeKeys(r: tf.Tensor, D: number): tf.Tensor3D {
  const [h, nR, dK] = shapeOf(r);
  if (nR < D) throw new Error(`relative keys cover ${nR} distances but this form needs ${D}; compute them with nDistance ≥ ${D}`);
  return tf.reverse(tf.slice(r, [0, 0, 0], [h, D, dK]), 1) as tf.Tensor3D;
}

/**
 * Additive score mask [Q, K] for Q queries that are the last Q positions of a window of K keys: 0 where key j is
 * visible to query i, −∞ elsewhere. Visible: causal (distance d = i − j + K − Q ≥ 0), within `maxDistance` if
 * given (the locality window of the cache-off variant), and j ≥ `firstValidKey` (window slots never filled).
 * Built with tensor ops, so a T×T mask costs no JS loop.
 */
export function scoreMask(Q: number, K: number, opts: { maxDistance?: number; firstValidKey?: number } = {}): tf.Tensor2D {
  return tf.tidy(() => {
    const j = tf.range(0, K, 1, "int32").reshape([1, K]);
    const d = tf.add(tf.sub(tf.range(0, Q, 1, "int32").reshape([Q, 1]), j), K - Q); // [Q, K]
    let keep = tf.greaterEqual(d, 0);
    if (opts.maxDistance !== undefined) keep = tf.logicalAnd(keep, tf.lessEqual(d, opts.maxDistance));
    if (opts.firstValidKey) keep = tf.logicalAnd(keep, tf.greaterEqual(j, opts.firstValidKey));
    return tf.where(keep, tf.zeros([Q, K]), tf.fill([Q, K], NEG_INF)) as tf.Tensor2D;
  });
}

// ------------------------------------------------------------------------------------------------------------
// (a) and (d): the quadratic forms
// ------------------------------------------------------------------------------------------------------------

/**
 * Causal softmax attention with XL biases, T×T. Shared by forms (a) and (d).
 * @param ac    content scores (q_i + u)·k_j, [B, h, G·T, T] (from the grouped queries)
 * @param qw    grouped q + v, [B, h, G·T, d_k]
 * @param v     [B, h, T, d_v]
 * @param nBias distances that carry a position bias (M + 1 for VQ, T for full)
 * @param maxDistance keys farther than this are masked (the cache-off window); undefined: all earlier keys
 */
function quadraticCore(ac: tf.Tensor, qw: tf.Tensor, v: tf.Tensor, r: tf.Tensor, dims: Dims, nBias: number,
                       maxDistance?: number): tf.Tensor4D {
  const { B, H, h, G, T, dV } = dims;
  const D = Math.min(nBias, T);
  const p = matMulPerHead(qw, reversedRelativeKeys(r, D)); // [B, h, G·T, D]
  const bd = relativeBias(p.reshape([B * h * G, T, D]), T); // [B·h·G, T, T]
  const mask = scoreMask(T, T, { maxDistance });
  const s = tf.add(tf.add(ac.reshape([B * h * G, T, T]), bd), mask);
  const w = tf.softmax(s).reshape([B, h, G * T, T]);
  return matMul(w, v).reshape([B, H, T, dV]) as tf.Tensor4D;
}

export interface QuadraticOptions {
  /** M: the band of position biases, and the window when the cache is off */
  memLen: number;
  /** compressive cache on (attend to every earlier key) or off (only keys at distance ≤ M) */
  aggCache: boolean;
  /** if set, the straight-through gradient reaches key j from query i only when the linear forms with this
   *  block length hold key j exactly (j ≥ start of i's block − M); the forward value is unchanged */
  stBlockLen?: number;
}

/**
 * (a) The definition: quadratic-time attention over quantized keys.
 * @param q  [B, H, T, d_k] queries
 * @param qk quantized keys (vq.ts `quantize`), [B, h, T, ·]
 * @param v  [B, h, T, d_v]
 * @param xl XL biases with r covering ≥ M + 1 distances
 * @returns  [B, H, T, d_v]
 */
export function vqAttentionQuadratic(q: tf.Tensor, qk: QuantizedKeys, v: tf.Tensor, xl: XLBias, opts: QuadraticOptions): tf.Tensor4D {
  const dims = dimsOf(q, qk.kHat, v, xl);
  const { B, h, G, T } = dims;
  const M = opts.memLen;
  const qu = groupHeads(addHeadBias(q, xl.u), h);
  const qw = groupHeads(addHeadBias(q, xl.w), h);
  let ac: tf.Tensor;
  if (opts.stBlockLen === undefined) {
    ac = matMul(qu, qk.kHat, false, true);
  } else {
    const L = opts.stBlockLen;
    // value: (q+u)·C_z; gradient to k only inside the window: exact ⊙ (q+u)·(k̂ − C_z), which is zero-valued
    const exact = tf.tidy(() => { // 1 where key j ≥ (start of query i's block) − M
      const blockStart = tf.mul(tf.floorDiv(tf.range(0, T, 1, "int32"), L), L).reshape([T, 1]);
      return tf.cast(tf.greaterEqual(tf.range(0, T, 1, "int32").reshape([1, T]), tf.sub(blockStart, M)), "float32");
    });
    const far = matMul(qu, qk.cz, false, true);
    const near = matMul(qu, tf.sub(qk.kHat, qk.cz), false, true);
    ac = tf.add(far, tf.mul(near.reshape([B * h * G, T, T]), exact).reshape(far.shape));
  }
  return quadraticCore(ac, qw, v, xl.r, dims, M + 1, opts.aggCache ? undefined : M);
}

/**
 * (d) Full unquantized causal softmax attention with XL biases at every distance (the quadratic baseline).
 * @param q [B, H, T, d_k], k [B, h, T, d_k] (not quantized), v [B, h, T, d_v]
 * @param xl XL biases with r covering T distances
 * @returns [B, H, T, d_v]
 */
export function fullAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, xl: XLBias): tf.Tensor4D {
  const dims = dimsOf(q, k, v, xl);
  const qu = groupHeads(addHeadBias(q, xl.u), dims.h);
  const qw = groupHeads(addHeadBias(q, xl.w), dims.h);
  return quadraticCore(matMul(qu, k, false, true), qw, v, xl.r, dims, dims.T);
}
