/**
 * Equality to the official code: the kit against golden outputs of the official Transformer-VQ (JAX/Flax, both of
 * its branches) committed under test/fixtures/official/ (its README says how they were made). Each case is a kit
 * run folder holding the official parameters under the kit's names, the tokens, and the official log-probs
 * [B, T, V]; some also hold the gradients of one official training step and the codebooks after its EMA.
 * `goldenLogProbs` runs a case with one attention form the way the kit's evaluation does (calls of U tokens
 * carrying the recurrent state; vq-quadratic and full: one call of T); `goldenTrainingStep` computes the kit's
 * gradients of CE + c_β·L_commit (lib/train/step.ts) and the EMA of the codebooks (lib/nn/vq.ts emaUpdate);
 * `goldenTable` is the table of notebook 21: case × form × backend, max |Δ log p|, tolerance, pass.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { AttnType, ModelConfig, isQuadraticForm, validateModelConfig } from "../config";
import { BackendName, backendInfo, initBackend, nativeAvailable } from "../runtime/backend";
import { forward } from "../nn/model";
import { Model, disposeModel } from "../nn/params";
import { disposeState, initState, replaceState, tidyWithState } from "../nn/state";
import { CodeStats, emaUpdate } from "../nn/vq";
import { loadCheckpoint } from "../train/checkpoint";
import { maskedNLLSum, windowNLL } from "../train/evaluate";
import { loadRunModel } from "../train/run-folder";
import { ROOT, readJSON } from "../util/io";

/** The committed fixtures. */
export const GOLDEN_DIR = path.join(ROOT, "test", "fixtures", "official");

/** What the kit must reproduce: max |Δ log p| and the relative difference of gradients and codebooks. */
export const GOLDEN_TOLERANCE = 1e-5;

/** One golden case (an entry of cases.json). Paths are relative to the fixtures folder. */
export interface GoldenCase {
  name: string;
  /** the official branch that computed it */
  branch: "main" | "optimized";
  commit: string;
  what: string;
  /** kit run folder with the official parameters (several cases share one) */
  run: string;
  /** changes to the run's model config for this case (same weights), e.g. { aggCache: false } */
  model: Partial<ModelConfig>;
  B: number;
  /** tokens per sequence */
  T: number;
  /** tokens per call of the linear forms (the kit's updateLen) */
  U: number;
  V: number;
  /** [B, T, V] float32 little-endian, the official log-probs */
  logProbs: string;
  /** official mean NLL (float32) and the same model in float64 */
  loss: number;
  loss64: number;
  /** max |official float32 − official float64| of the log-probs: the round-off floor */
  officialFp32VsFp64: number;
  inputs: number[][];
  targets: number[][];
  /** checkpoint folder: grad/<param> (official gradients) and ema/<sublayer>.c_sum|c_count (codebooks after the step) */
  grads?: string;
  /** official l_lm, l_commit of that step */
  train?: { l_lm: number; l_commit: number };
  /** weight of the codebook statistics in the official EMA: 1 (main branch), R = T/L (optimized branch) */
  emaStatsWeight?: number;
}

/** Every case of the fixtures folder. */
export function goldenCases(dir = GOLDEN_DIR): GoldenCase[] {
  const file = path.join(dir, "cases.json");
  if (!fs.existsSync(file)) throw new Error(`no golden fixtures at ${dir} (cases.json missing): they are committed under test/fixtures/official/`);
  return readJSON<{ cases: GoldenCase[] }>(file).cases;
}

/** The attention forms a model config allows: full for a full-attention model, else the VQ forms (vq-parallel needs M = L). */
export function goldenForms(cfg: ModelConfig): AttnType[] {
  if (cfg.attnType === "full") return ["full"];
  return cfg.memLen === cfg.blockLen ? ["vq-quadratic", "vq-recurrent", "vq-parallel"] : ["vq-quadratic", "vq-recurrent"];
}

/** A loaded case: the model (official weights, the case's config), its tokens and the official log-probs. */
export interface LoadedGolden {
  case: GoldenCase;
  model: Model;
  inputs: Int32Array;
  targets: Int32Array;
  /** [B·T·V] */
  official: Float32Array;
}

function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b); // copy: the file's bytes are little-endian float32
  return out;
}

/** Loads a case's run folder (lib/train/run-folder.ts loadRunModel) and applies its config changes. */
export function loadGolden(c: GoldenCase, dir = GOLDEN_DIR): LoadedGolden {
  const { model } = loadRunModel(path.join(dir, c.run));
  const config = validateModelConfig({ ...model.config, ...c.model });
  const official = readF32(path.join(dir, c.logProbs));
  if (official.length !== c.B * c.T * c.V) throw new Error(`${c.logProbs} holds ${official.length} values, want B·T·V = ${c.B * c.T * c.V}`);
  return { case: c, model: { ...model, config }, inputs: Int32Array.from(c.inputs.flat()), targets: Int32Array.from(c.targets.flat()), official };
}

