/**
 * Where a training step's time goes: wall time per kernel (exclusive of nested kernels, so custom-gradient
 * wrappers count only their own overhead), grouped into categories — matmuls, the softmax/exp passes, gathers and
 * one-hot codes, transposes, data movement, elementwise work, reductions — plus tensor disposal and the rest
 * (JavaScript bookkeeping of the gradient tape, shape checks, host reads). The fraction of the matmul peak a step
 * reaches (measure.ts) is bounded by everything that is not a matmul here.
 */
import { Config } from "../../config";
import { median } from "../../util/stats";
import { EngineMonitor } from "./engine-monitor";
import { MeasureOptions, stepRunner, withStepShape } from "./measure";

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
}

/**
 * Profiles training steps: `warmup` untimed and `reps` timed steps under the engine monitor, wall time attributed
 * to kernel names and categories. On the native backend kernels run synchronously, so the times are the kernels' own.
 * @param cfg  e.g. throughputConfig(...)
 * @param opts.byShape key kernels by their input shapes too
 */
export function profileTrainStep(cfg: Config, opts: MeasureOptions & { byShape?: boolean } = {}): StepProfile {
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
    return { seconds: median(times) / 1000, kernels, categories, disposeMs, otherMs };
  } finally {
    monitor.stop();
    runner.dispose();
  }
}
