/**
 * VQ-attention (paper §5.3–5.4): dense softmax attention over vector-quantized keys, in four forms that share one
 * definition. With Δ the one-hot shortcodes and K̂ = ΔC, query i (block n, length L, memory M) scores key j ≤ i as
 *
 *   s_ij = (q_i + u)·k̂_j + 1[i − j ≤ M] (q_i + v)·r_{i−j},        o_i = Σ_j softmax_j(s_ij) v_j.
 *
 * Keys farther than M carry no position bias, so their score depends on j only through z_j: every key older than
 * the window of M cached + L present keys can be summed per code. With ℓ the per-code counts and U the per-code
 * value sums of those keys (the compressive cache),
 *
 *   o_i = [Σ_s exp((q_i+u)·C_s) U_s + Σ_{j in window} exp(s_ij) v_j] / [Σ_s exp((q_i+u)·C_s) ℓ_s + Σ_{j in window} exp(s_ij)],
 *
 * which is exactly the quadratic form at linear cost. As in the official code the cache is stored as counts
 * `lower` = ℓ and per-code means `upperDivLower` = U / max(ℓ, 1); code s enters with the bias log ℓ_s (−∞ when
 * ℓ_s = 0), the stop-gradient max score is subtracted before exp, and weights are divided by the normalizer before
 * they multiply values or cached means.
 *
 * Forms: (a) `vqAttentionQuadratic` — the definition, T×T; (b) `vqAttentionRecurrent` — one block at a time,
 * carrying state; (c) `vqAttentionParallel` — all blocks at once, cache terms from per-block code sums
 * accumulated with a two-block shift (the optimized branch), the fast training path; (d) `fullAttention` —
 * unquantized causal softmax attention with the same biases (the quadratic baseline; biases at all distances,
 * as in the official FullAttention). With the compressive cache off (paper 2.2), queries see only keys at
 * distance ≤ M. The linear forms never build a T×T matrix.
 *
 * Heads: queries have H heads, keys/values h heads (SHGA and MHA: h = H; MQA: h = 1), and each key head has its
 * own codebook. Query heads of one key head are stacked along the rows, so every product is one batched matMul.
 * Gradients: the linear forms pass the straight-through gradient only to the keys they hold exactly (the window);
 * keys in the compressive cache enter through their codewords (official code). `stBlockLen` gives the quadratic
 * form the same rule, so gradients w.r.t. keys can be compared too.
 */
import * as tf from "../runtime/tf";
import { noGrad, stopGradient } from "../runtime/grad";
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

/** Recurrent state of one attention sublayer: the window of the last M keys and the compressive cache. */
export interface AttnState {
  /** [B, h, M] int32 shortcodes of the window (S marks an empty slot: its one-hot is zero) */
  z: tf.Tensor3D;
  /** [B, h, M, d_k] quantized keys of the window */
  kHat: tf.Tensor4D;
  /** [B, h, M, d_v] values of the window */
  v: tf.Tensor4D;
  /** [B, h, S] per-code counts ℓ of every key older than the window */
  lower: tf.Tensor3D;
  /** [B, h, S, d_v] per-code means of their values, U / max(ℓ, 1) */
  upperDivLower: tf.Tensor4D;
}

export interface AttnOutput {
  /** [B, H, T, d_v] */
  out: tf.Tensor4D;
  /** state after the call's T tokens */
  state: AttnState;
}

// ------------------------------------------------------------------------------------------------------------
// Small shared pieces
// ------------------------------------------------------------------------------------------------------------

interface Dims { B: number; H: number; h: number; G: number; T: number; dK: number; dV: number }

/** The shape as a plain number[] (tfjs types it per rank). */
function shapeOf(x: tf.Tensor): number[] {
  return x.shape as number[];
}