/** The same weights with another attention form. */
export function withForm(m: Model, form: AttnType): Model {
  return { ...m, config: { ...m.config, attnType: form } };
}

/**
 * Log-probs [B·T·V] of tokens [B·T] with one attention form: calls of U tokens carrying the recurrent state, as
 * the kit's evaluation runs them (vq-quadratic and full: one call of T from a fresh state).
 */
export function goldenLogProbs(m: Model, form: AttnType, inputs: Int32Array, B: number, T: number, U: number): Float32Array {
  const model = withForm(m, form);
  const V = model.config.vocabSize;
  const n = isQuadraticForm(form) ? T : U;
  if (T % n !== 0) throw new Error(`U = ${U} must divide T = ${T}`);
  const out = new Float32Array(B * T * V);
  let state = initState(model, B);
  try {
    for (let j = 0; j < T / n; j++) {
      const ids = new Int32Array(B * n);
      for (let b = 0; b < B; b++) ids.set(inputs.subarray(b * T + j * n, b * T + (j + 1) * n), b * n);
      const [next, lp] = tidyWithState(() => {
        const o = forward(model, tf.tensor2d(ids, [B, n], "int32"), state, { training: false });
        return [o.state, o.logProbs];
      });
      const vals = lp.dataSync() as Float32Array;
      lp.dispose();
      for (let b = 0; b < B; b++) out.set(vals.subarray(b * n * V, (b + 1) * n * V), (b * T + j * n) * V);
      state = replaceState(state, next);
    }
  } finally {
    disposeState(state);
  }
  return out;
}

/** max |a − b| (NaN if any difference is NaN) and the flat index where it is. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; at: number } {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} values with ${b.length}`);
  let abs = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return { abs: NaN, at: i };
    if (d > abs) { abs = d; at = i; }
  }
  return { abs, at };
}

/** max |a − b| / max |b|: the relative difference of one tensor. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ref = 0;
  for (let i = 0; i < b.length; i++) ref = Math.max(ref, Math.abs(b[i]));
  return maxAbsDiff(a, b).abs / Math.max(ref, 1e-30);
}

/** The kit's mean NLL of a case through its own evaluation (lib/train/evaluate.ts windowNLL, calls of U). */
export function goldenWindowLoss(g: LoadedGolden, form: AttnType): number {
  const { B, T, U } = g.case;
  const batch = { B, T, inputs: g.inputs, targets: g.targets, lossMask: new Float32Array(B * T).fill(1) };
  const w = windowNLL(withForm(g.model, form), batch, isQuadraticForm(form) ? T : U);
  return w.nats / w.tokens;
}

/** The kit's training step on a case against the official one. */
export interface GoldenTrainResult {
  /** per parameter with an official gradient: max |Δ| / max |official| */
  gradRel: Map<string, number>;
  /** kit parameters the official branch has no gradient for (its parameter-free norms, the bias-free tied head) */
  noOfficial: string[];
  /** per codebook tensor (<sublayer>.c_sum | c_count) after the EMA: max |Δ| / max |official| */
  emaRel: Map<string, number>;
  ce: number;
  commit: number;
}

/**
 * One training step of the kit on a case (one call of T from a fresh state, dropout off): the gradients of
 * CE + c_β·L_commit w.r.t. every parameter, and the codebooks after the EMA with the call's statistics weighted
 * by `statsWeight` (1: the kit, as the main branch; the optimized branch weights them by R = T/L), compared with
 * the official gradients and codebooks of the case's `grads` checkpoint. The model is not changed.
 */
