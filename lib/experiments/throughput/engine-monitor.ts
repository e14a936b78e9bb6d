/**
 * A hook on the tfjs engine while training steps run: the high-water of tensor bytes and of the process RSS, and
 * optionally the wall time of every kernel (exclusive of the kernels nested in it) and of tensor disposal.
 *
 * Why this wraps engine internals (`runKernelFunc`, `disposeTensor`) instead of using `tf.profile` (checked on
 * tfjs 4.22, cpu and native backends; tf.profile gives per kernel call its name, bytesAdded, totalBytesSnapshot,
 * input/output shapes and kernelTimeMs):
 *  - the RSS high-water needs a call inside a step: a step is synchronous JavaScript, so no timer runs while it
 *    does, and tf.profile reports tensor bytes only (the native/wasm heap is outside them);
 *  - tf.profile's kernelTimeMs is inclusive and its records carry no nesting depth: a custom-gradient wrapper is
 *    recorded under its scope's name ("forward") with the time of every kernel inside it, so the exclusive time
 *    per kernel that profileTrainStep reports cannot be recovered from it;
 *  - it does not see tensor disposal, which profileTrainStep reports as its own category;
 *  - it is asynchronous and keeps a record of every kernel call, which would perturb measureTrainStep's timing.
 * In timed mode it also wraps the backend's registered kernel functions, the native binding's `executeOp` and the
 * engine's host reads (`readSync`, `read`), to split the time per op into layers (profile.ts).
 * The wrapping is confined to this file; `stop` restores every function (test/throughput.test.ts checks).
 */
import * as tf from "../../runtime/tf";

/** The engine members the monitor wraps (internal to tfjs-core, stable through 4.x). */
interface EngineLike {
  runKernelFunc(params: KernelParams): unknown;
  disposeTensor(t: tf.Tensor): void;
  readSync(dataId: unknown): unknown;
  read(dataId: unknown): unknown;
  state: { numBytes: number };
}

interface KernelParams {
  kernelName?: string;
  inputs?: Record<string, { shape: number[] } | null>;
  attrs?: Record<string, unknown>;
}

/** Time of one kernel name (and, in detailed mode, input shapes) over the monitored steps. */
export interface KernelTotal {
  /** kernel name (BatchMatMul, Softmax, ...) or "customGrad" for custom-gradient forward wrappers */
  kernel: string;
  /** input shapes and scalar attributes, e.g. "a[1,1,2,512,128] b[1,1,2,1024,128] transposeA=false" (detailed only) */
  shapes?: string;
  /** total exclusive milliseconds */
  ms: number;
  calls: number;
}

/** "a[2,3] b[3,4] transposeA=false transposeB=true" for a kernel call. */
function shapeKey(p: KernelParams): string {
  const ins = Object.entries(p.inputs ?? {}).map(([k, t]) => `${k}[${t?.shape ?? ""}]`);
  const attrs = Object.entries(p.attrs ?? {}).filter(([, v]) => typeof v === "boolean" || typeof v === "number").map(([k, v]) => `${k}=${v}`);
  return [...ins, ...attrs].join(" ");
}

export class EngineMonitor {
  /** tf tensor bytes high-water since start */
  peakBytes = 0;
  /** process RSS high-water since start, sampled every 16 kernels */
  peakRss = 0;
  /** milliseconds spent disposing tensors (timed mode) */
  disposeMs = 0;
  /** timed mode: ms and calls inside the backend's kernel functions (outermost only; tfjs-core's bookkeeping is outside) */
  backendMs = 0;
  backendCalls = 0;
  /** timed mode, native backend: ms and calls inside the binding's executeOp (binding + TensorFlow's eager kernel) */
  bindingMs = 0;
  bindingCalls = 0;
  /** timed mode: host reads (dataSync / data / arraySync: the engine's readSync and read) and their ms */
  hostSyncs = 0;
  hostSyncMs = 0;
  private kernels = new Map<string, { ms: number; calls: number }>();
  private restore: (() => void) | undefined;

  /**
   * @param timeKernels time every kernel and disposal (adds a little overhead per kernel)
   * @param detail      key kernel times by input shapes too
   */
  constructor(private readonly timeKernels: boolean, private readonly detail = false) {}