/** Checks q [B,H,T,d_k], keys [B,h,T,d_k], values [B,h,T,d_v] and the XL tensors agree; returns the sizes. */
function dimsOf(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, xl: XLBias): Dims {
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
function addHeadBias(q: tf.Tensor, b: tf.Tensor): tf.Tensor4D {
  return tf.add(q, b.reshape([1, shapeOf(b)[0], 1, shapeOf(b)[1]])) as tf.Tensor4D;
}

/** Stacks the G query heads of each key head along rows: [B, H, N, d] → [B, h, G·N, d] (a reshape). */
function groupHeads(x: tf.Tensor, h: number): tf.Tensor4D {
  const [B, H, N, d] = shapeOf(x);
  return x.reshape([B, h, (H / h) * N, d]) as tf.Tensor4D;
}

/** r_d for d = D−1 … 0 (reversed, the layout `relativeBias` reads). r [h, ≥D, d_k] → [h, D, d_k] */
function reversedRelativeKeys(r: tf.Tensor, D: number): tf.Tensor3D {
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
function scoreMask(Q: number, K: number, opts: { maxDistance?: number; firstValidKey?: number } = {}): tf.Tensor2D {
  return tf.tidy(() => {
    const j = tf.range(0, K, 1, "int32").reshape([1, K]);
    const d = tf.add(tf.sub(tf.range(0, Q, 1, "int32").reshape([Q, 1]), j), K - Q); // [Q, K]
    let keep = tf.greaterEqual(d, 0);
    if (opts.maxDistance !== undefined) keep = tf.logicalAnd(keep, tf.lessEqual(d, opts.maxDistance));
    if (opts.firstValidKey) keep = tf.logicalAnd(keep, tf.greaterEqual(j, opts.firstValidKey));
    return tf.where(keep, tf.zeros([Q, K]), tf.fill([Q, K], NEG_INF)) as tf.Tensor2D;
  });
}

/**
 * log-count biases of the compressive cache: log ℓ_s, or −∞ when ℓ_s = 0 (so exp(bias) = ℓ exactly).
 * @param lower [..., S] counts
 */
export function countBias(lower: tf.Tensor): tf.Tensor {
  return noGrad((l) => tf.where(tf.equal(l, 0), tf.fill(l.shape, NEG_INF), tf.log(tf.maximum(l, 1))), lower);
}

/**
 * Softmax over the concatenation of several score tensors along their last axis, without concatenating:
 * subtract the stop-gradient max, exponentiate, divide each part by the shared normalizer.
 * @param parts [..., K_p] each
 * @returns the weights of each part, same shapes
 */
function jointSoftmax(parts: tf.Tensor[]): tf.Tensor[] {
  const m = noGrad((...ps) => ps.map((p) => tf.max(p, -1, true)).reduce((a, b) => tf.maximum(a, b)), ...parts);
  const a = parts.map((p) => tf.exp(tf.sub(p, m)));
  const d = a.map((x) => tf.sum(x, -1, true)).reduce((x, y) => tf.add(x, y));
  return a.map((x) => tf.div(x, d));
}

/** Empty state: invalid window slots (code S, zero keys and values) and an empty cache. */
export function initialAttnState(B: number, h: number, M: number, S: number, dK: number, dV: number): AttnState {
  return {
    z: tf.fill([B, h, M], S, "int32") as tf.Tensor3D,
    kHat: tf.zeros([B, h, M, dK]) as tf.Tensor4D,
    v: tf.zeros([B, h, M, dV]) as tf.Tensor4D,
    lower: tf.zeros([B, h, S]) as tf.Tensor3D,
    upperDivLower: tf.zeros([B, h, S, dV]) as tf.Tensor4D,
  };
}

/** All tensors of a state (for keep / dispose / checkpoints). */
export function attnStateTensors(s: AttnState): tf.Tensor[] {
  return [s.z, s.kHat, s.v, s.lower, s.upperDivLower];
}

function mapState(s: AttnState, f: <T extends tf.Tensor>(x: T) => T): AttnState {
  return { z: s.z, kHat: f(s.kHat), v: f(s.v), lower: f(s.lower), upperDivLower: f(s.upperDivLower) };
}

function checkState(s: AttnState, B: number, h: number, M: number, dK: number, dV: number, S: number): void {
  const want = [`${B},${h},${M}`, `${B},${h},${M},${dK}`, `${B},${h},${M},${dV}`, `${B},${h},${S}`, `${B},${h},${S},${dV}`];
  const got = attnStateTensors(s).map((t) => t.shape.join());
  if (got.some((g, i) => g !== want[i])) {
    throw new Error(`attention state shapes [${got.join("] [")}] do not match B=${B}, h=${h}, M=${M}, S=${S}, d_k=${dK}, d_v=${dV}; create it with initialAttnState`);
  }
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

// ------------------------------------------------------------------------------------------------------------
// (b) The block recurrence
// ------------------------------------------------------------------------------------------------------------

export interface LinearOptions {
  /** L for this call */
  blockLen: number;
  /** M, the window of cached keys (vq-parallel: = L) */
  memLen: number;
  aggCache: boolean;
  /** let gradients flow through the carried window and cache between the blocks of this call */
  gradThruCache: boolean;
  /** tokens of the sequence before this call (masks window slots that were never filled) */
  pos: number;
}

/**
 * Cache update after a block: the L oldest keys of the window (δ their one-hot codes, V their values) leave it
 * and join the compressive cache as running per-code means:
 *   ℓ' = ℓ + Σ_t δ_t,   U'/ℓ' = (ℓ / max(ℓ', 1)) ⊙ U/ℓ + Σ_t (δ_t / max(ℓ', 1)) v_tᵀ.
 * @param lower [B, h, S], udl [B, h, S, d_v], zOut [B, h, L] int32, vOut [B, h, L, d_v]
 */
function absorbIntoCache(lower: tf.Tensor, udl: tf.Tensor, zOut: tf.Tensor, vOut: tf.Tensor, S: number): [tf.Tensor3D, tf.Tensor4D] {
  const delta = noGrad((z) => tf.oneHot(z as tf.Tensor3D, S), zOut); // [B, h, L, S]
  const newLower = tf.add(lower, noGrad((d) => tf.sum(d, 2), delta)); // [B, h, S]
  const denom = tf.maximum(newLower, 1);
  const f1 = tf.div(lower, denom).expandDims(-1); // [B, h, S, 1]
  const f2 = tf.div(delta, denom.expandDims(2)); // [B, h, L, S]
  const newUdl = tf.add(tf.mul(f1, udl), matMul(f2, vOut, true, false)); // [B, h, S, d_v]
  return [newLower as tf.Tensor3D, newUdl as tf.Tensor4D];
}

/**
 * The state after appending T tokens, without computing outputs (what the quadratic form needs to hand a
 * carried state to the linear forms): the window keeps the last M of (old window + new tokens), everything
 * before it joins the compressive cache.
 * @param state before; qk quantized keys [B, h, T, ·]; v [B, h, T, d_v]; S codebook size
 */
export function advanceState(state: AttnState, qk: QuantizedKeys, v: tf.Tensor, S: number): AttnState {
  const M = shapeOf(state.z)[2];
  const T = shapeOf(qk.z)[2];
  const zAll = tf.concat([state.z, qk.z], 2);
  const kAll = tf.concat([state.kHat, qk.kHat], 2);
  const vAll = tf.concat([state.v, v], 2);
  const head = (x: tf.Tensor) => tf.slice(x, [0, 0, 0], [-1, -1, T]);
  const tail = (x: tf.Tensor) => tf.slice(x, [0, 0, T], [-1, -1, M]);
  const [lower, udl] = absorbIntoCache(state.lower, state.upperDivLower, head(zAll), head(vAll), S);
  return { z: tail(zAll) as tf.Tensor3D, kHat: tail(kAll) as tf.Tensor4D, v: tail(vAll) as tf.Tensor4D, lower, upperDivLower: udl };
}

/**
 * (b) Linear-time block recurrence: blocks of L queries attend to the window (M cached + L present keys) and to
 * the compressive cache, then the window slides and the oldest L keys join the cache.
 * @param q  [B, H, T, d_k], qk quantized keys [B, h, T, ·], v [B, h, T, d_v]
 * @param C  [h, S, d_k] codebook
 * @param xl XL biases with r covering ≥ M + 1 distances
 * @param state the state before this call (initialAttnState at a sequence start)
 * @returns  outputs [B, H, T, d_v] and the state after T tokens
 */
export function vqAttentionRecurrent(q: tf.Tensor, qk: QuantizedKeys, v: tf.Tensor, C: tf.Tensor, xl: XLBias,
                                     state: AttnState, opts: LinearOptions): AttnOutput {
  const dims = dimsOf(q, qk.kHat, v, xl);
  const { B, H, h, G, T, dK, dV } = dims;
  const S = shapeOf(C)[1];
  const { blockLen: L, memLen: M } = opts;
  if (T % L !== 0) throw new Error(`block length L = ${L} must divide the ${T} tokens of this call`);
  checkState(state, B, h, M, dK, dV, S);
  const rRev = reversedRelativeKeys(xl.r, M + 1);
  const quAll = addHeadBias(q, xl.u);
  const qwAll = addHeadBias(q, xl.w);
  const K = M + L;
  const outs: tf.Tensor[] = [];
  let st = state;
  for (let n = 0; n < T / L; n++) {
    const pos = opts.pos + n * L;
    const invalid = Math.max(M - pos, 0);
    const take = (x: tf.Tensor) => tf.slice(x, [0, 0, n * L], [-1, -1, L]);
    const qu = groupHeads(take(quAll), h); // [B, h, G·L, d_k]
    const qw = groupHeads(take(qwAll), h);
    const kWin = tf.concat([st.kHat, take(qk.kHat)], 2); // [B, h, M+L, d_k]
    const vWin = tf.concat([st.v, take(v)], 2); // [B, h, M+L, d_v]
    const zWin = tf.concat([st.z, take(qk.z)], 2); // [B, h, M+L]
    const ac = matMul(qu, kWin, false, true); // [B, h, G·L, K]
    const bd = relativeBias(matMulPerHead(qw, rRev).reshape([B * h * G, L, M + 1]), K); // [B·h·G, L, K]
    // key j sits at block position j − M: causal, allocated, and (cache off) within distance M
    const mask = scoreMask(L, K, { maxDistance: opts.aggCache ? undefined : M, firstValidKey: invalid });
    const sWin = tf.add(tf.add(ac.reshape([B * h * G, L, K]), bd), mask).reshape([B, h, G * L, K]);
    let out: tf.Tensor;
    if (opts.aggCache) {
      const sCache = tf.add(matMulPerHead(qu, C), countBias(st.lower).expandDims(2)); // [B, h, G·L, S]
      const [wWin, wCache] = jointSoftmax([sWin, sCache]);
      out = tf.add(matMul(wWin, vWin), matMul(wCache, st.upperDivLower)); // [B, h, G·L, d_v]
    } else {
      out = matMul(jointSoftmax([sWin])[0], vWin);
    }
    outs.push(out.reshape([B, H, L, dV]));
    // slide: the first L window entries join the cache, the last M stay
    const [lower, udl] = absorbIntoCache(st.lower, st.upperDivLower,
      tf.slice(zWin, [0, 0, 0], [-1, -1, L]), tf.slice(vWin, [0, 0, 0], [-1, -1, L]), S);
    const tail = <X extends tf.Tensor>(x: X) => tf.slice(x, [0, 0, L], [-1, -1, M]) as unknown as X;
    st = { z: tail(zWin) as tf.Tensor3D, kHat: tail(kWin) as tf.Tensor4D, v: tail(vWin) as tf.Tensor4D, lower, upperDivLower: udl };
    if (!opts.gradThruCache) st = mapState(st, stopGradient);
  }
  const out = (outs.length === 1 ? outs[0] : tf.concat(outs, 2)) as tf.Tensor4D;
  return { out, state: st };
}

// ------------------------------------------------------------------------------------------------------------
// (c) All blocks in parallel
// ------------------------------------------------------------------------------------------------------------

/**
 * Exclusive prefix sums over blocks, y[p, r] = Σ_{e < r} x[p, e], as a product with the strictly lower-triangular
 * ones matrix (3–4× faster than Cumsum on the native backend).
 * @param x [P, E, X]
 * @returns [P, E, X]
 */
function prefixSumsOverBlocks(x: tf.Tensor): tf.Tensor3D {
  const [P, E, X] = shapeOf(x);
  const A = tf.tensor2d(Float32Array.from({ length: E * E }, (_, n) => (n % E < Math.floor(n / E) ? 1 : 0)), [E, E]);
  if (P === 1) return matMul(A, x.reshape([E, X])).reshape([1, E, X]) as tf.Tensor3D;
  return matMul(tf.tile(A.expandDims(0), [P, 1, 1]), x) as tf.Tensor3D;
}

/** Query rows per block, all blocks stacked: [B, H, R·L, d] → [B·h·R, G·L, d] (a reshape unless G > 1). */
function blocksOfQueries(x: tf.Tensor, h: number, R: number, L: number): tf.Tensor3D {
  const [B, H, , d] = shapeOf(x);
  const G = H / h;
  if (G === 1) return x.reshape([B * h * R, L, d]) as tf.Tensor3D;
  const byGroup = tf.transpose(x.reshape([B * h, G, R, L * d]), [0, 2, 1, 3]); // [B·h, R, G, L·d]
  return byGroup.reshape([B * h * R, G * L, d]) as tf.Tensor3D;
}

/** Inverse of blocksOfQueries for outputs: [B·h·R, G·L, d] → [B, H, R·L, d]. */
function queriesOfBlocks(x: tf.Tensor, B: number, H: number, h: number, R: number, L: number): tf.Tensor4D {
  const d = shapeOf(x)[2];
  const G = H / h;
  if (G === 1) return x.reshape([B, H, R * L, d]) as tf.Tensor4D;
  return tf.transpose(x.reshape([B * h, R, G, L * d]), [0, 2, 1, 3]).reshape([B, H, R * L, d]) as tf.Tensor4D;
}

/**
 * The (block, code) slot of every key, for per-block code sums by segment sum instead of a product with one-hot
 * codes (T·d_v additions instead of 2·T·S·d_v multiply-adds; its gradient is a gather): key t of block row e
 * with code z_t goes to slot e·S + z_t; empty window slots (code S) get −1, which segment sums drop.
 * @param z [B, h, (R+1)·L] int32 shortcodes, blocks of L along the last axis
 * @returns [B·h·(R+1)·L] int32
 */
function codeSlots(z: tf.Tensor, S: number, L: number): tf.Tensor1D {
  return noGrad((zz) => {
    const n = zz.size;
    const flat = zz.reshape([n]);
    const block = tf.floorDiv(tf.range(0, n, 1, "int32"), tf.scalar(L, "int32")); // (b, h, e) row of position t
    const slot = tf.add(tf.mul(block, tf.scalar(S, "int32")), flat);
    return tf.where(tf.equal(flat, tf.scalar(S, "int32")), tf.fill([n], -1, "int32"), slot);
  }, z) as tf.Tensor1D;
}

/**
 * (c) Block-parallel linear form: every block attends to itself (causal), to the previous block (block 0: the
 * carried window) and to the compressive cache. The cache of block r holds the carried cache plus the code sums
 * of blocks −1 … r−2 (block −1 = the carried window): per-block value sums U_e = δ_eᵀ V_e and counts ℓ_e,
 * accumulated by exclusive prefix sums over the blocks −1 … R−1 (which is the two-block shift). Requires M = L.
 * All tensors keep the blocks of every sequence and head in one leading axis (rank ≤ 4: wasm slices of higher
 * rank are two orders of magnitude slower). Cost O(T (S + 2L)(d_k + d_v)), no T×T matrix.
 * @param q [B, H, T, d_k], qk quantized keys [B, h, T, ·], v [B, h, T, d_v], C [h, S, d_k]
 * @param xl XL biases with r covering ≥ L + 1 distances
 * @param state the state before this call (window of M = L keys)
 */
export function vqAttentionParallel(q: tf.Tensor, qk: QuantizedKeys, v: tf.Tensor, C: tf.Tensor, xl: XLBias,
                                    state: AttnState, opts: LinearOptions): AttnOutput {
  const dims = dimsOf(q, qk.kHat, v, xl);
  const { B, H, h, G, T, dK, dV } = dims;
  const S = shapeOf(C)[1];
  const L = opts.blockLen;
  if (opts.memLen !== L) throw new Error(`the parallel form needs M = L, got M = ${opts.memLen}, L = ${L}; use vqAttentionRecurrent`);
  if (T % L !== 0) throw new Error(`block length L = ${L} must divide the ${T} tokens of this call`);
  checkState(state, B, h, L, dK, dV, S);
  const R = T / L;
  const N = B * h * R; // blocks of all sequences and key heads
  const sgIf = <X extends tf.Tensor>(x: X): X => (opts.gradThruCache ? x : stopGradient(x));

  // keys and values of blocks −1 … R−1 (block −1 is the carried window)
  const kAll = tf.concat([sgIf(state.kHat), qk.kHat], 2); // [B, h, (R+1)L, d_k]
  const vAll = tf.concat([sgIf(state.v), v], 2); // [B, h, (R+1)L, d_v]
  const zAll = tf.concat([state.z, qk.z], 2); // [B, h, (R+1)L]
  const kPrev = sgIf(tf.slice(kAll, [0, 0, 0, 0], [-1, -1, R * L, -1]).reshape([N, L, dK]));
  const vPrev = sgIf(tf.slice(vAll, [0, 0, 0, 0], [-1, -1, R * L, -1]).reshape([N, L, dV]));
  const kPres = qk.kHat.reshape([N, L, dK]);
  const vPres = v.reshape([N, L, dV]);

  // window scores [N, G·L, 2L]: previous block then present block
  const qu = blocksOfQueries(addHeadBias(q, xl.u), h, R, L); // [N, G·L, d_k]
  const qw = blocksOfQueries(addHeadBias(q, xl.w), h, R, L);
  const ac = matMul(qu, tf.concat([kPrev, kPres], 1), false, true); // [N, G·L, 2L]
  const p = matMulPerHead(qw.reshape([B, h, R * G * L, dK]), reversedRelativeKeys(xl.r, L + 1)); // [B, h, R·G·L, L+1]
  const bd = relativeBias(p.reshape([N * G, L, L + 1]), 2 * L); // [N·G, L, 2L]
  const mask = scoreMask(L, 2 * L, { maxDistance: opts.aggCache ? undefined : L });
  let sWin = tf.add(tf.add(ac.reshape([N * G, L, 2 * L]), bd), mask).reshape([B * h, R, G * L, 2 * L]);
  const invalid = Math.max(L - opts.pos, 0); // window slots of block 0 never filled
  if (invalid > 0) {
    sWin = tf.add(sWin, tf.tensor3d(Float32Array.from({ length: R * 2 * L }, (_, n) => (n < invalid ? NEG_INF : 0)), [R, 1, 2 * L]));
  }
  sWin = sWin.reshape([N, G * L, 2 * L]);

  // per-block code counts and value sums of blocks −1 … R−1, then the cache of each block and after the call
  const slot = codeSlots(zAll, S, L); // [B·h·(R+1)·L]: the (block, code) slot of each key, −1 for empty slots
  const nSlots = B * h * (R + 1) * S;
  const countsByBlock = noGrad((i) => tf.unsortedSegmentSum(tf.onesLike(i).asType("float32"), i as tf.Tensor1D, nSlots), slot).reshape([B * h, R + 1, S]);
  const sumsByBlock = tf.unsortedSegmentSum(vAll.reshape([-1, dV]), slot, nSlots).reshape([B * h, R + 1, S * dV]); // U_e = δ_eᵀ V_e
  // cache of block r (r = 0 … R; row R = after the call) = carried cache + Σ_{e ≤ r−1} blocks e (e = 0 is block −1)
  const lowerAll = tf.add(prefixSumsOverBlocks(countsByBlock), state.lower.reshape([B * h, 1, S])); // [B·h, R+1, S]
  const upper0 = sgIf(tf.mul(state.upperDivLower, state.lower.expandDims(-1))).reshape([B * h, 1, S * dV]);
  const upperAll = tf.add(sgIf(prefixSumsOverBlocks(sumsByBlock)), upper0); // [B·h, R+1, S·d_v]
  const udlAll = tf.div(upperAll.reshape([B * h, R + 1, S, dV]), tf.maximum(lowerAll, 1).expandDims(-1)); // [B·h, R+1, S, d_v]

  const wPrevPres = (w: tf.Tensor) => [tf.slice(w, [0, 0, 0], [-1, -1, L]), tf.slice(w, [0, 0, L], [-1, -1, L])];
  let outBlocks: tf.Tensor;
  if (opts.aggCache) {
    const lowerBlocks = tf.slice(lowerAll, [0, 0, 0], [-1, R, -1]).reshape([N, 1, S]);
    const udlBlocks = tf.slice(udlAll, [0, 0, 0, 0], [-1, R, -1, -1]).reshape([N, S, dV]);
    const sCache = tf.add(matMulPerHead(qu.reshape([B, h, R * G * L, dK]), C).reshape([N, G * L, S]), countBias(lowerBlocks)); // [N, G·L, S]
    const [wWin, wCache] = jointSoftmax([sWin, sCache]);
    const [wPrev, wPres] = wPrevPres(wWin);
    outBlocks = tf.add(tf.add(matMul(wPrev, vPrev), matMul(wPres, vPres)), matMul(wCache, udlBlocks));
  } else {
    const [wPrev, wPres] = wPrevPres(jointSoftmax([sWin])[0]);
    outBlocks = tf.add(matMul(wPrev, vPrev), matMul(wPres, vPres));
  }
  const out = queriesOfBlocks(outBlocks, B, H, h, R, L); // [B, H, T, d_v]

  const last = <X extends tf.Tensor>(x: X) => tf.slice(x, [0, 0, R * L], [-1, -1, L]) as unknown as X;
  const newState: AttnState = {
    z: last(zAll) as tf.Tensor3D,
    kHat: last(kAll) as tf.Tensor4D,
    v: last(vAll) as tf.Tensor4D,
    lower: tf.slice(lowerAll, [0, R, 0], [-1, 1, -1]).reshape([B, h, S]) as tf.Tensor3D,
    upperDivLower: tf.slice(udlAll, [0, R, 0, 0], [-1, 1, -1, -1]).reshape([B, h, S, dV]) as tf.Tensor4D,
  };
  return { out, state: newState };
}
