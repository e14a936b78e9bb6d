/**
 * Optimizers of the paper (section 4.4), written out so that their state is a set of named tensors that a
 * checkpoint can save and restore exactly.
 *
 * The official code chains, for the main parameters,
 *   clip_by_global_norm(grad_clip) → optimizer(lr_max) → scale_by_schedule(sched) → add_decayed_weights(−wd_lam)
 * so one update is
 *   p ← p − lr_max · sched(t) · u_t − wd_lam · p          (decay only on parameters that are not 1-D)
 * where the weight decay is NOT multiplied by the learning rate or the schedule, and u_t is
 *   AdamW (Enwik8):  u = m̂ / (√v̂ + ε), m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ);
 *   Adafactor (PG-19, ImageNet64), optax.adafactor defaults: factored second moments (row and column means of
 *     g² + 1e-30, decay 1 − t^−0.8) for parameters whose second-largest dimension is ≥ 128, update clipped to
 *     block RMS ≤ 1, multiplied by max(RMS(p), 1e-3).
 * sched(t) is a linear warmup from 0 to 1 over warmupSteps, then a cosine from 1 down to lrFinalFrac
 * (optax linear_schedule joined with cosine_decay_schedule(alpha = 0.1)); t counts updates from 0.
 * The codebooks are not touched here: their EMA is lib/nn/vq.ts. The numbers that change per update are tensors
 * (UpdateScalars), so that a traced step can be fed them; constants are scalar tensors made once per update.
 *
 * AdamW runs over flat buffers: its moments are one [N] vector each (N = all parameter elements, in the order of
 * the parameter map), and one update concatenates the gradients and the parameters, applies the elementwise rule
 * once to the whole vector and splits the result back. Elementwise, that is the same float32 arithmetic as one
 * update per parameter (the weight decay is multiplied by a 0/1 mask, and p − 0 = p), but a step issues a constant
 * number of kernels plus three reshapes per parameter instead of some fifteen kernels per parameter: on the small
 * models the per-op overhead, not the arithmetic, is what a step costs. Only the global norm is summed in another
 * order. Adafactor's factored moments have one shape per parameter, so it stays per parameter. Either way the
 * checkpoint sees one slot per parameter, `<name>/m`, `/v` (slotTensors, setSlots).
 */
import * as tf from "../runtime/tf";
import { OptimizerName, TrainConfig } from "../config";

/** optax.adafactor defaults the paper ran with (decay_rate, eps, min_dim_size_to_factor, clipping_threshold, min_scale). */
export const ADAFACTOR_DEFAULTS = {
  decayRate: 0.8,
  eps: 1e-30,
  minDimSizeToFactor: 128,
  clipThreshold: 1.0,
  minParamScale: 1e-3,
};
export type AdafactorOptions = typeof ADAFACTOR_DEFAULTS;

/** The hyperparameters one update needs (a subset of TrainConfig). */
export type OptimizerConfig = Pick<TrainConfig, "optimizer" | "lrMax" | "warmupSteps" | "maxSteps" | "lrFinalFrac" |
  "adamB1" | "adamB2" | "adamEps" | "wdLam" | "gradClip">;

/**
 * Optimizer state: `count` updates applied so far (optax's count; the schedule reads it) and the moment
 * tensors by name, `<param name>/m`, `/v` (AdamW), `/vr`, `/vc` (factored Adafactor) or `/v` (unfactored).
 */
export interface OptimizerState {
  name: OptimizerName;
  count: number;
  /** Adafactor's moments by slot name; empty for AdamW, whose moments are `flat` */
  slots: Map<string, tf.Variable>;
  /** AdamW's moments over all parameters at once */
  flat?: FlatMoments;
  adafactor: AdafactorOptions;
}

/** Where each parameter lies in the flat vector of all parameters (the order of the parameter map). */
export interface FlatLayout {
  names: string[];
  shapes: number[][];
  /** elements per parameter */
  sizes: number[];
}

/** AdamW's first and second moments, [N] each, and the weight-decay mask (1 where the parameter is not 1-D). */
export interface FlatMoments {
  layout: FlatLayout;
  m: tf.Variable;
  v: tf.Variable;
  decayMask: tf.Tensor1D;
}

/** Thrown by commitUpdate (applyUpdate, trainSegment), before any state changes, when the gradient norm is NaN or infinite. */
export class NonFiniteGradientError extends Error {}

