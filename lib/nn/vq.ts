/**
 * The vector quantizer (paper §5.2). Each key k_t is replaced by its nearest codeword,
 *
 *   z_t = argmin_s ‖k_t − C_s‖²      (computed as ‖k‖² − 2 k·C_s + ‖C_s‖²),
 *   k̂_t = sg(C_{z_t}) + k_t − sg(k_t) (straight-through: forward C_z, gradient identity to k),
 *
 * with one codebook per key head, C = sg(c_sum / max(c_count, 0.01)). The codebook is not trained by gradients:
 * an exponential moving average over all (unmasked) tokens of one parameter update sets
 *
 *   c_sum_s ← γ c_sum_s + (1 − γ) Σ_{t: z_t = s} k_t,   c_count_s ← γ c_count_s + (1 − γ) |{t: z_t = s}|,
 *
 * which is exactly what the official surrogate loss does in one SGD step with learning rate 1. Keys are pulled
 * toward their codewords by the commitment loss ‖k − sg(C_z)‖², averaged over unmasked tokens, summed over heads.
 */
import * as tf from "../runtime/tf";
import { noGrad, straightThrough } from "../runtime/grad";
import { matMul, matMulPerHead } from "../runtime/matmul";

/** Smallest count the codebook divides by (paper: 0.01). */
export const MIN_CODE_COUNT = 0.01;

function assertRank(x: tf.Tensor, rank: number, name: string, layout: string): void {
  if (x.rank !== rank) throw new Error(`${name} must be ${layout} (rank ${rank}) but has shape [${x.shape}]`);
}

/**
 * C = c_sum / max(c_count, 0.01), under stop-gradient.
 * @param cSum   [h, S, d_k]
 * @param cCount [h, S]
 * @returns      [h, S, d_k]
 */
export function codebook(cSum: tf.Tensor, cCount: tf.Tensor): tf.Tensor3D {
  assertRank(cSum, 3, "c_sum", "[h, S, d_k]");
  assertRank(cCount, 2, "c_count", "[h, S]");
  return noGrad((s, c) => tf.div(s, tf.maximum(c, MIN_CODE_COUNT).expandDims(-1)), cSum, cCount) as tf.Tensor3D;
}

/**
 * Squared distances ‖k − C_s‖² = ‖k‖² − 2 k·C_s + ‖C_s‖² (no gradient).
 * @param k [B, h, T, d_k] keys
 * @param C [h, S, d_k] codebook
 * @returns [B, h, T, S]
 */
export function codeDistances(k: tf.Tensor, C: tf.Tensor): tf.Tensor4D {
  assertRank(k, 4, "keys", "[B, h, T, d_k]");
  assertRank(C, 3, "codebook", "[h, S, d_k]");
  if (k.shape[1] !== C.shape[0] || k.shape[3] !== C.shape[2]) {
    throw new Error(`keys [${k.shape}] and codebook [${C.shape}] disagree on heads h or width d_k`);
  }
  return noGrad((kk, cc) => {
    const kNorm = tf.sum(tf.square(kk), -1, true); // [B, h, T, 1]
    const cNorm = tf.sum(tf.square(cc), -1).expandDims(0).expandDims(2); // [1, h, 1, S]
    const dots = matMulPerHead(kk, cc); // [B, h, T, S]
    return tf.add(tf.sub(kNorm, tf.mul(dots, 2)), cNorm);
  }, k, C) as tf.Tensor4D;
}

/**
 * Shortcodes z = argmin_s ‖k − C_s‖² (no gradient).
 * @param k [B, h, T, d_k]
 * @param C [h, S, d_k]
 * @returns [B, h, T] int32
 */
export function shortcodes(k: tf.Tensor, C: tf.Tensor): tf.Tensor3D {
  return noGrad((d) => tf.argMin(d, -1), codeDistances(k, C)) as tf.Tensor3D;
}

/**
 * Codewords C_z (no gradient). A flat gather off the tape: gathers on the tape at argMin indices break the
 * gradient, and tfjs-backend-wasm 4.22 computes gathers with batchDims wrongly.
 * @param z [B, h, T] int32 shortcodes (S, the invalid code, is not allowed here)
 * @param C [h, S, d_k]
 * @returns [B, h, T, d_k]
 */
