/**
 * The paper's theorem, checked numerically: the linear-time forms of VQ-attention (block recurrence and block-
 * parallel) compute the same outputs — and the same gradients — as the quadratic definition over quantized keys.
 * One GAU-style attention sublayer is built from random inputs x and random weights
 * (q = RMSNorm₀(xW_q)·d_k^{-1/4}, k likewise, v = SiLU(xW_v)), keys are quantized once, and every form runs on
 * the same q, k̂, v. With the compressive cache off the reference is the quadratic form restricted to keys within
 * distance M. Gradients are those of Σ out ⊙ c for a random cotangent c, w.r.t. q, k, v and x; the reference
 * passes the straight-through gradient only to the keys the linear forms hold exactly (attention.ts).
 */
import * as tf from "../runtime/tf";
import { XLBias, vqAttentionQuadratic } from "../nn/attention";
import { vqAttentionParallel, vqAttentionRecurrent } from "../nn/attention-linear";
import { AttnState, initialAttnState } from "../nn/state";
import { rmsNorm } from "../nn/norm";
import { quantize } from "../nn/vq";
import { AttnType } from "../config";
import { Rng } from "../runtime/rng";
import { AttentionShape } from "./cost";

/** One random problem of the check: the attention shape, the inputs' width and seed, the cache switches. */
export interface EquivalenceOptions extends AttentionShape {
  /** width of the random inputs x (default 16) */
  dModel?: number;
  seed: number;
  /** compressive cache on/off */
  aggCache: boolean;
  /** gradients through the carried window/cache inside the call (default true; off: only vq-parallel vs
   *  vq-recurrent is meaningful) */
  gradThruCache?: boolean;
}

/** max |a − b| and that divided by max |reference|. */
export interface Diff { abs: number; rel: number }

export interface FormDiff {
  out: Diff;
  gradQ: Diff;
  gradK: Diff;
  gradV: Diff;
  gradX: Diff;
}

export interface EquivalenceResult {
  options: Required<EquivalenceOptions>;
  /** vq-recurrent vs vq-quadratic */
  recurrent: FormDiff;
  /** vq-parallel vs vq-quadratic; only when M = L */
  parallel?: FormDiff;
  /** vq-parallel vs vq-recurrent; only when M = L (meaningful also with gradThruCache off, where vq-quadratic is
   *  not the reference) */
  parallelVsRecurrent?: FormDiff;
  /** largest absolute difference over everything compared */
  maxAbs: number;
}

interface Run { out: Float32Array; gradQ: Float32Array; gradK: Float32Array; gradV: Float32Array; gradX: Float32Array }

function diff(a: Float32Array, ref: Float32Array): Diff {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return { abs, rel: scale > 0 ? abs / scale : abs };
}

function formDiff(a: Run, ref: Run): FormDiff {
  return { out: diff(a.out, ref.out), gradQ: diff(a.gradQ, ref.gradQ), gradK: diff(a.gradK, ref.gradK), gradV: diff(a.gradV, ref.gradV), gradX: diff(a.gradX, ref.gradX) };
}

/** The largest absolute difference the check accepts: float32 round-off is about 1e-7 for values of order 1. */
export const EQUIVALENCE_TOLERANCE = 1e-5;

/** Fills in defaults and checks the shape rules. */
export function equivalenceDefaults(o: EquivalenceOptions): Required<EquivalenceOptions> {
  const H = o.H ?? 1;
  const full: Required<EquivalenceOptions> = {
    T: o.T, L: o.L, M: o.M ?? o.L, S: o.S, dK: o.dK, dV: o.dV, B: o.B ?? 1, H, hKV: o.hKV ?? H,
    dModel: o.dModel ?? 16, seed: o.seed, aggCache: o.aggCache, gradThruCache: o.gradThruCache ?? true,
  };
  for (const [name, v] of Object.entries(full)) {
    if (typeof v !== "number") continue;
    // the seed is any integer ≥ 0 (0 is a normal seed, and the CLI's default); sizes are ≥ 1
    const low = name === "seed" ? 0 : 1;
    if (!(Number.isInteger(v) && v >= low)) throw new Error(`equivalence: ${name} = ${v} must be an integer ≥ ${low}`);
  }
  if (full.T % full.L !== 0) throw new Error(`equivalence: L = ${full.L} must divide T = ${full.T} (T is cut into blocks of L)`);
  if (full.H % full.hKV !== 0) throw new Error(`equivalence: H = ${full.H} must be a multiple of the key heads hKV = ${full.hKV}`);
  return full;
}