/** What one update did, for the metrics. */
export interface UpdateInfo {
  /** lr_max · sched(t) used for this update */
  lr: number;
  /** global L2 norm of the gradient before clipping */
  gradNorm: number;
}

/**
 * sched(t) ∈ [0, 1]: linear warmup 0 → 1 over `warmupSteps` updates, then cosine 1 → lrFinalFrac over the
 * remaining maxSteps − warmupSteps updates, constant afterwards. `step` counts updates from 0 (optax count).
 */
export function lrSchedule(step: number, cfg: Pick<TrainConfig, "warmupSteps" | "maxSteps" | "lrFinalFrac">): number {
  const { warmupSteps, maxSteps, lrFinalFrac } = cfg;
  if (step < warmupSteps) return step / warmupSteps;
  const decaySteps = maxSteps - warmupSteps;
  if (decaySteps <= 0) return 1;
  const frac = Math.min(step - warmupSteps, decaySteps) / decaySteps;
  return (1 - lrFinalFrac) * 0.5 * (1 + Math.cos(Math.PI * frac)) + lrFinalFrac;
}

/** The two axes Adafactor factors over ([second-largest, largest], ties by position), or null for a full v. */
export function factoredDims(shape: number[], minDimSizeToFactor: number): [number, number] | null {
  if (shape.length < 2) return null;
  const order = shape.map((n, i) => [n, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[1]);
  const d1 = order[order.length - 2];
  const d0 = order[order.length - 1];
  if (shape[d1] < minDimSizeToFactor) return null;
  return [d1, d0];
}

function zerosVariable(shape: number[], name: string): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros(shape), false, name));
}

/** A fresh variable name per process, so that two optimizers never collide in TF.js's global registry. */
let slotCounter = 0;
function slotVariable(key: string, shape: number[]): tf.Variable {
  return zerosVariable(shape, `opt_${slotCounter++}_${key}`);
}

/** The slot names and shapes `createOptimizer` makes for one parameter. */
export function slotShapes(name: OptimizerName, paramName: string, shape: number[], af: AdafactorOptions = ADAFACTOR_DEFAULTS): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (name === "adamw") {
    out.set(`${paramName}/m`, shape);
    out.set(`${paramName}/v`, shape);
  } else {
    const dims = factoredDims(shape, af.minDimSizeToFactor);
    if (dims) {
      const [d1, d0] = dims;
      out.set(`${paramName}/vr`, shape.filter((_, i) => i !== d0));
      out.set(`${paramName}/vc`, shape.filter((_, i) => i !== d1));
    } else {
      out.set(`${paramName}/v`, shape);
    }
  }
  return out;
}

/**
 * Zero state for `params` (name → variable of any shape).
 * @param adafactor overrides of ADAFACTOR_DEFAULTS (tests factor small matrices with minDimSizeToFactor: 1).
 */
export function createOptimizer(name: OptimizerName, params: Map<string, tf.Variable>, adafactor: Partial<AdafactorOptions> = {}): OptimizerState {
  if (name !== "adamw" && name !== "adafactor") {
    throw new Error(`train.optimizer = ${JSON.stringify(name)} is not an optimizer: use "adamw" or "adafactor"`);
  }
  const af = { ...ADAFACTOR_DEFAULTS, ...adafactor };
  const slots = new Map<string, tf.Variable>();
  if (name === "adamw") return { name, count: 0, slots, flat: flatMoments(params), adafactor: af };
  for (const [pname, p] of params) {
    for (const [key, shape] of slotShapes(name, pname, p.shape, af)) slots.set(key, slotVariable(key, shape));
  }
  return { name, count: 0, slots, adafactor: af };
}

function flatMoments(params: Map<string, tf.Variable>): FlatMoments {
  const ps = [...params.values()];
  const layout: FlatLayout = { names: [...params.keys()], shapes: ps.map((p) => p.shape), sizes: ps.map((p) => p.size) };
  const n = layout.sizes.reduce((a, b) => a + b, 0);
  const mask = new Float32Array(n);
  let at = 0;
  for (const p of ps) {
    if (p.rank !== 1) mask.fill(1, at, at + p.size);
    at += p.size;
  }
  return { layout, m: slotVariable("adamw/m", [n]), v: slotVariable("adamw/v", [n]), decayMask: tf.tensor1d(mask) };
}