  start(): void {
    const engine = tf.engine() as unknown as EngineLike;
    const run = engine.runKernelFunc;
    const dispose = engine.disposeTensor;
    const self = this;
    const stack: number[] = []; // child time accumulated per open kernel
    let calls = 0;
    this.peakBytes = engine.state.numBytes;
    this.peakRss = process.memoryUsage.rss();
    engine.runKernelFunc = function (this: EngineLike, params: KernelParams) {
      const t0 = self.timeKernels ? performance.now() : 0;
      if (self.timeKernels) stack.push(0);
      let out: unknown;
      try {
        out = run.call(this, params);
      } finally {
        if (self.timeKernels) {
          const total = performance.now() - t0;
          const child = stack.pop()!;
          if (stack.length) stack[stack.length - 1] += total;
          const name = (params.kernelName ?? "customGrad") + (self.detail ? "|" + shapeKey(params) : "");
          const k = self.kernels.get(name) ?? { ms: 0, calls: 0 };
          k.ms += total - child;
          k.calls++;
          self.kernels.set(name, k);
        }
      }
      const bytes = engine.state.numBytes;
      if (bytes > self.peakBytes) self.peakBytes = bytes;
      if (++calls % 16 === 0) self.sampleRss();
      return out;
    };
    engine.disposeTensor = function (this: EngineLike, t: tf.Tensor) {
      if (!self.timeKernels) return dispose.call(this, t);
      const t0 = performance.now();
      dispose.call(this, t);
      const dt = performance.now() - t0;
      self.disposeMs += dt;
      if (stack.length) stack[stack.length - 1] += dt;
    };
    const undo = this.timeKernels ? this.wrapLayers(engine) : () => undefined;
    this.restore = () => {
      engine.runKernelFunc = run;
      engine.disposeTensor = dispose;
      undo();
    };
  }

  /**
   * Timed mode: wraps every kernel function the backend registered (tf.getKernelsForBackend), the native binding's
   * executeOp and the engine's host reads, so that a step's time splits into tfjs-core (outside kernel functions),
   * the backend's own JavaScript, the binding call and TensorFlow's kernel. Returns the function that unwraps.
   */
  private wrapLayers(engine: EngineLike): () => void {
    const undo: Array<() => void> = [];
    const self = this;
    let depth = 0;
    for (const k of tf.getKernelsForBackend(tf.getBackend())) {
      const f = k.kernelFunc;
      k.kernelFunc = ((args: Parameters<typeof f>[0]) => {
        if (depth++ > 0) {
          try { return f(args); } finally { depth--; }
        }
        const t0 = performance.now();
        try {
          return f(args);
        } finally {
          depth--;
          self.backendMs += performance.now() - t0;
          self.backendCalls++;
        }
      }) as typeof f;
      undo.push(() => (k.kernelFunc = f));
    }
    // the addon's functions are read-only: the backend gets a stand-in whose executeOp is timed (the rest inherited)
    const backend = tf.backend() as unknown as { binding?: { executeOp?: (...a: unknown[]) => unknown } };
    const binding = backend.binding;
    const exec = binding?.executeOp;
    if (binding && exec) {
      const timed = Object.create(binding) as typeof binding;
      Object.defineProperty(timed, "executeOp", {
        value: (...a: unknown[]) => {
          const t0 = performance.now();
          try {
            return exec.apply(binding, a);
          } finally {
            self.bindingMs += performance.now() - t0;
            self.bindingCalls++;
          }
        },
      });
      backend.binding = timed;
      undo.push(() => (backend.binding = binding));
    }
    for (const name of ["readSync", "read"] as const) {
      const orig = engine[name];
      engine[name] = function (this: EngineLike, id: unknown) {
        self.hostSyncs++;
        const t0 = performance.now();
        try {
          return orig.call(this, id);
        } finally {
          self.hostSyncMs += performance.now() - t0; // read (async) counts only its start
        }
      };
      undo.push(() => (engine[name] = orig));
    }
    return () => undo.reverse().forEach((u) => u());
  }

  sampleRss(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
  }

  /** Restores the engine (safe to call twice). */
  stop(): void {
    this.sampleRss();
    this.restore?.();
    this.restore = undefined;
  }

  /** Totals per kernel name (and shapes, in detailed mode), slowest first. */
  kernelTotals(): KernelTotal[] {
    return [...this.kernels.entries()]
      .map(([key, k]) => {
        const [kernel, shapes] = key.split("|");
        return { kernel, ms: k.ms, calls: k.calls, ...shapes !== undefined ? { shapes } : {} };
      })
      .sort((a, b) => b.ms - a.ms);
  }
}
