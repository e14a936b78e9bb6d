/**
 * Where a training step's time goes: wall time per kernel (exclusive of nested kernels, so custom-gradient
 * wrappers count only their own overhead), grouped into categories — matmuls, the softmax/exp passes, gathers and
 * one-hot codes, transposes, data movement, elementwise work, reductions — plus tensor disposal and the rest
 * (JavaScript bookkeeping of the gradient tape, shape checks, host reads). The fraction of the matmul peak a step
 * reaches (measure.ts) is bounded by everything that is not a matmul here. Per op (kernel call) the step's time
 * also splits by layer (OpLayers): tfjs-core, the backend's JavaScript, the native binding, TensorFlow's kernel,
 * and host reads, counted per step.
 */
import * as tf from "../../runtime/tf";
import { eagerly, graphEnabled } from "../../runtime/graph";
import { Config, getPreset } from "../../config";
import { ABLATION_BASES, ablationConfig } from "../ablation";
import { median } from "../../util/stats";
import { EngineMonitor } from "./engine-monitor";
import { MeasureOptions, measureTrainStep, stepRunner, withStepShape } from "./measure";

/** Time spent in one kernel name during the profiled steps. */
export interface KernelTime {
  /** kernel name (BatchMatMul, Softmax, ...) or "customGrad" for custom-gradient forward wrappers */
  kernel: string;
  /** profile category (kernelCategory) */
  category: string;
  /** milliseconds per step, exclusive of nested kernels */
  ms: number;
  /** calls per step */
  calls: number;
  /** input shapes, e.g. "a[1,1,2,512,128] b[1,1,2,1024,128] transposeA=false" (detailed profiles only) */
  shapes?: string;
}

/** The category of a kernel for the profile summary. */
export function kernelCategory(kernel: string): string {
  if (/MatMul|Conv/.test(kernel)) return "matmul";
  if (/Softmax|^Exp$|^Max$|^Log$/.test(kernel)) return "softmax/exp";
  if (/Gather|OneHot|SegmentSum|ArgMin|ArgMax/.test(kernel)) return "gather/onehot/argmin";
  if (/Transpose|Reverse/.test(kernel)) return "transpose";
  if (/Concat|Slice|Pad|Pack|Unpack|Tile|StridedSlice|Split|MirrorPad/.test(kernel)) return "concat/slice/pad/tile";
  if (/Sum|Mean|Prod|Min|All|Any/.test(kernel)) return "reduce";
  if (/Reshape|Identity|Cast|Fill|ZerosLike|OnesLike|Range/.test(kernel)) return "reshape/cast/fill";
  if (kernel === "customGrad") return "customGrad wrapper";
  return "elementwise";
}

export interface StepProfile {
  /** median wall seconds of the profiled steps (with the hooks' overhead) */
  seconds: number;
  /** per kernel name, exclusive ms per step, slowest first */
  kernels: KernelTime[];
  /** per category, ms per step and share of the step, slowest first */
  categories: Array<{ category: string; ms: number; share: number }>;
  /** ms per step spent disposing tensors (inside and outside kernels) */
  disposeMs: number;
  /** ms per step outside any kernel and outside disposal: tape bookkeeping, JS glue, host reads */
  otherMs: number;
  /** backend kernel calls per step (the ops) */
  ops: number;
  /** native: median seconds of the same step replayed as one TensorFlow graph (not profiled by kind) */
  graphSeconds?: number;
  /** ops per step per category (kernelCategory), most first */
  opsByCategory: Array<{ category: string; calls: number }>;
  /** where one op's time goes, µs per op (layers.ts of the step; the parts sum to totalUs) */
  perOp: OpLayers;
  /** host reads per step (dataSync / data / arraySync) and their ms */
  hostSyncs: { calls: number; ms: number };
}

/**
 * µs per op of a step, split by layer: tfjs-core (the engine: tape, scopes, shape checks, disposal, the kit's JS
 * between ops; everything outside the backend's kernel functions and host reads), the backend's own JavaScript
 * around a kernel (tfjs-node: argument marshalling), the binding call (native: the per-call floor of a 1-element
 * op, measured), TensorFlow's kernel (the rest of executeOp) and host reads. On wasm and cpu the backend kernel is
 * the whole kernel (binding 0).
 */
export interface OpLayers {
  totalUs: number;
  engineUs: number;
  backendJsUs: number;
  bindingUs: number;
  kernelUs: number;
  hostSyncUs: number;
  /** native: µs per executeOp of a 1-element add (the binding's floor); 0 elsewhere */
  bindingFloorUs: number;
}

/** µs per binding call of a 1-element add on the current backend (0 without a binding). */
export function bindingFloorUs(calls = 400): number {
  const a = tf.scalar(1), b = tf.scalar(2);
  const monitor = new EngineMonitor(true);
  try {
    for (let i = 0; i < 20; i++) tf.add(a, b).dispose();
    monitor.start();
    for (let i = 0; i < calls; i++) tf.add(a, b).dispose();
    monitor.stop();
    return monitor.bindingCalls ? (1000 * monitor.bindingMs) / monitor.bindingCalls : 0;
  } finally {
    monitor.stop();
    tf.dispose([a, b]);
  }
}

