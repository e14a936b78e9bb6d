/**
 * What the linear form buys: the cost of one attention sublayer per form, counted and measured.
 * Quadratic forms score every pair of positions, O(T² (d_k + d_v)); the linear forms score each block of L
 * queries against 2L window keys and S codewords, O(T (S + 2L)(d_k + d_v)) (paper §3 and [JP]).
 * `attentionMultiplyAdds` counts the forward multiply-adds of our implementation (dense products, as computed:
 * masked entries are computed too); `timeAttention` measures forward + backward wall time on random inputs.
 */
import * as tf from "../runtime/tf";
import { XLBias, fullAttention, initialAttnState, vqAttentionParallel, vqAttentionQuadratic, vqAttentionRecurrent } from "../nn/attention";
import { rmsNorm } from "../nn/norm";
import { quantize } from "../nn/vq";

export type AttentionForm = "quadratic" | "recurrent" | "parallel" | "full";

export interface CostShape {
  T: number;
  L: number;
  /** memory length (default L) */
  M?: number;
  S: number;
  dK: number;
  dV: number;
}

/**
 * Forward multiply-adds of one sequence through one single-head attention sublayer (projections excluded).
 * quadratic: T²(d_k + d_v) + T(M+1)d_k;  full: T²(2d_k + d_v);
 * parallel: T[(3L + 1 + 2S)d_k + (2L + 2S)d_v]  (window, biases, cache scores, quantization; window, cache, sums);
 * recurrent: T[(2M + L + 1 + 2S)d_k + (M + L + 2S)d_v].
 */
export function attentionMultiplyAdds(form: AttentionForm, s: CostShape): number {
  const { T, L, S, dK, dV } = s;
  const M = s.M ?? L;
  switch (form) {
    case "full": return T * T * (2 * dK + dV);
    case "quadratic": return T * T * (dK + dV) + T * (M + 1) * dK + T * S * dK;
    case "parallel": return T * ((3 * L + 1 + 2 * S) * dK + (2 * L + 2 * S) * dV);
    case "recurrent": return T * ((2 * M + L + 1 + 2 * S) * dK + (M + L + 2 * S) * dV);
  }
}

/**
 * Fastest wall time over `reps` calls of forward + backward (gradients w.r.t. q, k, v) of one attention call on
 * random inputs, after one untimed warm-up call (the minimum is the repeat least disturbed by other processes).
 * @param form  which form
 * @param s     shape (B = 1, one head)
 * @param reps  timed repeats
 * @returns seconds
 */
export function timeAttention(form: AttentionForm, s: CostShape, reps = 3): number {
  const { T, L, S, dK, dV } = s;
  const M = s.M ?? L;
  const run = () => tf.tidy(() => {
    const q = tf.mul(rmsNorm(tf.randomNormal([1, 1, T, dK], 0, 1, "float32", 1)), dK ** -0.25);
    const k = tf.mul(rmsNorm(tf.randomNormal([1, 1, T, dK], 0, 1, "float32", 2)), dK ** -0.25);
    const v = tf.randomNormal([1, 1, T, dV], 0, 1, "float32", 3);
    const C = tf.mul(rmsNorm(tf.randomNormal([1, S, dK], 0, 1, "float32", 4)), dK ** -0.25);
    const nDist = form === "full" ? T : M + 1;
    const xl: XLBias = { r: tf.randomNormal([1, nDist, dK], 0, 0.3, "float32", 5) as tf.Tensor3D, u: tf.zeros([1, dK]) as tf.Tensor2D, w: tf.zeros([1, dK]) as tf.Tensor2D };
    const f = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => {
      if (form === "full") return fullAttention(qq, kk, vv, xl);
      const qk = quantize(kk, C);
      if (form === "quadratic") return vqAttentionQuadratic(qq, qk, vv, xl, { memLen: M, aggCache: true });
      const st = initialAttnState(1, 1, M, S, dK, dV);
      const opts = { blockLen: L, memLen: M, aggCache: true, gradThruCache: true, pos: 0 };
      return form === "parallel" ? vqAttentionParallel(qq, qk, vv, C, xl, st, opts).out : vqAttentionRecurrent(qq, qk, vv, C, xl, st, opts).out;
    };
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(f(a, b, c)))([q, k, v]);
    grads.forEach((g) => g.dataSync());
  });
  run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    times.push((performance.now() - t0) / 1000);
  }
  return Math.min(...times);
}