export function codewords(z: tf.Tensor, C: tf.Tensor): tf.Tensor4D {
  assertRank(z, 3, "shortcodes", "[B, h, T]");
  assertRank(C, 3, "codebook", "[h, S, d_k]");
  const [B, h, T] = z.shape;
  const [, S, dK] = C.shape;
  return noGrad((zz, cc) => {
    const headOffset = tf.range(0, h * S, S, "int32").reshape([1, h, 1]); // row of head j's codebook in the flat table
    const flat = tf.add(zz, headOffset).reshape([-1]);
    return tf.gather(cc.reshape([h * S, dK]), flat).reshape([B, h, T, dK]);
  }, z, C) as tf.Tensor4D;
}

/** What the attention sublayers need from the quantizer. */
export interface QuantizedKeys {
  /** [B, h, T] int32 shortcodes */
  z: tf.Tensor3D;
  /** [B, h, T, d_k] codewords C_z, no gradient */
  cz: tf.Tensor4D;
  /** [B, h, T, d_k] straight-through quantized keys: value C_z, gradient identity to k */
  kHat: tf.Tensor4D;
}

/**
 * Quantizes keys against a codebook.
 * @param k [B, h, T, d_k] keys (taped; receives the straight-through gradient through kHat)
 * @param C [h, S, d_k] codebook (from `codebook`)
 */
export function quantize(k: tf.Tensor, C: tf.Tensor): QuantizedKeys {
  const z = shortcodes(k, C);
  const cz = codewords(z, C);
  return { z, cz, kHat: straightThrough(k as tf.Tensor4D, cz) };
}

/** [B, T] loss mask → [B, 1, T] so that it broadcasts over heads. */
function headMask(mask: tf.Tensor, B: number, T: number): tf.Tensor3D {
  if (mask.shape.join() !== `${B},${T}`) throw new Error(`loss mask has shape [${mask.shape}] but the keys need [${B}, ${T}]`);
  return mask.reshape([B, 1, T]) as tf.Tensor3D;
}

/**
 * Commitment loss: Σ_{b,t} mask_bt Σ_h ‖k_bht − C_{z_bht}‖² / max(Σ mask, 1); gradient only into k.
 * @param k    [B, h, T, d_k]
 * @param cz   [B, h, T, d_k] codewords (no gradient)
 * @param mask [B, T] 1 for real tokens (optional: all ones)
 */
export function commitmentLoss(k: tf.Tensor, cz: tf.Tensor, mask?: tf.Tensor): tf.Scalar {
  assertRank(k, 4, "keys", "[B, h, T, d_k]");
  const [B, , T] = k.shape;
  const errs2 = tf.sum(tf.square(tf.sub(k, cz)), -1); // [B, h, T]
  if (!mask) return tf.div(tf.sum(errs2), B * T) as tf.Scalar;
  const m = headMask(mask, B, T);
  return tf.div(tf.sum(tf.mul(errs2, m)), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
}

/** Per-code statistics of one forward call: what the EMA needs. */
export interface CodeStats {
  /** [h, S, d_k] Σ of the (unmasked) keys assigned to each code */
  codeSums: tf.Tensor;
  /** [h, S] number of (unmasked) keys assigned to each code */
  codeCounts: tf.Tensor;
}

/**
 * Per-code sums and counts of keys (no gradient).
 * @param k    [B, h, T, d_k] keys (not quantized)
 * @param z    [B, h, T] shortcodes
 * @param nCode S
 * @param mask [B, T] optional
 */
export function codeStats(k: tf.Tensor, z: tf.Tensor, nCode: number, mask?: tf.Tensor): CodeStats {
  assertRank(k, 4, "keys", "[B, h, T, d_k]");
  const [B, , T] = k.shape;
  const inputs = mask ? [k, z, headMask(mask, B, T)] : [k, z];
  const onehots = (zz: tf.Tensor, mm?: tf.Tensor) => {
    const r = tf.oneHot(zz as tf.Tensor3D, nCode); // [B, h, T, S]
    return mm ? tf.mul(r, mm.expandDims(-1)) : r;
  };
  const codeSums = noGrad((kk, zz, mm) => {
    const r = onehots(zz, mm); // [B, h, T, S]
    const [, h, , dK] = kk.shape as number[];
    if (h === 1) return matMul(r.reshape([B * T, nCode]), kk.reshape([B * T, dK]), true, false).reshape([1, nCode, dK]);
    return tf.sum(matMul(r, kk, true, false), 0); // Σ_b [h, S, d_k]
  }, ...inputs);
  const codeCounts = noGrad((_kk, zz, mm) => tf.sum(onehots(zz, mm), [0, 2]), ...inputs); // [h, S]
  return { codeSums, codeCounts };
}

/**
 * EMA update in place: c_sum ← γ c_sum + (1 − γ) Σ sums; c_count ← γ c_count + (1 − γ) Σ counts, the sums
 * taken over every forward call of one parameter update.
 * @param cSum   tf.Variable [h, S, d_k]
 * @param cCount tf.Variable [h, S]
 * @param stats  the CodeStats of each call (same sublayer)
 * @param gamma  c_gamma (paper 0.99)
 */
export function emaUpdate(cSum: tf.Variable, cCount: tf.Variable, stats: CodeStats[], gamma: number): void {
  if (stats.length === 0) return;
  const [sum, count] = emaNext(cSum, cCount, stats, gamma);
  cSum.assign(sum);
  cCount.assign(count);
  tf.dispose([sum, count]);
}

/** The EMA's new c_sum and c_count, without assigning them (the caller owns both). */
export function emaNext(cSum: tf.Tensor, cCount: tf.Tensor, stats: CodeStats[], gamma: number): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const sums = stats.map((s) => s.codeSums).reduce((a, b) => tf.add(a, b));
    const counts = stats.map((s) => s.codeCounts).reduce((a, b) => tf.add(a, b));
    if (sums.shape.join() !== cSum.shape.join() || counts.shape.join() !== cCount.shape.join()) {
      throw new Error(`codebook stats [${sums.shape}] / [${counts.shape}] do not match c_sum [${cSum.shape}] / c_count [${cCount.shape}]`);
    }
    return [tf.add(tf.mul(cSum, gamma), tf.mul(sums, 1 - gamma)), tf.add(tf.mul(cCount, gamma), tf.mul(counts, 1 - gamma))];
  });
}