/** Frees the moment tensors. */
export function disposeOptimizer(opt: OptimizerState): void {
  for (const v of opt.slots.values()) v.dispose();
  opt.slots.clear();
  if (opt.flat) tf.dispose([opt.flat.m, opt.flat.v, opt.flat.decayMask]);
  opt.flat = undefined;
}

/** Every slot's name and shape, as a checkpoint stores them (`<param>/m`, …). */
export function slotLayout(opt: OptimizerState): Map<string, number[]> {
  if (!opt.flat) return new Map([...opt.slots].map(([k, v]) => [k, v.shape]));
  const { names, shapes } = opt.flat.layout;
  return new Map(names.flatMap((n, i) => [[`${n}/m`, shapes[i]], [`${n}/v`, shapes[i]]] as [string, number[]][]));
}

/** Copies of every slot by checkpoint name, each of its parameter's slot shape; the caller disposes them. */
export function slotTensors(opt: OptimizerState): Map<string, tf.Tensor> {
  const names = [...slotLayout(opt).keys()];
  const flat = opt.flat;
  const tensors = tf.tidy(() => {
    if (!flat) return names.map((k) => tf.clone(opt.slots.get(k)!));
    const m = unflatten(flat.m, flat.layout), v = unflatten(flat.v, flat.layout);
    return m.flatMap((mi, i) => [mi, v[i]]); // the order of slotLayout
  });
  return new Map(names.map((k, i) => [k, tensors[i]]));
}

/**
 * Sets every slot from `values` (slot name → tensor of the slot's shape, e.g. read from a checkpoint; not
 * disposed here). Throws naming the slot when one is missing or has another shape, before anything changes.
 */
export function setSlots(opt: OptimizerState, values: Map<string, tf.Tensor>): void {
  for (const [k, shape] of slotLayout(opt)) {
    const t = values.get(k);
    if (!t) throw new Error(`optimizer slot ${k} is missing: the state belongs to another model or optimizer`);
    if (!tf.util.arraysEqual(t.shape, shape)) throw new Error(`optimizer slot ${k} is [${t.shape}] but this model needs [${shape}]`);
  }
  const flat = opt.flat;
  if (!flat) {
    for (const [k, v] of opt.slots) v.assign(values.get(k)!);
    return;
  }
  tf.tidy(() => {
    const { names } = flat.layout;
    flat.m.assign(flatten(names.map((n) => values.get(`${n}/m`)!)));
    flat.v.assign(flatten(names.map((n) => values.get(`${n}/v`)!)));
  });
}

/** All tensors as one [N] vector, in order. */
function flatten(ts: tf.Tensor[]): tf.Tensor1D {
  return tf.concat(ts.map((t) => tf.reshape(t, [-1])), 0) as tf.Tensor1D;
}

/** A flat [N] vector back into the parameters' shapes. */
function unflatten(x: tf.Tensor, layout: FlatLayout): tf.Tensor[] {
  const parts = layout.sizes.length === 1 ? [x] : tf.split(x, layout.sizes);
  return parts.map((t, i) => tf.reshape(t, layout.shapes[i]));
}

/** ‖g‖₂ over all gradients together (a scalar tensor). */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * The factor min(1, maxNorm / norm) that clip_by_global_norm multiplies every gradient by: maxNorm / norm where
 * norm > maxNorm, else exactly 1; on the device (a traced step has no host branch).
 */
function clipFactor(norm: tf.Scalar, maxNorm: number): tf.Scalar {
  const m = tf.scalar(maxNorm);
  return tf.where(tf.greater(norm, m), tf.div(m, norm), tf.onesLike(norm)) as tf.Scalar;
}

function rms(x: tf.Tensor): tf.Scalar {
  return tf.sqrt(tf.mean(tf.square(x))) as tf.Scalar;
}

/**
 * The numbers that change from update to update, as float32 scalar tensors (the inputs of a traced training
 * step, lib/train/step.ts): lr = lrMax · sched(count); AdamW's bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ; Adafactor's
 * decay 1 − t^−0.8 and its complement; t = count + 1.
 */
export interface UpdateScalars { lr: tf.Scalar; bc1: tf.Scalar; bc2: tf.Scalar; decay: tf.Scalar; decayC: tf.Scalar }

