/**
 * The recurrent state of VQ-attention (paper §5.4) and its lifetime. An attention sublayer carries, from one block
 * (or one call) to the next, the window of the last M keys (quantized, with their shortcodes and values) and the
 * compressive cache of every key older than the window: per-code counts ℓ (`lower`) and per-code value means
 * U / max(ℓ, 1) (`upperDivLower`), as in the official code. When the window slides, its L oldest keys (one-hot
 * codes δ_t, values v_t) join the cache as running per-code means:
 *
 *   ℓ' = ℓ + Σ_t δ_t,      U'/ℓ' = (ℓ / max(ℓ', 1)) ⊙ U/ℓ + Σ_t (δ_t / max(ℓ', 1)) v_tᵀ.
 *
 * The model's `RecurrentState` is one such state per attention sublayer plus the position in the sequence (full
 * attention carries only the position). Its tensors outlive the tf.tidy of the call that made them:
 * `tidyWithState` keeps them, `replaceState` frees the previous state's, `disposeState` frees them all.
 */
import * as tf from "../runtime/tf";
import { noGrad, stopGradient } from "../runtime/grad";
import { matMul } from "../runtime/matmul";
import { ModelConfig } from "../config";
import { Model, attentionSublayers, keyHeads } from "./params";
import { QuantizedKeys } from "./vq";

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

/** The state under stop-gradient (the int32 codes carry no gradient and stay as they are). */
export function stopStateGradient(s: AttnState): AttnState {
  return { z: s.z, kHat: stopGradient(s.kHat), v: stopGradient(s.v), lower: stopGradient(s.lower), upperDivLower: stopGradient(s.upperDivLower) };
}

/** Throws unless the state's shapes fit B sequences, h key heads, a window of M, S codes and widths d_k, d_v. */
export function checkState(s: AttnState, B: number, h: number, M: number, dK: number, dV: number, S: number): void {
  const want = [`${B},${h},${M}`, `${B},${h},${M},${dK}`, `${B},${h},${M},${dV}`, `${B},${h},${S}`, `${B},${h},${S},${dV}`];
  const got = attnStateTensors(s).map((t) => t.shape.join());
  if (got.some((g, i) => g !== want[i])) {
    throw new Error(`attention state shapes [${got.join("] [")}] do not match B=${B}, h=${h}, M=${M}, S=${S}, d_k=${dK}, d_v=${dV}; create it with initialAttnState`);
  }
}

/**
 * The cache update (the module's equation): the keys leaving the window, with one-hot codes δ of zOut and values
 * vOut, join the per-code counts and means.
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
 * The window slides: given the M window entries of `state` followed by T new ones (zWin, kWin, vWin), the T
 * oldest entries join the compressive cache and the last M are the new window.
 * @param zWin [B, h, M+T] int32 codes, kWin [B, h, M+T, d_k] quantized keys, vWin [B, h, M+T, d_v] values
 * @param S    codebook size
 */
export function slideWindow(state: AttnState, zWin: tf.Tensor, kWin: tf.Tensor, vWin: tf.Tensor, S: number): AttnState {
  const M = state.z.shape[2];
  const T = zWin.shape[2]! - M;
  const head = (x: tf.Tensor) => tf.slice(x, [0, 0, 0], [-1, -1, T]);
  const tail = (x: tf.Tensor) => tf.slice(x, [0, 0, T], [-1, -1, M]);
  const [lower, udl] = absorbIntoCache(state.lower, state.upperDivLower, head(zWin), head(vWin), S);
  return { z: tail(zWin) as tf.Tensor3D, kHat: tail(kWin) as tf.Tensor4D, v: tail(vWin) as tf.Tensor4D, lower, upperDivLower: udl };
}

/**
 * The state after appending T tokens, without computing outputs (what the quadratic form needs to hand a
 * carried state to the linear forms): the window keeps the last M of (old window + new tokens), everything
 * before it joins the compressive cache.
 * @param state before; qk quantized keys [B, h, T, ·]; v [B, h, T, d_v]; S codebook size
 */
export function advanceState(state: AttnState, qk: QuantizedKeys, v: tf.Tensor, S: number): AttnState {
  return slideWindow(state, tf.concat([state.z, qk.z], 2), tf.concat([state.kHat, qk.kHat], 2), tf.concat([state.v, v], 2), S);
}

// ------------------------------------------------------------------------------------------------------------
// The model's state: one AttnState per sublayer
// ------------------------------------------------------------------------------------------------------------

/** State carried between calls: tokens seen in the current sequence and, for the VQ forms, each sublayer's
 *  window (last M keys, values, shortcodes) and compressive cache (`lower` [B,h,S], `upperDivLower`
 *  [B,h,S,d_v]). Full attention carries nothing but the position (it needs whole sequences). */
export interface RecurrentState {
  /** tokens of the sequence before the next call */
  pos: number;
  /** one per attention sublayer (VQ forms), empty for full attention */
  layers: AttnState[];
}

/** Every VQ form carries the window and the compressive cache; full attention carries nothing. */
export function carriesState(cfg: ModelConfig): boolean {
  return cfg.attnType !== "full";
}

/** The state at the start of a sequence. */
export function initState(m: Model, batchSize: number): RecurrentState {
  const c = m.config;
  const layers = carriesState(c)
    ? attentionSublayers(c).map(() => initialAttnState(batchSize, keyHeads(c), c.memLen, c.nCode, c.dK, c.dV))
    : [];
  return { pos: 0, layers };
}

/** Every tensor of the state, in a fixed order (for tf.keep / dispose / checkpoints). */
export function stateTensors(s: RecurrentState): tf.Tensor[] {
  return s.layers.flatMap(attnStateTensors);
}

/** Rebuilds a state from `stateTensors` output (e.g. read back from a checkpoint). */
export function stateFromTensors(pos: number, tensors: tf.Tensor[]): RecurrentState {
  if (tensors.length % 5 !== 0) throw new Error(`a recurrent state has 5 tensors per sublayer, got ${tensors.length}`);
  const layers: AttnState[] = [];
  for (let i = 0; i < tensors.length; i += 5) {
    const [z, kHat, v, lower, upperDivLower] = tensors.slice(i, i + 5);
    layers.push({ z: z as tf.Tensor3D, kHat: kHat as tf.Tensor4D, v: v as tf.Tensor4D, lower: lower as tf.Tensor3D, upperDivLower: upperDivLower as tf.Tensor4D });
  }
  return { pos, layers };
}

export function disposeState(s: RecurrentState): void {
  tf.dispose(stateTensors(s));
}

/**
 * Runs `fn` inside tf.tidy and keeps the tensors of the recurrent state it returns (tidy cannot look inside the
 * opaque state), together with its tensor result. The caller owns both.
 */
export function tidyWithState<T extends tf.TensorContainer>(fn: () => [RecurrentState, T]): [RecurrentState, T] {
  let state: RecurrentState | undefined;
  const value = tf.tidy(() => {
    const [s, v] = fn();
    for (const t of stateTensors(s)) tf.keep(t);
    state = s;
    return v;
  });
  return [state!, value];
}

/** Replaces a recurrent state by the next one, freeing the tensors the next one does not reuse. */
export function replaceState(prev: RecurrentState, next: RecurrentState): RecurrentState {
  const keep = new Set(stateTensors(next));
  for (const t of stateTensors(prev)) if (!keep.has(t) && !t.isDisposed) t.dispose();
  return next;
}