/**
 * The models whose step the profile reports (issue 12): `tiny` (d 64, one layer, S = L = 32, T 128, B 2), the
 * ablation notebooks' base model (ABLATION_BASES.default: d 64, d_k 16, d_v 128, two layers, S 64, L 32, T 512,
 * B 8) and the cpu-small preset (d 128, two layers, T 512, B 8).
 */
export function profileConfigs(): Array<{ name: string; cfg: Config }> {
  return [
    { name: "tiny", cfg: getPreset("cpu-small", { model: { dModel: 64, dK: 16, dV: 128, nLayer: 1, nCode: 32, blockLen: 32, memLen: 32 }, train: { batchSize: 2, sequenceLen: 128, updateLen: 128 } }) },
    { name: "ablation-base", cfg: ablationConfig(ABLATION_BASES.default) },
    { name: "cpu-small", cfg: getPreset("cpu-small") },
  ];
}

/**
 * Profiles training steps: `warmup` untimed and `reps` timed steps under the engine monitor, wall time attributed
 * to kernel names and categories. On the native backend kernels run synchronously, so the times are the kernels' own.
 * @param cfg  e.g. throughputConfig(...)
 * @param opts.byShape key kernels by their input shapes too
 */
export function profileTrainStep(cfg: Config, opts: MeasureOptions & { byShape?: boolean } = {}): StepProfile {
  const p = eagerly(() => profileEager(cfg, opts));
  // the same step as one TensorFlow graph: measureTrainStep warms up its trace and check, then times replays
  return graphEnabled() ? { ...p, graphSeconds: measureTrainStep(cfg, { ...opts, reps: opts.reps ?? 2 }).seconds } : p;
}

function profileEager(cfg: Config, opts: MeasureOptions & { byShape?: boolean }): StepProfile {
  const reps = opts.reps ?? 2, warmup = opts.warmup ?? 1, seed = opts.seed ?? 1;
  const runner = stepRunner(withStepShape(cfg, opts), seed);
  const monitor = new EngineMonitor(true, opts.byShape ?? false);
  try {
    for (let i = 0; i < warmup; i++) runner.step(i);
    const times: number[] = [];
    monitor.start();
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      runner.step(warmup + i);
      times.push(performance.now() - t0);
    }
    monitor.stop();
    const kernels: KernelTime[] = monitor.kernelTotals().map((k) => ({
      kernel: k.kernel, category: kernelCategory(k.kernel), ms: k.ms / reps, calls: k.calls / reps, ...k.shapes !== undefined ? { shapes: k.shapes } : {},
    }));
    const stepMs = times.reduce((a, b) => a + b, 0) / reps;
    const byCat = new Map<string, number>();
    for (const k of kernels) byCat.set(k.category, (byCat.get(k.category) ?? 0) + k.ms);
    const disposeMs = monitor.disposeMs / reps;
    byCat.set("disposal", disposeMs);
    const inKernels = kernels.reduce((a, k) => a + k.ms, 0);
    const otherMs = Math.max(stepMs - inKernels - disposeMs, 0);
    byCat.set("other (JS, tape, host reads)", otherMs);
    const categories = [...byCat.entries()].map(([category, ms]) => ({ category, ms, share: ms / stepMs })).sort((a, b) => b.ms - a.ms);
    const callsByCat = new Map<string, number>();
    for (const k of kernels) if (k.kernel !== "customGrad") callsByCat.set(k.category, (callsByCat.get(k.category) ?? 0) + k.calls);
    const opsByCategory = [...callsByCat.entries()].map(([category, calls]) => ({ category, calls })).sort((a, b) => b.calls - a.calls);
    const ops = monitor.backendCalls / reps;
    const floor = bindingFloorUs();
    const per = (ms: number) => (ops ? (1000 * ms) / reps / ops : 0);
    const bindingUs = Math.min(floor * monitor.bindingCalls / reps / Math.max(ops, 1), per(monitor.bindingMs));
    const hostSyncUs = per(monitor.hostSyncMs);
    const backendUs = per(monitor.backendMs);
    const totalUs = ops ? (1000 * stepMs) / ops : 0;
    const perOp: OpLayers = monitor.bindingCalls
      ? { totalUs, engineUs: totalUs - backendUs - hostSyncUs, backendJsUs: backendUs - per(monitor.bindingMs), bindingUs, kernelUs: per(monitor.bindingMs) - bindingUs, hostSyncUs, bindingFloorUs: floor }
      : { totalUs, engineUs: totalUs - backendUs - hostSyncUs, backendJsUs: 0, bindingUs: 0, kernelUs: backendUs, hostSyncUs, bindingFloorUs: 0 };
    return {
      seconds: median(times) / 1000, kernels, categories, disposeMs, otherMs, ops, opsByCategory, perOp,
      hostSyncs: { calls: monitor.hostSyncs / reps, ms: monitor.hostSyncMs / reps },
    };
  } finally {
    monitor.stop();
    runner.dispose();
  }
}

