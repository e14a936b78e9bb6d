/**
 * What the linear form buys, counted and measured: one cost model for every attention form (config AttnType).
 *
 * Per query and head, the quadratic forms score all T keys, O(T (d_k + d_v)); the linear forms score a window of
 * M + L keys (2L at M = L) and the S codewords of the compressive cache, O((S + 2L)(d_k + d_v)), constant in T
 * (paper §3; docs/paper.md §5.3–5.4). `attentionWork` is that count by part for one attention problem (the
 * products our implementation computes, dense: masked entries are computed too); `attentionMultiplyAdds` sums it
 * over a sequence, `flopsPerToken` builds a whole model's training FLOPs per token on it (the throughput study),
 * and `timeAttention` measures one attention call's forward + backward wall time on random inputs.
 */
import * as tf from "../runtime/tf";
import { ATTN_TYPES, AttnType, ModelConfig, isQuadraticForm } from "../config";
import { XLBias, fullAttention, vqAttentionQuadratic } from "../nn/attention";
import { vqAttentionParallel, vqAttentionRecurrent } from "../nn/attention-linear";
import { attentionSublayers, keyHeads } from "../nn/params";
import { fullChunkOf } from "../train/memory";
import { initialAttnState } from "../nn/state";
import { rmsNorm } from "../nn/norm";
import { quantize } from "../nn/vq";

/** One attention problem: one call of one attention sublayer on T tokens, in the paper's letters. */
export interface AttentionShape {
  /** T tokens (one call, starting a sequence) */
  T: number;
  /** L block length */
  L: number;
  /** M memory length (default L; the parallel form needs M = L) */
  M?: number;
  /** S codebook size */
  S: number;
  dK: number;
  dV: number;
  /** batch (default 1) */
  B?: number;
  /** query heads (default 1) */
  H?: number;
  /** key/value heads (default H; 1 = multi-query) */
  hKV?: number;
}

/** Multiply-adds per token of one attention call, by part: per query head, the quantizer and cache update per key head. */
export interface AttentionWork {
  /** q·k scores: all T keys (quadratic forms), or the M + L window keys and the S codewords (linear forms) */
  scores: number;
  /** relative-position scores q·r over the distances the form keeps: T (full), M + 1 (VQ) */
  positions: number;
  /** mixing value rows: all T, or the window's M + L and the cache's S per-code sums */
  values: number;
  /** the compressive cache's update, values summed per codeword for the blocks that follow (S·d_v) */
  cacheUpdate: number;
  /** shortcode distances k·C (forward only: no gradient flows through argmin) */
  quantizer: number;
}

/**
 * Full attention in chunks (nn/attention-chunked.ts) computes only the chunk pairs on or below the diagonal, J ≤ I,
 * each with its 2C − 1 distances: per token, Σ over those pairs of cq·ck (keys) and cq·(cq + ck − 1) (distances),
 * over T. About (n + 1) / 2n of the dense count's keys for n = T / C chunks.
 */
function chunkedPairs(T: number, C: number): { keys: number; distances: number } {
  let keys = 0, distances = 0;
  for (let i0 = 0; i0 < T; i0 += C) {
    const cq = Math.min(C, T - i0);
    for (let j0 = 0; j0 <= i0; j0 += C) {
      const ck = Math.min(C, T - j0);
      keys += cq * ck;
      distances += cq * (cq + ck - 1);
    }
  }
  return { keys: keys / T, distances: distances / T };
}

/**
 * Forward multiply-adds per token of one attention call by part, for one query head (cacheUpdate and quantizer:
 * one key head).
 *   full:          scores T·d_k, positions T·d_k, values T·d_v (dense: masked entries are computed too); in
 *                  chunks of `fullChunk` (< T): the pairs on or below the diagonal only (chunkedPairs)
 *   vq-quadratic:  scores T·d_k, positions (M+1)·d_k, values T·d_v, quantizer S·d_k
 *   vq-recurrent, vq-parallel: scores (M + L + S)·d_k, positions (M+1)·d_k, values (M + L + S)·d_v,
 *                  cacheUpdate S·d_v, quantizer S·d_k
 */