/** This update's UpdateScalars (the caller disposes them), and the rate as a number for the metrics. */
export function updateScalars(opt: OptimizerState, cfg: OptimizerConfig): { k: UpdateScalars; lr: number } {
  const t = opt.count + 1;
  const lr = cfg.lrMax * lrSchedule(opt.count, cfg);
  const decay = 1 - Math.pow(t, -opt.adafactor.decayRate);
  const k = {
    lr: tf.scalar(lr), bc1: tf.scalar(1 - Math.pow(cfg.adamB1, t)), bc2: tf.scalar(1 - Math.pow(cfg.adamB2, t)),
    decay: tf.scalar(decay), decayC: tf.scalar(1 - decay),
  };
  return { k, lr };
}

/** AdamW direction u = m̂/(√v̂ + ε) over the flat vector g [N], and the new moments. */
function adamDirection(flat: FlatMoments, cfg: OptimizerConfig, k: UpdateScalars, g: tf.Tensor): { u: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const b1 = tf.scalar(cfg.adamB1), c1 = tf.scalar(1 - cfg.adamB1), b2 = tf.scalar(cfg.adamB2), c2 = tf.scalar(1 - cfg.adamB2);
  const m = tf.add(tf.mul(flat.m, b1), tf.mul(g, c1));
  const v = tf.add(tf.mul(flat.v, b2), tf.mul(tf.square(g), c2));
  const mHat = tf.div(m, k.bc1);
  const vHat = tf.div(v, k.bc2);
  return { u: tf.div(mHat, tf.add(tf.sqrt(vHat), tf.scalar(cfg.adamEps))), m, v };
}

/**
 * Adafactor direction (before the learning rate) for one parameter p with gradient g (same shape):
 * factored or full second-moment scaling, block-RMS clipping, then × max(RMS(p), minParamScale).
 * Pushes the new moments onto `next`, in the order of updateTargets.
 */
function adafactorDirection(opt: OptimizerState, pname: string, p: tf.Tensor, g: tf.Tensor, k: UpdateScalars, next: tf.Tensor[]): tf.Tensor {
  const af = opt.adafactor;
  const g2 = tf.add(tf.square(g), af.eps);
  let u: tf.Tensor;
  const dims = factoredDims(p.shape, af.minDimSizeToFactor);
  if (dims) {
    const [d1, d0] = dims;
    const vr = opt.slots.get(`${pname}/vr`)!;
    const vc = opt.slots.get(`${pname}/vc`)!;
    const vrNew = tf.add(tf.mul(vr, k.decay), tf.mul(tf.mean(g2, d0), k.decayC));
    const vcNew = tf.add(tf.mul(vc, k.decay), tf.mul(tf.mean(g2, d1), k.decayC));
    next.push(vrNew, vcNew);
    const reducedD1 = d1 > d0 ? d1 - 1 : d1;
    const rowFactor = tf.rsqrt(tf.div(vrNew, tf.mean(vrNew, reducedD1, true)));
    const colFactor = tf.rsqrt(vcNew);
    u = tf.mul(tf.mul(g, tf.expandDims(rowFactor, d0)), tf.expandDims(colFactor, d1));
  } else {
    const v = opt.slots.get(`${pname}/v`)!;
    const vNew = tf.add(tf.mul(v, k.decay), tf.mul(g2, k.decayC));
    next.push(vNew);
    u = tf.mul(g, tf.rsqrt(vNew));
  }
  u = tf.div(u, tf.maximum(1, tf.div(rms(u), af.clipThreshold)));
  return tf.mul(u, tf.maximum(rms(p), af.minParamScale));
}

/**
 * The variables one update replaces, in the order nextValues returns their new values: AdamW's m and v, or
 * Adafactor's moments parameter by parameter, then the parameters.
 */
export function updateTargets(opt: OptimizerState, params: Map<string, tf.Variable>): tf.Variable[] {
  const moments = opt.flat ? [opt.flat.m, opt.flat.v]
    : [...params.keys()].flatMap((pname) => [...slotShapes(opt.name, pname, params.get(pname)!.shape, opt.adafactor).keys()].map((key) => opt.slots.get(key)!));
  return [...moments, ...params.values()];
}

/**
 * One update as a pure function of tensors (no host read, no assignment; the eager update and the traced
 * training step both run it): the global norm ‖g‖ before clipping, and the new value of every updateTargets
 * variable. Clipping multiplies by clipFactor(‖g‖, gradClip) computed in float32, exactly 1 below the threshold.
 */