/** One row of results/profile.csv: a step's time and op count per category, per layer or its host reads. */
export interface ProfileRow {
  backend: string;
  /** profileConfigs name: tiny, ablation-base, cpu-small */
  config: string;
  B: number;
  T: number;
  /** "category" (kernelCategory, plus disposal and other), "layer" (OpLayers), "host" (host reads) or "graph" (the step as one graph; share = its time over the eager step's) */
  kind: "category" | "layer" | "host" | "graph";
  part: string;
  /** calls per step (ops of the category; host reads); null for layers */
  calls: number | null;
  ms_per_step: number;
  /** µs per op of the whole step (ms_per_step over the step's ops) */
  us_per_op: number;
  share: number;
  /** mean ms of a whole profiled step and its ops */
  step_ms: number;
  ops: number;
  binding_floor_us: number;
  /** 1-minute load average after the profiled steps */
  load_avg: number;
}

/** The rows of one profiled step (ProfileRow). */
export function profileRows(backend: string, name: string, cfg: Config, p: StepProfile, loadAvg: number): ProfileRow[] {
  const stepMs = p.perOp.totalUs * p.ops / 1000;
  const base = { backend, config: name, B: cfg.train.batchSize, T: cfg.train.sequenceLen, step_ms: stepMs, ops: p.ops, binding_floor_us: p.perOp.bindingFloorUs, load_avg: loadAvg };
  const perOp = (ms: number) => (p.ops ? (1000 * ms) / p.ops : 0);
  const calls = new Map(p.opsByCategory.map((c) => [c.category, c.calls]));
  const l = p.perOp;
  const layers: Array<[string, number]> = [["tfjs-core (engine, tape, kit JS)", l.engineUs], ["backend JS", l.backendJsUs], ["binding call", l.bindingUs], ["kernel (TF, wasm or JS)", l.kernelUs], ["host reads", l.hostSyncUs]];
  return [
    ...p.categories.map((c) => ({ ...base, kind: "category" as const, part: c.category, calls: calls.get(c.category) ?? null, ms_per_step: c.ms, us_per_op: perOp(c.ms), share: c.share })),
    ...layers.map(([part, us]) => ({ ...base, kind: "layer" as const, part, calls: null, ms_per_step: (us * p.ops) / 1000, us_per_op: us, share: l.totalUs ? us / l.totalUs : 0 })),
    { ...base, kind: "host" as const, part: "host reads (dataSync / data)", calls: p.hostSyncs.calls, ms_per_step: p.hostSyncs.ms, us_per_op: perOp(p.hostSyncs.ms), share: stepMs ? p.hostSyncs.ms / stepMs : 0 },
    ...p.graphSeconds !== undefined
      ? [{ ...base, kind: "graph" as const, part: "the step as one TensorFlow graph", calls: 1, ms_per_step: 1000 * p.graphSeconds, us_per_op: perOp(1000 * p.graphSeconds), share: stepMs ? 1000 * p.graphSeconds / stepMs : 0 }]
      : [],
  ];
}

/** Three lines for stdout: the step and its µs per op by layer, the ops by kind, the time by kind. */
export function describeProfile(rows: ProfileRow[]): string[] {
  const r0 = rows[0];
  const f = (x: number, d = 0) => x.toFixed(d);
  const layer = rows.filter((r) => r.kind === "layer").map((r) => `${r.part} ${f(r.us_per_op, 1)}`).join(" + ");
  const host = rows.find((r) => r.kind === "host")!;
  const cats = rows.filter((r) => r.kind === "category");
  return [
    `[profile] ${r0.backend.padEnd(6)} ${r0.config} (B ${r0.B} × T ${r0.T}): ${f(r0.step_ms)} ms/step, ${f(r0.ops)} ops, ${f(r0.step_ms * 1000 / Math.max(r0.ops, 1), 1)} µs/op = ${layer}` +
      `${r0.binding_floor_us ? ` (binding floor ${f(r0.binding_floor_us, 1)} µs per call)` : ""}; ${f(host.calls ?? 0)} host reads (${f(host.ms_per_step, 1)} ms); load ${f(r0.load_avg, 1)}`,
    `[profile]   ops by kind: ${cats.filter((r) => r.calls).sort((a, b) => (b.calls ?? 0) - (a.calls ?? 0)).map((r) => `${r.part} ${f(r.calls ?? 0)}`).join(", ")}`,
    `[profile]   time by kind: ${cats.map((r) => `${r.part} ${f(r.ms_per_step, 1)} ms (${f(100 * r.share)}%)`).join(", ")}`,
    ...rows.filter((r) => r.kind === "graph").map((r) => `[profile]   as one TensorFlow graph: ${f(r.ms_per_step, 1)} ms/step, ${f(1 / r.share, 1)}× the eager step`),
  ];
}