/** Larger problems: batch > 1, several heads, multi-query attention, M ≠ L, the cache off, a longer T. */
const LARGER_PROBLEMS: EquivalenceOptions[] = [
  { T: 48, L: 8, S: 16, dK: 8, dV: 12, seed: 3, aggCache: true },
  { T: 32, L: 8, S: 9, dK: 4, dV: 6, B: 2, H: 3, hKV: 1, seed: 7, aggCache: false },
  { T: 40, L: 8, S: 6, dK: 8, dV: 12, B: 3, seed: 4, aggCache: true },
  { T: 30, L: 5, M: 10, S: 7, dK: 6, dV: 5, B: 2, seed: 5, aggCache: true },
  { T: 32, L: 8, S: 9, dK: 4, dV: 6, B: 2, H: 2, seed: 6, aggCache: true },
  { T: 96, L: 16, S: 32, dK: 16, dV: 24, B: 2, seed: 9, aggCache: true },
];

/**
 * The problems of the check: every (L, M) from `divisors` of T = 12 (the official test grid) with the cache on
 * and off, then the first `larger` of six larger problems.
 */
export function equivalenceProblems(divisors: number[], larger: number): EquivalenceOptions[] {
  const grid = [true, false].flatMap((aggCache) => divisors.flatMap((L) => divisors.map((M) => ({ T: 12, L, M, S: 5, dK: 4, dV: 6, seed: 10 * L + M, aggCache }))));
  return [...grid, ...LARGER_PROBLEMS.slice(0, larger)];
}

/** [B, T, n·d] → [B, n, T, d] */
function heads(x: tf.Tensor, n: number, d: number): tf.Tensor4D {
  const [B, T] = x.shape as number[];
  return tf.transpose(x.reshape([B, T, n, d]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/**
 * Runs vq-quadratic (the reference), vq-recurrent and, when M = L, vq-parallel on one random problem and compares
 * outputs and gradients.
 */
export function runEquivalence(options: EquivalenceOptions): EquivalenceResult {
  const o = equivalenceDefaults(options);
  const { T, L, M, S, dK, dV, B, H, hKV: h, dModel, seed } = o;
  let runs: { ref: Run; rec: Run; par?: Run } | undefined;
  tf.tidy(() => {
    const rng = new Rng(seed); // one tensor seed per random input
    const rnd = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, "float32", rng.nextUint32());
    const x = rnd([B, T, dModel]);
    const wQ = rnd([dModel, H * dK], dModel ** -0.5);
    const wK = rnd([dModel, h * dK], dModel ** -0.5);
    const wV = rnd([dModel, h * dV], dModel ** -0.5);
    const scale = dK ** -0.25;
    const C = tf.mul(rmsNorm(rnd([h, S, dK])), scale);
    const xl: XLBias = { r: rnd([h, M + 1, dK], scale) as tf.Tensor3D, u: rnd([H, dK], 0.3) as tf.Tensor2D, w: rnd([H, dK], 0.3) as tf.Tensor2D };
    const cot = rnd([B, H, T, dV]);
    const zeros = (n: number, d: number) => tf.zeros([B, n, T, d]);

    const run = (form: Exclude<AttnType, "full">): Run => {
      // the sublayer from x, with zero offsets dq, dk, dv whose gradients are those w.r.t. q, k, v
      const f = (xx: tf.Tensor, dq: tf.Tensor, dk: tf.Tensor, dv: tf.Tensor) => {
        const proj = (w: tf.Tensor, n: number, d: number) => heads(tf.matMul(xx.reshape([B * T, dModel]), w).reshape([B, T, n * d]), n, d);
        const q = tf.add(tf.mul(rmsNorm(proj(wQ, H, dK)), scale), dq);
        const k = tf.add(tf.mul(rmsNorm(proj(wK, h, dK)), scale), dk);
        const vLin = proj(wV, h, dV);
        const v = tf.add(tf.mul(tf.sigmoid(vLin), vLin), dv);
        const qk = quantize(k, C);
        const state: AttnState = initialAttnState(B, h, M, S, dK, dV);
        const lin = { blockLen: L, memLen: M, aggCache: o.aggCache, gradThruCache: o.gradThruCache, pos: 0 };
        if (form === "vq-quadratic") return vqAttentionQuadratic(q, qk, v, xl, { memLen: M, aggCache: o.aggCache, stBlockLen: L });
        return form === "vq-recurrent" ? vqAttentionRecurrent(q, qk, v, C, xl, state, lin).out : vqAttentionParallel(q, qk, v, C, xl, state, lin).out;
      };
      const inputs = [x, zeros(H, dK), zeros(h, dK), zeros(h, dV)];
      const out = f(inputs[0], inputs[1], inputs[2], inputs[3]);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, b, c, d), cot)))(inputs);
      return { out: out.dataSync() as Float32Array, gradX: grads[0].dataSync() as Float32Array, gradQ: grads[1].dataSync() as Float32Array,
        gradK: grads[2].dataSync() as Float32Array, gradV: grads[3].dataSync() as Float32Array };
    };
    const ref = run("vq-quadratic");
    const rec = run("vq-recurrent");
    const par = M === L ? run("vq-parallel") : undefined;
    runs = { ref, rec, par };
  });
  if (!runs) throw new Error("equivalence run produced nothing");
  const recurrent = formDiff(runs.rec, runs.ref);
  const parallel = runs.par ? formDiff(runs.par, runs.ref) : undefined;
  const parallelVsRecurrent = runs.par ? formDiff(runs.par, runs.rec) : undefined;
  const all = [recurrent, ...(parallel ? [parallel] : [])].flatMap((d) => [d.out, d.gradQ, d.gradK, d.gradV, d.gradX]);
  return { options: o, recurrent, parallel, parallelVsRecurrent, maxAbs: Math.max(...all.map((d) => d.abs)) };
}