export function nextValues(opt: OptimizerState, cfg: OptimizerConfig, params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>,
                           k: UpdateScalars): { gradNorm: tf.Scalar; values: tf.Tensor[] } {
  for (const [pname, p] of params) {
    const g = grads.get(pname);
    if (!g) throw new Error(`no gradient for parameter ${pname}: every trainable parameter must reach the loss`);
    if (!tf.util.arraysEqual(g.shape, p.shape)) {
      throw new Error(`gradient of ${pname} has shape [${g.shape}] but the parameter has [${p.shape}]`);
    }
  }
  const flat = opt.flat;
  if (flat && flat.layout.names.join("\n") !== [...params.keys()].join("\n")) {
    throw new Error(`the optimizer was made for the parameters [${flat.layout.names.slice(0, 4).join(", ")}, …] but the update got ` +
      `[${[...params.keys()].slice(0, 4).join(", ")}, …]: make the optimizer from the same parameter map`);
  }
  const wdT = tf.scalar(cfg.wdLam);
  if (flat) {
    // p ← p − lr·u − (wd·mask)·p over all parameters at once, then back into their shapes
    const gFlat = flatten(flat.layout.names.map((n) => grads.get(n)!));
    const gradNorm = tf.sqrt(tf.sum(tf.square(gFlat))) as tf.Scalar;
    const g = cfg.gradClip > 0 ? tf.mul(gFlat, clipFactor(gradNorm, cfg.gradClip)) : gFlat;
    const { u, m, v } = adamDirection(flat, cfg, k, g);
    const p = flatten([...params.values()]);
    let next = tf.sub(p, tf.mul(u, k.lr));
    if (cfg.wdLam > 0) next = tf.sub(next, tf.mul(p, tf.mul(flat.decayMask, wdT)));
    return { gradNorm, values: [m, v, ...unflatten(next, flat.layout)] };
  }
  const gradNorm = globalNorm([...params.keys()].map((n) => grads.get(n)!));
  const clip = cfg.gradClip > 0 ? clipFactor(gradNorm, cfg.gradClip) : undefined;
  const moments: tf.Tensor[] = [], ps: tf.Tensor[] = [];
  for (const [pname, p] of params) {
    const g = clip ? tf.mul(grads.get(pname)!, clip) : grads.get(pname)!;
    const u = adafactorDirection(opt, pname, p, g, k, moments);
    let next = tf.sub(p, tf.mul(u, k.lr));
    if (cfg.wdLam > 0 && p.rank !== 1) next = tf.sub(next, tf.mul(p, wdT));
    ps.push(next);
  }
  return { gradNorm, values: [...moments, ...ps] };
}

/**
 * One parameter update in place: clip the gradients to global norm cfg.gradClip, compute the optimizer
 * direction u, then p ← p − lrMax·sched(count)·u − wdLam·p (decay skipped for 1-D p), count += 1.
 * Throws NonFiniteGradientError (and changes nothing) when ‖g‖ is NaN or infinite.
 * @param params name → variable (any shapes); grads: name → gradient of its parameter's shape, one for every parameter
 */
export function applyUpdate(opt: OptimizerState, cfg: OptimizerConfig, params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>): UpdateInfo {
  const { k, lr } = updateScalars(opt, cfg);
  try {
    const { gradNorm: normT, values } = tf.tidy(() => nextValues(opt, cfg, params, grads, k));
    const gradNorm = normT.dataSync()[0];
    normT.dispose();
    commitUpdate(opt, params, values, gradNorm);
    return { lr, gradNorm };
  } finally {
    tf.dispose(Object.values(k));
  }
}

/**
 * The end of an update whose new values are computed (nextValues; it owns them): the updateTargets take them and the
 * update is counted; when ‖g‖ is NaN or infinite it frees them and throws NonFiniteGradientError, changing nothing.
 */
export function commitUpdate(opt: OptimizerState, params: Map<string, tf.Variable>, values: tf.Tensor[], gradNorm: number): void {
  if (!Number.isFinite(gradNorm)) {
    tf.dispose(values);
    throw new NonFiniteGradientError(`gradient norm is ${gradNorm} at update ${opt.count + 1}; no parameter was changed`);
  }
  assignAll(updateTargets(opt, params), values);
  opt.count += 1;
}

/** v.assign(x) for each pair; the variables take the tensors over (nothing else may dispose them). */
export function assignAll(vars: tf.Variable[], values: tf.Tensor[]): void {
  if (vars.length !== values.length) throw new Error(`assignAll: ${vars.length} variables but ${values.length} values`);
  vars.forEach((v, i) => {
    v.assign(values[i]);
    values[i].dispose(); // the variable holds its own reference
  });
}