export function attentionWork(form: AttnType, s: AttentionShape, fullChunk = 0): AttentionWork {
  const { T, L, S, dK, dV } = s;
  const M = s.M ?? L;
  switch (form) {
    case "full": {
      if (!(fullChunk > 0 && fullChunk < T)) return { scores: T * dK, positions: T * dK, values: T * dV, cacheUpdate: 0, quantizer: 0 };
      const p = chunkedPairs(T, fullChunk);
      return { scores: p.keys * dK, positions: p.distances * dK, values: p.keys * dV, cacheUpdate: 0, quantizer: 0 };
    }
    case "vq-quadratic": return { scores: T * dK, positions: (M + 1) * dK, values: T * dV, cacheUpdate: 0, quantizer: S * dK };
    case "vq-recurrent":
    case "vq-parallel": return { scores: (M + L + S) * dK, positions: (M + 1) * dK, values: (M + L + S) * dV, cacheUpdate: S * dV, quantizer: S * dK };
  }
}

/**
 * Forward multiply-adds of one attention call (projections excluded): B·T tokens, H query heads, hKV key heads.
 * One sequence and head: full T²(2d_k + d_v); vq-quadratic T²(d_k + d_v) + T(M+1)d_k + T·S·d_k;
 * vq-parallel (M = L) T[(3L + 1 + 2S)d_k + (2L + 2S)d_v]; vq-recurrent T[(2M + L + 1 + 2S)d_k + (M + L + 2S)d_v].
 */
export function attentionMultiplyAdds(form: AttnType, s: AttentionShape): number {
  const w = attentionWork(form, s);
  const H = s.H ?? 1, h = s.hKV ?? H;
  return (s.B ?? 1) * s.T * (H * (w.scores + w.positions + w.values) + h * (w.cacheUpdate + w.quantizer));
}

/** FLOPs per token (2 per multiply-add) of one training step, by part. */
export interface FlopCount {
  /** q, k, v, gate, output projections and the relative-position keys r = sin·W_r (amortized over T) */
  projections: number;
  /** attention scores, relative-position scores and value mixing (VQ: window + codebook; full: all T keys) */
  attention: number;
  /** squared-ReLU MLP (mha / mqa) */
  mlp: number;
  /** output head d_model × V */
  head: number;
  /** VQ shortcode distances k·C (forward only: no gradient flows through argmin) */
  quantizer: number;
  /** forward matmul FLOPs per token (everything above, the quantizer once) */
  forward: number;
  /** full attention in chunks: its backward pass computes each chunk pair's scores again (0 otherwise) */
  recompute: number;
  /** a training step per token: 3 × (forward − quantizer) + quantizer + recompute */
  train: number;
}

export interface FlopOptions {
  /** count only the causal half of full attention's T×T products (default false: the dense T×T products the
   *  implementation runs, as PaLM-style MFU counts do; the VQ window's keys are always counted whole). Full
   *  attention in chunks (model.fullChunk < T) is always counted as it runs: the pairs on or below the diagonal. */
  causal?: boolean;
}

/**
 * Analytic FLOPs per token of one training step of `model` at sequence length T (one call of T tokens), from
 * attentionWork. Per attention sublayer with H query heads, h key heads, widths d = d_model, d_k, d_v:
 *   projections 2d(H·d_k + h·d_k + h·d_v [+ H·d_v gate]) + 2·H·d_v·d + 2·D·d·h·d_k / T  (D distances of r)
 *   attention   2·H·(scores + positions + values)  (full: × 1/2 when causal),   quantizer 2·h·S·d_k
 *   recompute   2·H·(scores + positions) for full attention in chunks (its backward recomputes them)
 * A vq-quadratic model is counted with the linear forms' work (the forms compute the same function; the study
 * times vq-parallel). The cache update's per-code sums are left out, as in the paper's O((S + 2L)(d_k + d_v))
 * per token: they are one product of S·d_v per token and key head.
 * @param model model config (attnType full or any vq form)
 * @param T     tokens per sequence
 */
export function flopsPerToken(model: ModelConfig, T: number, opts: FlopOptions = {}): FlopCount {
  if (!Number.isInteger(T) || T < 1) throw new Error(`flopsPerToken: T = ${T} must be a positive integer`);
  const { dModel: d, dK, dV, nHead: H, nCode: S, blockLen: L, memLen: M, vocabSize: V } = model;
  const h = keyHeads(model);
  const nSub = attentionSublayers(model).length;
  const full = model.attnType === "full";
  const C = fullChunkOf(model, T);
  const w = attentionWork(model.attnType === "vq-quadratic" ? "vq-parallel" : model.attnType, { T, L, M, S, dK, dV }, C);
  const D = full ? T : M + 1;
  const gate = model.headType === "shga" ? H * dV : 0;
  const projections = nSub * (2 * d * (H * dK + h * dK + h * dV + gate) + 2 * H * dV * d + (2 * D * d * h * dK) / T);
  const causal = full && opts.causal && !C ? 0.5 : 1;
  const attention = nSub * H * 2 * (w.scores + w.positions + w.values) * causal;
  const recompute = C ? nSub * H * 2 * (w.scores + w.positions) : 0;
  const mlp = model.headType === "shga" ? 0 : model.nLayer * 2 * 2 * d * model.dFF;
  const head = 2 * d * V;
  const quantizer = nSub * h * 2 * w.quantizer;
  const trained = projections + attention + mlp + head;
  return { projections, attention, mlp, head, quantizer, forward: trained + quantizer, recompute, train: 3 * trained + quantizer + recompute };
}

