/**
 * Positions (paper §5.5). Transformer-VQ uses Transformer-XL relative biases: the score of query i and key j
 * gets (q_i + v)·r_{i−j}, with r_d = W_r · sinusoid(d) · d_k^{-1/4}, and only for 0 ≤ i − j ≤ M — the band
 * restriction that lets far keys be summarized by their codes. Sinusoids use inverse wavelengths λ^{-2i/d}
 * (λ = pe_lam = 100,000), laid out [sin | cos]. Images may add absolute sinusoids times a learnable scalar.
 */
import * as tf from "../runtime/tf";
import { matMul } from "../runtime/matmul";

/** Host tables of recent sinusoid requests (full attention asks for T × d_model of them in every sublayer). */
const sinusoidTables = new Map<string, Float32Array>();
const MAX_CACHED_TABLES = 8;

/**
 * Sinusoids of positions start … start+length−1: row p = [sin(p·λ^{-2i/width}) | cos(p·λ^{-2i/width})].
 * @returns [length, width] (width must be even)
 */
export function sinusoids(length: number, width: number, lam: number, start = 0): tf.Tensor2D {
  if (width % 2 !== 0) throw new Error(`sinusoids need an even width, got ${width}; use an even d_model`);
  const key = `${length},${width},${lam},${start}`;
  let out = sinusoidTables.get(key);
  if (!out) {
    const half = width / 2;
    out = new Float32Array(length * width);
    for (let i = 0; i < half; i++) {
      const inv = 1 / Math.pow(lam, (2 * i) / width);
      for (let p = 0; p < length; p++) {
        const angle = (start + p) * inv;
        out[p * width + i] = Math.sin(angle);
        out[p * width + half + i] = Math.cos(angle);
      }
    }
    if (sinusoidTables.size >= MAX_CACHED_TABLES) sinusoidTables.delete(sinusoidTables.keys().next().value as string);
    sinusoidTables.set(key, out);
  }
  return tf.tensor2d(out, [length, width]);
}

/**
 * Relative position keys r_d for distances d = 0 … D−1: dropout(sinusoid(d)) · W_r, split into heads, times
 * d_k^{-1/4} (the same dropout mask for every block of the call, like the official "timeless" RNG).
 * @param wR        [d_model, h·d_k] projection (trainable)
 * @param nDistance D (M + 1 for the VQ forms, T for full attention)
 * @param dK        d_k
 * @param lam       pe_lam
 * @param drop      the dropout of the sinusoids [D, d_model], or undefined (not training)
 * @returns         [h, D, d_k]
 */
export function relativeKeys(wR: tf.Tensor, nDistance: number, dK: number, lam: number,
                             drop?: (sin: tf.Tensor2D) => tf.Tensor2D): tf.Tensor3D {
  const [dModel, hdK] = wR.shape;
  if (hdK % dK !== 0) throw new Error(`relative-position projection has ${hdK} outputs, not a multiple of d_k = ${dK}`);
  const h = hdK / dK;
  let sin: tf.Tensor2D = sinusoids(nDistance, dModel, lam);
  if (drop) sin = drop(sin);
  const r = matMul(sin, wR).reshape([nDistance, h, dK]); // [D, h, d_k]
  return tf.mul(tf.transpose(r, [1, 0, 2]), Math.pow(dK, -0.25)) as tf.Tensor3D;
}

/**
 * Places relative scores on the query × key grid (Transformer-XL's rel_shift).
 * `pRev[..., i, c]` holds (q_i + v)·r_d for distance d = D−1−c (distances reversed, c = 0 … D−1). Queries are
 * the last Q positions of a window of K keys, so query i sits at key index K−Q+i and is at distance
 * d = i − j + K − Q from key j. Returns out[..., i, j] = pRev at that distance when 0 ≤ d < D, 0 when D ≤ d,
 * and a finite meaningless value when d < 0 (non-causal: the caller masks those).
 * @param pRev [..., Q, D] with D ≤ K
 * @param K    number of keys
 * @returns    [..., Q, K]
 */
export function relativeBias(pRev: tf.Tensor, K: number): tf.Tensor {
  const shape = pRev.shape;
  const Q = shape[shape.length - 2];
  const D = shape[shape.length - 1];
  if (D > K) throw new Error(`relativeBias: ${D} distances do not fit a window of ${K} keys; pass at most K distances`);
  const lead = shape.slice(0, -2);
  const pads: [number, number][] = lead.map(() => [0, 0] as [number, number]);
  // left-pad to K columns (col k ↔ distance K−1−k) plus one column for the shift
  const padded = tf.pad(pRev, [...pads, [0, 0], [K - D + 1, 0]]); // [..., Q, K+1]
  const rows = padded.reshape([...lead, K + 1, Q]);
  const shifted = tf.slice(rows, [...lead.map(() => 0), 1, 0], [...lead, K, Q]);
  return shifted.reshape([...lead, Q, K]);
}