/** How a codebook is used, from the per-code counts of some keys. */
export interface CodeUsage {
  /** [h][S] fraction of the keys assigned to each code */
  usage: number[][];
  /** fraction of the h·S codes assigned at least one key */
  usedFraction: number;
  /** entropy of the usage distribution in bits, mean over heads (max log2 S) */
  entropyBits: number;
  /** codes no key was assigned to, summed over heads */
  deadCodes: number;
}

/**
 * Usage, entropy and dead codes of a codebook (host-side; the one place these are computed).
 * @param counts [h·S] per-code counts, row-major [h, S] (CodeStats.codeCounts read back)
 * @param S      codebook size
 */
export function codeUsage(counts: ArrayLike<number>, S: number): CodeUsage {
  const h = Math.max(1, Math.round(counts.length / S));
  let used = 0, entropy = 0;
  const usage: number[][] = [];
  for (let j = 0; j < h; j++) {
    let total = 0;
    for (let s = 0; s < S; s++) total += counts[j * S + s];
    const row = new Array<number>(S);
    for (let s = 0; s < S; s++) {
      const c = counts[j * S + s];
      row[s] = total > 0 ? c / total : 0;
      if (c > 0) {
        used++;
        entropy -= row[s] * Math.log2(row[s]);
      }
    }
    usage.push(row);
  }
  return { usage, usedFraction: used / (h * S), entropyBits: entropy / h, deadCodes: h * S - used };
}

/** Host-side quantization metrics of one batch of keys: codebook usage and the relative quantization error. */
export interface QuantizationMetrics extends CodeUsage {
  /** mean of ‖k − C_z‖ / ‖k‖ over keys */
  relativeError: number;
}

/**
 * Usage, entropy, dead codes and relative error of quantizing `k` with codebook `C`.
 * @param k    [B, h, T, d_k]
 * @param C    [h, S, d_k]
 * @param mask [B, T] optional
 */
export function quantizationMetrics(k: tf.Tensor, C: tf.Tensor, mask?: tf.Tensor): QuantizationMetrics {
  const S = C.shape[1] as number;
  const [B, h, T] = k.shape as number[];
  const [countsT, relT] = tf.tidy(() => {
    const z = shortcodes(k, C);
    const cz = codewords(z, C);
    const { codeCounts } = codeStats(k, z, S, mask);
    const rel = tf.div(tf.norm(tf.sub(k, cz), "euclidean", -1), tf.maximum(tf.norm(k, "euclidean", -1), 1e-12)); // [B, h, T]
    if (!mask) return [codeCounts, tf.mean(rel)];
    const m = mask.reshape([B, 1, T]);
    return [codeCounts, tf.div(tf.sum(tf.mul(rel, m)), tf.maximum(tf.mul(tf.sum(m), h), 1))];
  });
  const usage = codeUsage(countsT.dataSync(), S);
  const relativeError = relT.dataSync()[0];
  tf.dispose([countsT, relT]);
  return { ...usage, relativeError };
}