/**
 * The speedup Transformer-VQ would have over the quadratic model if both ran at the same FLOP rate: the ratio of
 * their training FLOPs per token at T. The measured speedup above or below it tells which model uses the
 * hardware better.
 * @param vq   a vq-* model config; fullModel: the same with attnType "full"
 */
export function flopSpeedup(vq: ModelConfig, fullModel: ModelConfig, T: number, opts: FlopOptions = {}): number {
  return flopsPerToken(fullModel, T, opts).train / flopsPerToken(vq, T, opts).train;
}

/**
 * Fastest wall time over `reps` calls of forward + backward (gradients w.r.t. q, k, v) of one attention call on
 * random inputs, after one untimed warm-up call (the minimum is the repeat least disturbed by other processes).
 * @param form  which form
 * @param s     the problem (B, H, hKV default 1)
 * @param reps  timed repeats
 * @returns seconds
 */
export function timeAttention(form: AttnType, s: AttentionShape, reps = 3): number {
  const { T, L, S, dK, dV } = s;
  const M = s.M ?? L, B = s.B ?? 1, H = s.H ?? 1, h = s.hKV ?? H;
  const run = () => tf.tidy(() => {
    const q = tf.mul(rmsNorm(tf.randomNormal([B, H, T, dK], 0, 1, "float32", 1)), dK ** -0.25);
    const k = tf.mul(rmsNorm(tf.randomNormal([B, h, T, dK], 0, 1, "float32", 2)), dK ** -0.25);
    const v = tf.randomNormal([B, h, T, dV], 0, 1, "float32", 3);
    const C = tf.mul(rmsNorm(tf.randomNormal([h, S, dK], 0, 1, "float32", 4)), dK ** -0.25);
    const nDist = form === "full" ? T : M + 1;
    const xl: XLBias = { r: tf.randomNormal([h, nDist, dK], 0, 0.3, "float32", 5) as tf.Tensor3D, u: tf.zeros([H, dK]) as tf.Tensor2D, w: tf.zeros([H, dK]) as tf.Tensor2D };
    const f = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => {
      if (form === "full") return fullAttention(qq, kk, vv, xl);
      const qk = quantize(kk, C);
      if (form === "vq-quadratic") return vqAttentionQuadratic(qq, qk, vv, xl, { memLen: M, aggCache: true });
      const st = initialAttnState(B, h, M, S, dK, dV);
      const opts = { blockLen: L, memLen: M, aggCache: true, gradThruCache: true, pos: 0 };
      return form === "vq-parallel" ? vqAttentionParallel(qq, qk, vv, C, xl, st, opts).out : vqAttentionRecurrent(qq, qk, vv, C, xl, st, opts).out;
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

/** One form at one T: counted forward multiply-adds and measured forward + backward seconds. */
export interface AttentionCostRow {
  T: number;
  form: AttnType;
  multiplyAdds: number;
  /** fastest of the repeats; null where not timed (a quadratic form past quadraticMaxT) */
  seconds: number | null;
}

/**
 * The cost of every form at every T on one problem shape: counted (attentionMultiplyAdds) and timed
 * (timeAttention). The quadratic forms are timed only up to `quadraticMaxT`: their T×T tensors grow as T².
 */
export function attentionCostSweep(Ts: number[], shape: Omit<AttentionShape, "T">, o: { reps: number; quadraticMaxT: number }): AttentionCostRow[] {
  return Ts.flatMap((T) => ATTN_TYPES.map((form) => ({
    T, form, multiplyAdds: attentionMultiplyAdds(form, { ...shape, T }),
    seconds: isQuadraticForm(form) && T > o.quadraticMaxT ? null : timeAttention(form, { ...shape, T }, o.reps),
  })));
}