/** A row of the equivalence table: the problem, the form, and the max absolute differences from vq-quadratic. */
export interface EquivalenceRow {
  T: number; L: number; M: number; S: number; B: number; H: number; h: number; cache: "on" | "off";
  form: "vq-recurrent" | "vq-parallel";
  out: number; "∂q": number; "∂k": number; "∂v": number; "∂x": number;
  /** the largest relative difference of the row */
  "max rel": number;
}

/** One flat table row per linear form of a result: the shape, then the max absolute differences. */
export function equivalenceRows(r: EquivalenceResult): EquivalenceRow[] {
  const o = r.options;
  const shape = { T: o.T, L: o.L, M: o.M, S: o.S, B: o.B, H: o.H, h: o.hKV, cache: o.aggCache ? "on" as const : "off" as const };
  const forms: Array<[EquivalenceRow["form"], FormDiff | undefined]> = [["vq-recurrent", r.recurrent], ["vq-parallel", r.parallel]];
  return forms.flatMap(([form, d]) => (d ? [{
    ...shape, form, out: d.out.abs, "∂q": d.gradQ.abs, "∂k": d.gradK.abs, "∂v": d.gradV.abs, "∂x": d.gradX.abs,
    "max rel": Math.max(d.out.rel, d.gradQ.rel, d.gradK.rel, d.gradV.rel, d.gradX.rel),
  }] : []));
}

/** One row of the check's verdict table: a backend and a form, its max |Δ| per quantity, PASS or FAIL. */
export interface EquivalenceVerdictRow {
  backend: string;
  form: EquivalenceRow["form"];
  out: number; "∂q": number; "∂k": number; "∂v": number; "∂x": number;
  /** the largest of the five */
  "max |Δ|": number;
  tolerance: number;
  verdict: "PASS" | "FAIL";
}

/**
 * The verdict of the check on one or more backends: one row per backend and linear form (max absolute difference
 * from vq-quadratic of the output and each gradient, PASS when ≤ tolerance), whether all pass, the worst
 * difference, and the verdict sentence naming the backends.
 */
export function equivalenceVerdict(checked: Array<{ backend: string; result: EquivalenceResult }>, tolerance = EQUIVALENCE_TOLERANCE):
  { rows: EquivalenceVerdictRow[]; pass: boolean; worst: number; line: string } {
  if (checked.length === 0) throw new Error("equivalenceVerdict: no backend was checked");
  const rows = checked.flatMap(({ backend, result }) => equivalenceRows(result).map((r): EquivalenceVerdictRow => {
    const worst = Math.max(r.out, r["∂q"], r["∂k"], r["∂v"], r["∂x"]);
    return { backend, form: r.form, out: r.out, "∂q": r["∂q"], "∂k": r["∂k"], "∂v": r["∂v"], "∂x": r["∂x"], "max |Δ|": worst, tolerance, verdict: worst <= tolerance ? "PASS" : "FAIL" };
  }));
  const worst = Math.max(...rows.map((r) => r["max |Δ|"]));
  const pass = rows.every((r) => r.verdict === "PASS");
  const e = (x: number) => (x === 0 ? "0" : x.toExponential(1));
  const failing = [...new Set(rows.filter((r) => r.verdict === "FAIL").map((r) => `${r.form} on ${r.backend}`))];
  const line = pass
    ? `verdict: PASS on ${checked.map((c) => c.backend).join(", ")}: the linear forms compute the quadratic definition's outputs and gradients (worst max |Δ| ${e(worst)} ≤ ${e(tolerance)})`
    : `verdict: FAIL: ${failing.join(", ")} differ from vq-quadratic by up to ${e(worst)} > ${e(tolerance)} (the rows marked FAIL)`;
  return { rows, pass, worst, line };
}
