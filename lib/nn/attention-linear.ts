/**
 * VQ-attention at linear cost (paper §5.4). Keys farther than M carry no position bias (attention.ts), so their
 * score depends on j only through the code z_j: every key older than the window of M cached + L present keys can
 * be summed per code. With ℓ the per-code counts and U the per-code value sums of those keys (the compressive
 * cache, state.ts),
 *
 *   o_i = [Σ_s exp((q_i+u)·C_s) U_s + Σ_{j in window} exp(s_ij) v_j] / [Σ_s exp((q_i+u)·C_s) ℓ_s + Σ_{j in window} exp(s_ij)],
 *
 * which is exactly the quadratic form. As in the official code the cache is stored as counts `lower` = ℓ and
 * per-code means `upperDivLower` = U / max(ℓ, 1); code s enters with the bias log ℓ_s (−∞ when ℓ_s = 0), the
 * stop-gradient max score is subtracted before exp, and weights are divided by the normalizer before they multiply
 * values or cached means.
 *
 * Two forms: (b) `vqAttentionRecurrent` — one block at a time, carrying the state; (c) `vqAttentionParallel` — all
 * blocks at once, cache terms from per-block code sums accumulated with a two-block shift (the optimized branch),
 * the fast training path. Neither builds a T×T matrix.
 */
import * as tf from "../runtime/tf";
import { noGrad, stopGradient } from "../runtime/grad";
import { matMul, matMulPerHead } from "../runtime/matmul";
import { NEG_INF, XLBias, addHeadBias, dimsOf, groupHeads, reversedRelativeKeys, scoreMask, shapeOf } from "./attention";
import { relativeBias } from "./pe";
import { AttnState, checkState, slideWindow, stopStateGradient } from "./state";
import { QuantizedKeys } from "./vq";

/** What a linear form returns: the outputs and the state to carry into the next call. */
export interface AttnOutput {
  /** [B, H, T, d_v] */
  out: tf.Tensor4D;
  /** state after the call's T tokens */
  state: AttnState;
}

/** How a linear form runs one call. */
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

// ------------------------------------------------------------------------------------------------------------
// (b) The block recurrence
// ------------------------------------------------------------------------------------------------------------

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
    st = slideWindow(st, zWin, kWin, vWin, S); // the first L window entries join the cache, the last M stay
    if (!opts.gradThruCache) st = stopStateGradient(st);
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