export function goldenTrainingStep(g: LoadedGolden, form: AttnType, statsWeight = 1, dir = GOLDEN_DIR): GoldenTrainResult {
  const c = g.case;
  if (!c.grads) throw new Error(`case ${c.name} has no official training step (no grads folder)`);
  const ref = loadCheckpoint(path.join(dir, c.grads)).tensors;
  const model = withForm(g.model, form);
  const names = [...model.params.keys()];
  const vars = names.map((k) => model.params.get(k)!);
  const x = tf.tensor2d(g.inputs, [c.B, c.T], "int32");
  const mask = tf.ones([c.B, c.T]) as tf.Tensor2D;
  const state = initState(model, c.B);
  let kept: { stats: CodeStats[]; ce: tf.Scalar; commit: tf.Scalar } | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const o = forward(model, x, state, { training: true, seed: 1 }, mask);
    const ce = tf.div(maskedNLLSum(o.logProbs, g.targets, mask), c.B * c.T) as tf.Scalar;
    kept = { stats: o.vqStats, ce: tf.keep(ce), commit: tf.keep(o.commitLoss) };
    for (const s of o.vqStats) tf.keep(s.codeSums), tf.keep(s.codeCounts);
    disposeState(o.state);
    return tf.add(ce, tf.mul(o.commitLoss, model.config.cBeta)) as tf.Scalar;
  }, vars);
  const gradRel = new Map<string, number>();
  const noOfficial: string[] = [];
  const emaRel = new Map<string, number>();
  try {
    names.forEach((name, i) => {
      const r = ref.get(`grad/${name}`);
      if (!r) return void noOfficial.push(name);
      const got = grads[vars[i].name]?.dataSync() ?? new Float32Array(r.values.length);
      gradRel.set(name, relDiff(got, r.values));
    });
    model.codebooks.forEach((cb, i) => {
      const [cs, cc] = [cb.cSum, cb.cCount].map((t) => tf.tidy(() => tf.variable(t.clone(), false))); // copies: the model is not changed
      const st = kept!.stats[i];
      const weighted = tf.tidy(() => ({ codeSums: tf.mul(st.codeSums, statsWeight), codeCounts: tf.mul(st.codeCounts, statsWeight) }));
      emaUpdate(cs, cc, [weighted], model.config.cGamma);
      for (const [v, key] of [[cs, `${cb.name}.c_sum`], [cc, `${cb.name}.c_count`]] as const) {
        const r = ref.get(`ema/${key}`);
        if (!r) throw new Error(`${c.grads} has no ema/${key}`);
        emaRel.set(key, relDiff(v.dataSync(), r.values));
      }
      tf.dispose([cs, cc, weighted.codeSums, weighted.codeCounts]);
    });
    return { gradRel, noOfficial, emaRel, ce: kept!.ce.dataSync()[0], commit: kept!.commit.dataSync()[0] };
  } finally {
    tf.dispose([value, x, mask, ...Object.values(grads)]);
    if (kept) tf.dispose([kept.ce, kept.commit, ...kept.stats.flatMap((s) => [s.codeSums, s.codeCounts])]);
    disposeState(state);
  }
}

/** One row of the notebook table. */
export interface GoldenRow {
  case: string;
  branch: string;
  form: AttnType;
  backend: string;
  /** max |kit − official| over all B·T·V log-probs */
  "max |Δ log p|": number;
  /** the official code's own float32 round-off: max |official float32 − official float64| */
  "official fp32−fp64": number;
  /** |kit windowNLL mean loss − official mean loss| */
  "|Δ loss|": number;
  tolerance: number;
  pass: boolean;
}

/** Rows of one case on the current backend, every form its config allows. */
export function goldenCaseRows(c: GoldenCase, dir = GOLDEN_DIR): GoldenRow[] {
  const g = loadGolden(c, dir);
  try {
    return goldenForms(g.model.config).map((form) => {
      const d = maxAbsDiff(goldenLogProbs(g.model, form, g.inputs, c.B, c.T, c.U), g.official).abs;
      const dLoss = Math.abs(goldenWindowLoss(g, form) - c.loss);
      return {
        case: c.name, branch: c.branch, form, backend: backendInfo()?.name ?? "?", "max |Δ log p|": d,
        "official fp32−fp64": c.officialFp32VsFp64, "|Δ loss|": dLoss, tolerance: GOLDEN_TOLERANCE,
        pass: d <= GOLDEN_TOLERANCE && dLoss <= GOLDEN_TOLERANCE,
      };
    });
  } finally {
    disposeModel(g.model);
  }
}

/**
 * The table of notebook 21: every case (or `opts.cases`) × form × backend (default: cpu, wasm and native when its
 * binding is built). The backend in use before the call is restored afterwards.
 */
export async function goldenTable(backends?: BackendName[], opts: { cases?: string[]; dir?: string } = {}): Promise<GoldenRow[]> {
  const dir = opts.dir ?? GOLDEN_DIR;
  const all = goldenCases(dir);
  const unknown = (opts.cases ?? []).filter((n) => !all.some((c) => c.name === n));
  if (unknown.length) throw new Error(`no golden case ${unknown.join(", ")}; the cases are ${all.map((c) => c.name).join(", ")}`);
  const chosen = opts.cases ? all.filter((c) => opts.cases!.includes(c.name)) : all;
  const before = backendInfo()?.name;
  const list = backends ?? (nativeAvailable() ? ["cpu", "wasm", "native"] : ["cpu", "wasm"]) as BackendName[];
  const rows: GoldenRow[] = [];
  try {
    for (const b of list) {
      await initBackend(b);
      for (const c of chosen) rows.push(...goldenCaseRows(c, dir));
    }
  } finally {
    if (before) await initBackend(before);
  }
  return rows;
}
