/**
 * Training throughput (paper §3): Transformer-VQ against the same architecture with full quadratic attention.
 *
 * Per query head and token, VQ-attention scores 2L window keys and S codewords and mixes as many value rows, so
 * its forward cost is 2·(S + 2L)·(d_k + d_v) FLOPs (plus 2·(L+1)·d_k for the relative-position scores) at any
 * sequence length T: the work per token is constant and a training step is linear in T. Full attention scores
 * all T keys: 2·T·(d_k + d_v) + 2·T·d_k FLOPs per query head and token, so its step is quadratic in T. Everything
 * else (projections, MLP, output head) is the same in both models. A training step is forward + backward ≈ 3×
 * the forward matmul FLOPs; the quantizer's distances (no gradient) count once.
 *
 * This module holds the analytic FLOP count (`flopsPerToken`), the memory estimate that decides which points
 * fit (`estimateStepBytes`, `planPoint`), the timer of full training steps through lib/train/loop.ts's
 * `trainSegment` (`measureTrainStep`: warm-up excluded, median of ≥ 3, peak tf bytes and process RSS), a kernel
 * profiler (`profileTrainStep`: where a step's time goes), and the throughput figure.
 */
import * as os from "node:os";
import * as tf from "../runtime/tf";
import { AttnType, Config, DeepPartial, HeadType, ModelConfig, getPreset } from "../config";
import { attentionSublayers, createModel, disposeModel, disposeState, initState, keyHeads } from "../nn/model";
import { createOptimizer, disposeOptimizer } from "../train/optim";
import { trainSegment } from "../train/loop";
import { Batch, batchSegment, segmentCount } from "../data/batches";
import { replaceState } from "../train/evaluate";
import { median, std } from "../util/stats";
import { PlotlyFigure, Series, lineFigure } from "../notebook/plots";

// ------------------------------------------------------------------------------------------------------------
// Analytic FLOPs
// ------------------------------------------------------------------------------------------------------------

/** FLOPs per token (2 per multiply-add) of one training step, by part. */
export interface FlopCount {
  /** q, k, v, gate, output projections and the relative-position keys r = sin·W_r (amortized over T) */
  projections: number;
  /** attention scores, relative-position scores and value mixing (VQ: window + codebook; full: all T keys) */
  attention: number;
  /** squared-ReLU MLP (mha / mqa) */
  mlp: number;
  /** output head d_model × V */
  head: number;
  /** VQ shortcode distances k·C (forward only: no gradient flows through argmin) */
  quantizer: number;
  /** forward matmul FLOPs per token (everything above, the quantizer once) */
  forward: number;
  /** a training step per token: 3 × (forward − quantizer) + quantizer */
  train: number;
}

export interface FlopOptions {
  /** count only the causal half of full attention's T×T products (default false: the dense T×T products the
   *  implementation runs, as PaLM-style MFU counts do; the VQ window's 2L keys are always counted whole) */
  causal?: boolean;
}

/**
 * Analytic FLOPs per token of one training step of `model` at sequence length T (one call of T tokens).
 * Per attention sublayer with H query heads, h key heads, widths d = d_model, d_k, d_v:
 *   projections 2d(H·d_k + h·d_k + h·d_v [+ H·d_v gate]) + 2·H·d_v·d + 2·D·d·h·d_k / T  (D distances of r)
 *   VQ attention   H · [2(S + 2L)(d_k + d_v) + 2(L + 1)d_k],   quantizer 2·h·S·d_k
 *   full attention H · [2T(d_k + d_v) + 2T·d_k]  (× 1/2 when causal)
 * @param model model config (attnType full or any vq form; vq-quadratic is counted as the linear form's work)
 * @param T     tokens per sequence
 */
export function flopsPerToken(model: ModelConfig, T: number, opts: FlopOptions = {}): FlopCount {
  if (!Number.isInteger(T) || T < 1) throw new Error(`flopsPerToken: T = ${T} must be a positive integer`);
  const { dModel: d, dK, dV, nHead: H, nCode: S, blockLen: L, memLen: M, vocabSize: V } = model;
  const h = keyHeads(model);
  const nSub = attentionSublayers(model).length;
  const full = model.attnType === "full";
  const D = full ? T : M + 1;
  const gate = model.headType === "shga" ? H * dV : 0;
  const projections = nSub * (2 * d * (H * dK + h * dK + h * dV + gate) + 2 * H * dV * d + (2 * D * d * h * dK) / T);
  const causal = full && opts.causal ? 0.5 : 1;
  const perHead = full ? 2 * T * (dK + dV) + 2 * T * dK : 2 * (S + 2 * L) * (dK + dV) + 2 * (L + 1) * dK;
  const attention = nSub * H * perHead * causal;
  const mlp = model.headType === "shga" ? 0 : model.nLayer * 2 * 2 * d * model.dFF;
  const head = 2 * d * V;
  const quantizer = full ? 0 : nSub * 2 * h * S * dK;
  const trained = projections + attention + mlp + head;
  return { projections, attention, mlp, head, quantizer, forward: trained + quantizer, train: 3 * trained + quantizer };
}

/**
 * The speedup Transformer-VQ would have over the quadratic model if both ran at the same FLOP rate: the ratio of
 * their training FLOPs per token at T. The measured speedup above or below it tells which model uses the
 * hardware better.
 * @param vq   a vq-* model config; full: the same with attnType "full"
 */
export function flopSpeedup(vq: ModelConfig, fullModel: ModelConfig, T: number, opts: FlopOptions = {}): number {
  return flopsPerToken(fullModel, T, opts).train / flopsPerToken(vq, T, opts).train;
}

// ------------------------------------------------------------------------------------------------------------
// Configs of the study
// ------------------------------------------------------------------------------------------------------------

export interface ThroughputPointSpec {
  attnType: AttnType;
  headType: HeadType;
  /** tokens per sequence */
  T: number;
  /** sequences per step */
  B: number;
  /** layers (shga: two GAUs each; mha/mqa: attention + MLP) */
  nLayer: number;
  /** model overrides on top of the preset (e.g. smaller widths for a quick run) */
  model?: Partial<ModelConfig>;
  /** base preset (default "paper-throughput") */
  preset?: string;
}

/**
 * The paper's throughput model (config_throughput.py: d_model 768, d_k 128, S = L = M = 512, AdamW) for one
 * point. SHGA: single-head GAUs with d_v = 2·d_model and no MLP; MHA / MQA: n_heads = d_model / d_k query heads
 * (MHA: as many key heads, MQA: one), d_v = d_k, squared-ReLU MLP of width 4·d_model (MHA) or 5·d_model (MQA).
 * One step covers the whole sequence (updateLen = T).
 */
export function throughputConfig(p: ThroughputPointSpec): Config {
  const base = getPreset(p.preset ?? "paper-throughput").model;
  const merged = { ...base, ...p.model };
  const heads: Partial<ModelConfig> = p.headType === "shga"
    ? { nHead: 1, dFF: 0 }
    : { nHead: Math.max(1, Math.floor(merged.dModel / merged.dK)), dV: merged.dK, dFF: (p.headType === "mha" ? 4 : 5) * merged.dModel };
  const model: DeepPartial<ModelConfig> = { ...p.model, ...heads, attnType: p.attnType, headType: p.headType, nLayer: p.nLayer };
  return getPreset(p.preset ?? "paper-throughput", {
    model,
    train: { batchSize: p.B, sequenceLen: p.T, updateLen: p.T },
  });
}

// ------------------------------------------------------------------------------------------------------------
// Memory
// ------------------------------------------------------------------------------------------------------------

/**
 * Rough peak bytes of one parameter update of U = train.updateLen tokens per sequence (fp32 activations kept for
 * the backward pass, transients of the backward pass, parameters with gradients and AdamW slots, the runtime),
 * used to decide which points fit in memory before running them. Per attention sublayer, sequence and token it
 * counts `lin` row tensors of width W = 2·d_model + 3·H·d_k + 6·H·d_v, plus `blocks` score rows of width
 * H·(2L + S) for the VQ forms or `quad` T×T score tensors per query head for the quadratic forms; `mlp` rows of
 * width d_ff per MLP. The constants are fitted to the process RSS of this kit's steps on the native backend
 * (paper config, SHGA, T = 1k … 4k: VQ ≈ 0.43 MB per token and GAU; full ≈ 0.30 MB per token and GAU plus
 * 8 fp32 T×T tensors), rounded up: the estimate errs on the large side.
 * @param cfg a config from throughputConfig (B = train.batchSize, U = train.updateLen)
 */
export function estimateStepBytes(cfg: Config): number {
  const m = cfg.model;
  const B = cfg.train.batchSize, U = cfg.train.updateLen;
  const H = m.nHead, nSub = attentionSublayers(m).length;
  const W = 2 * m.dModel + 3 * H * m.dK + 6 * H * m.dV;
  const quadratic = m.attnType === "full" || m.attnType === "vq-quadratic";
  const perSub = quadratic
    ? MEMORY_FIT.fullLin * U * W + MEMORY_FIT.quad * H * U * U
    : MEMORY_FIT.vqLin * U * W + MEMORY_FIT.blocks * U * H * (2 * m.blockLen + m.nCode);
  const mlp = m.headType === "shga" ? 0 : MEMORY_FIT.mlp * m.nLayer * U * m.dFF;
  const head = 3 * U * m.vocabSize;
  return MEMORY_FIT.runtimeBytes + 16 * paramCount(m) + 4 * B * (nSub * perSub + mlp + head);
}

/** Live-tensor multipliers of estimateStepBytes (fitted; see its comment) and the runtime's own bytes. */
export const MEMORY_FIT = { vqLin: 9, blocks: 12, fullLin: 7, quad: 8, mlp: 4, runtimeBytes: 512 * 2 ** 20 };

/** Scalars in the model (embedding, projections, MLP, output head; codebooks are negligible). */
function paramCount(m: ModelConfig): number {
  const h = keyHeads(m), nSub = attentionSublayers(m).length;
  const gate = m.headType === "shga" ? m.nHead * m.dV : 0;
  const perSub = m.dModel * (m.nHead * m.dK + 2 * h * m.dK + h * m.dV + gate) + m.nHead * m.dV * m.dModel;
  const mlp = m.headType === "shga" ? 0 : m.nLayer * 2 * m.dModel * m.dFF;
  return m.vocabSize * m.dModel * 2 + nSub * perSub + mlp;
}

/** Whether a point runs, with which update length, and if not why (recorded in the results as skipped). */
export interface PointPlan {
  run: boolean;
  /** tokens per parameter update: T when the whole sequence fits, else the largest fitting T / 2^k (VQ only) */
  U: number;
  /** estimated peak bytes of one update of U tokens */
  estimatedBytes: number;
  /** why the point is skipped, or how it deviates (truncated backprop); empty otherwise */
  reason: string;
}

/**
 * Decides how a point runs within `budgetBytes`: the whole sequence in one update (U = T) when its estimated
 * memory fits. Otherwise the linear VQ forms train the sequence in T / U updates of U tokens (truncated
 * backpropagation, the recurrent state carried as in trainRun: the same work per token, gradients cut every U
 * tokens), with the largest U = T / 2^k ≥ `minUpdateLen` that fits; the quadratic forms carry no state, so they
 * are skipped.
 * @param cfg a config from throughputConfig (U = T)
 * @param budgetBytes e.g. 12 GiB
 */
export function planPoint(cfg: Config, budgetBytes: number, minUpdateLen = 2048): PointPlan {
  const T = cfg.train.sequenceLen, L = cfg.model.blockLen;
  const estimate = (U: number) => estimateStepBytes(withStepShape(cfg, { U }));
  const full = estimate(T);
  if (full <= budgetBytes) return { run: true, U: T, estimatedBytes: full, reason: "" };
  const quadratic = cfg.model.attnType === "full" || cfg.model.attnType === "vq-quadratic";
  if (!quadratic) {
    for (let U = T / 2; Number.isInteger(U) && U % L === 0 && U >= Math.max(minUpdateLen, L); U /= 2) {
      const est = estimate(U);
      if (est <= budgetBytes) {
        return { run: true, U, estimatedBytes: est, reason: `truncated backprop: ${T / U} updates of U = ${U} tokens (one update over T = ${T} needs ~${gib(full)} GiB > budget ${gib(budgetBytes)} GiB)` };
      }
    }
  }
  const what = quadratic ? `the T×T score tensors of ${cfg.model.attnType} attention at T = ${T}` : `activations at T = ${T}`;
  return {
    run: false, U: T, estimatedBytes: full,
    reason: `estimated step memory ${gib(full)} GiB exceeds the budget of ${gib(budgetBytes)} GiB (${what}); raise --budget-gb if the machine has the memory`,
  };
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}

// ------------------------------------------------------------------------------------------------------------
// Timing full training steps
// ------------------------------------------------------------------------------------------------------------

/** Hooks the tfjs engine while a step runs: memory high-water and (optionally) time per kernel. */
interface EngineLike {
  runKernelFunc(params: KernelParams): unknown;
  disposeTensor(t: tf.Tensor): void;
  state: { numBytes: number };
}

interface KernelParams {
  kernelName?: string;
  inputs?: Record<string, { shape: number[] } | null>;
  attrs?: Record<string, unknown>;
}

/** Time spent in one kernel name during the profiled steps. */
export interface KernelTime {
  /** kernel name (BatchMatMul, Softmax, ...) or "customGrad" for custom-gradient forward wrappers */
  kernel: string;
  /** profile category (matmul, softmax, gather, transpose, concat/slice, elementwise, reduce, other) */
  category: string;
  /** milliseconds per step, exclusive of nested kernels */
  ms: number;
  /** calls per step */
  calls: number;
  /** input shapes, e.g. "a[1,1,2,512,128] b[1,1,2,1024,128] tA0 tB1" (detailed profiles only) */
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

/** "a[2,3] b[3,4] transposeA0 transposeB1" for a kernel call. */
function shapeKey(p: KernelParams): string {
  const ins = Object.entries(p.inputs ?? {}).map(([k, t]) => `${k}[${t?.shape ?? ""}]`);
  const attrs = Object.entries(p.attrs ?? {}).filter(([, v]) => typeof v === "boolean" || typeof v === "number").map(([k, v]) => `${k}=${v}`);
  return [...ins, ...attrs].join(" ");
}

class EngineMonitor {
  peakBytes = 0;
  peakRss = 0;
  private kernels = new Map<string, { ms: number; calls: number }>();
  disposeMs = 0;
  private restore: (() => void) | undefined;

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
    this.restore = () => {
      engine.runKernelFunc = run;
      engine.disposeTensor = dispose;
    };
  }

  sampleRss(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
  }

  stop(): void {
    this.sampleRss();
    this.restore?.();
    this.restore = undefined;
  }

  kernelTimes(steps: number): KernelTime[] {
    return [...this.kernels.entries()]
      .map(([key, k]) => {
        const [kernel, shapes] = key.split("|");
        return { kernel, category: kernelCategory(kernel), ms: k.ms / steps, calls: k.calls / steps, ...shapes !== undefined ? { shapes } : {} };
      })
      .sort((a, b) => b.ms - a.ms);
  }
}

export interface MeasureOptions {
  /** sequences per step (overrides cfg.train.batchSize) */
  B?: number;
  /** tokens per sequence (overrides cfg.train.sequenceLen; the step covers all T) */
  T?: number;
  /** tokens per parameter update (overrides cfg.train.updateLen; default T when T is given) */
  U?: number;
  /** timed steps, median reported (≥ 3 for the benchmark; default 3) */
  reps?: number;
  /** untimed steps first (default 1; with truncated backprop a warm-up step runs only its first two updates) */
  warmup?: number;
  /** seed of parameters and tokens */
  seed?: number;
}

export interface StepTiming {
  B: number;
  T: number;
  /** update length: T / U updates per step (U = T: one update over the whole sequence) */
  U: number;
  /** median seconds per training step */
  seconds: number;
  /** standard deviation of the timed steps */
  secondsStd: number;
  /** every timed step, seconds */
  times: number[];
  /** B·T / median seconds */
  tokensPerSec: number;
  /** seconds per token (median step / B·T) */
  secondsPerToken: number;
  /** analytic training FLOPs per token (flopsPerToken(...).train) */
  flopsPerToken: number;
  /** flopsPerToken · tokensPerSec / 1e9 */
  achievedGflops: number;
  /** tf.memory().numBytes high-water during the timed steps */
  peakTensorBytes: number;
  /** process RSS high-water sampled during the timed steps (includes the native/wasm heap) */
  peakRssBytes: number;
  /** the loss of the first step (a sanity value: about ln V at init) */
  firstLoss: number;
  /** the machine's 1-minute load average after the timed steps (other jobs slow every number down) */
  loadAvg: number;
}

/** Random tokens [B·T] with every position scored: a throughput batch (the values do not change the cost). */
export function randomTokenBatch(B: number, T: number, V: number, seed: number): Batch {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) % V);
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) {
    inputs[i] = next();
    targets[i] = next();
  }
  return { B, T, inputs, targets, lossMask: new Float32Array(B * T).fill(1), docIds: new Int32Array(B * T).fill(1) };
}

/**
 * A model, optimizer and batch ready to run training steps; `dispose` frees them. One step is one sequence batch
 * of B × T tokens: T / U parameter updates of U tokens each through lib/train/loop.ts's trainSegment, the recurrent
 * state carried between them under stop-gradient (U = T: one update over the whole sequence), as trainRun does.
 */
function stepRunner(cfg: Config, seed: number): { step: (i: number, segments?: number) => number; dispose: () => void } {
  const { batchSize: B, sequenceLen: T, updateLen: U } = cfg.train;
  const model = createModel(cfg.model, seed);
  const opt = createOptimizer(cfg.train.optimizer, model.params);
  const batch = randomTokenBatch(B, T, cfg.model.vocabSize, seed);
  const segments = Array.from({ length: segmentCount(T, U) }, (_, j) => batchSegment(batch, j, U));
  let updates = 0;
  return {
    /** step i of the run; `upTo` limits it to the first updates (a warm-up needs only the shapes once) */
    step: (i: number, upTo = segments.length) => {
      let state = initState(model, B); // every step starts a sequence
      let loss = 0;
      try {
        const run = segments.slice(0, upTo);
        run.forEach((seg, j) => {
          const r = trainSegment(model, opt, cfg, seg, state, seed + 7919 * i + j + 1, updates++);
          state = replaceState(state, r.state);
          loss += r.loss / run.length;
        });
        return loss;
      } finally {
        disposeState(state);
      }
    },
    dispose: () => {
      disposeOptimizer(opt);
      disposeModel(model);
    },
  };
}

/** cfg with B, T and U (update length) replaced, validated. */
export function withStepShape(cfg: Config, shape: { B?: number; T?: number; U?: number }): Config {
  const B = shape.B ?? cfg.train.batchSize, T = shape.T ?? cfg.train.sequenceLen;
  const U = shape.U ?? (shape.T !== undefined ? T : cfg.train.updateLen);
  if (B === cfg.train.batchSize && T === cfg.train.sequenceLen && U === cfg.train.updateLen) return cfg;
  return getPreset(cfg.preset, { model: cfg.model, train: { ...cfg.train, batchSize: B, sequenceLen: T, updateLen: U }, sampling: cfg.sampling });
}

/**
 * Times full training steps (forward, backward, clip, AdamW/Adafactor update, codebook EMA: lib/train/loop.ts's
 * trainSegment) of a freshly initialized model on random tokens. Warm-up steps are excluded; the median of
 * `reps` timed steps is reported with the peak tensor bytes and process RSS seen while they ran.
 * @param cfg  e.g. throughputConfig(...); B and T from cfg.train unless given
 */
export function measureTrainStep(cfg: Config, opts: MeasureOptions = {}): StepTiming {
  const reps = opts.reps ?? 3, warmup = opts.warmup ?? 1, seed = opts.seed ?? 1;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`measureTrainStep: reps = ${reps} must be an integer ≥ 1 (the benchmark uses ≥ 3)`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`measureTrainStep: warmup = ${warmup} must be an integer ≥ 0`);
  const c = withStepShape(cfg, opts);
  const { batchSize: B, sequenceLen: T, updateLen: U } = c.train;
  const runner = stepRunner(c, seed);
  const monitor = new EngineMonitor(false);
  try {
    let firstLoss = NaN;
    // warm-up: every update of a step has the same shapes, so with T / U > 1 updates the first two suffice
    // (the second sees a carried state); their number does not change the cost per token
    for (let i = 0; i < warmup; i++) {
      const l = runner.step(i, 2);
      if (i === 0) firstLoss = l;
    }
    const times: number[] = [];
    monitor.start();
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const l = runner.step(warmup + i);
      times.push((performance.now() - t0) / 1000);
      if (warmup === 0 && i === 0) firstLoss = l;
    }
    monitor.stop();
    const seconds = median(times);
    const flops = flopsPerToken(c.model, U).train; // per call of U tokens
    const tokensPerSec = (B * T) / seconds;
    return {
      B, T, U, seconds, secondsStd: std(times), times, tokensPerSec, secondsPerToken: seconds / (B * T),
      flopsPerToken: flops, achievedGflops: (flops * tokensPerSec) / 1e9,
      peakTensorBytes: monitor.peakBytes, peakRssBytes: monitor.peakRss, firstLoss, loadAvg: os.loadavg()[0],
    };
  } finally {
    monitor.stop();
    runner.dispose();
  }
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
 * Where a training step's time goes: wraps the engine's kernel dispatch and tensor disposal, runs `warmup`
 * untimed and `reps` timed steps, and attributes wall time to kernel names (exclusive of nested kernels, so
 * custom-gradient wrappers count only their own overhead). The rest is JS bookkeeping (gradient tape, shape
 * checks, host reads). On the native backend kernels run synchronously, so the times are the kernels' own.
 */
export function profileTrainStep(cfg: Config, opts: MeasureOptions & { byShape?: boolean } = {}): StepProfile {
  const reps = opts.reps ?? 2, warmup = opts.warmup ?? 1, seed = opts.seed ?? 1;
  const c = withStepShape(cfg, opts);
  const runner = stepRunner(c, seed);
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
    const kernels = monitor.kernelTimes(reps);
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

// ------------------------------------------------------------------------------------------------------------
// The sweep: rows of the benchmark (shared by scripts/bench.ts and notebooks/20-throughput)
// ------------------------------------------------------------------------------------------------------------

/** One measured, skipped or failed point: a row of results/throughput.csv. */
export interface ThroughputRow {
  backend: string;
  backend_detail: string;
  /** "vq" (vq-parallel), "full" (quadratic) or "small" (the cpu-small preset's step) */
  model: string;
  attn_type: string;
  head_type: string;
  /** tokens per sequence */
  T: number;
  /** sequences per step */
  B: number;
  n_layer: number;
  /** tokens per parameter update (T unless truncated backprop was needed to fit memory) */
  update_len: number;
  status: "ok" | "skipped" | "failed";
  /** why skipped / failed, or the truncated-backprop note */
  reason: string;
  reps: number;
  warmup: number;
  /** median seconds per step (B × T tokens) */
  seconds_per_step: number | null;
  seconds_std: number | null;
  tokens_per_s: number | null;
  /** microseconds per token */
  us_per_token: number | null;
  /** analytic training FLOPs per token */
  flops_per_token: number;
  achieved_gflops: number | null;
  matmul_peak_gflops: number | null;
  /** achieved / matmul peak */
  frac_of_peak: number | null;
  /** VQ rows: tokens/s over the quadratic model's at the same T (both measured) */
  speedup: number | null;
  /** VQ rows: the quadratic model's training FLOPs per token over VQ's (the speedup at equal FLOP rates) */
  flop_ratio: number | null;
  peak_rss_mb: number | null;
  peak_tf_mb: number | null;
  /** estimateStepBytes of the planned update, MiB */
  est_mb: number;
  first_loss: number | null;
  /** 1-minute load average of the machine after the point's timed steps */
  load_avg: number | null;
  d_model: number;
  d_k: number;
  d_v: number;
  n_head: number;
  n_code: number;
  block_len: number;
  d_ff: number;
}

/** A not-yet-measured row for a config (status "ok" until planned otherwise). */
export function throughputRow(backend: string, cfg: Config, model?: string): ThroughputRow {
  const m = cfg.model;
  const T = cfg.train.sequenceLen;
  return {
    backend, backend_detail: "", model: model ?? (m.attnType === "full" ? "full" : "vq"), attn_type: m.attnType, head_type: m.headType,
    T, B: cfg.train.batchSize, n_layer: m.nLayer, update_len: cfg.train.updateLen, status: "ok", reason: "",
    reps: 0, warmup: 0, seconds_per_step: null, seconds_std: null, tokens_per_s: null, us_per_token: null,
    flops_per_token: flopsPerToken(m, cfg.train.updateLen).train, achieved_gflops: null, matmul_peak_gflops: null, frac_of_peak: null,
    speedup: null, flop_ratio: null, peak_rss_mb: null, peak_tf_mb: null, est_mb: estimateStepBytes(cfg) / 2 ** 20, first_loss: null, load_avg: null,
    d_model: m.dModel, d_k: m.dK, d_v: m.dV, n_head: m.nHead, n_code: m.nCode, block_len: m.blockLen, d_ff: m.dFF,
  };
}

export interface ThroughputSweepOptions {
  /** sequence lengths of the SHGA points (and of mha/mqa unless headTs is given) */
  Ts: number[];
  heads: HeadType[];
  /** sequence lengths of the mha / mqa points (default Ts) */
  headTs?: number[];
  B: number;
  nLayer: number;
  /** overrides of the paper's throughput model (e.g. smaller widths for a smoke run) */
  model?: Partial<ModelConfig>;
  reps: number;
  warmup: number;
  /** memory budget per point, bytes */
  budgetBytes: number;
  /** the cpu-small preset's step at this shape (the preset's own B and T in the benchmark), or none */
  small?: { B: number; T: number };
}

/** One point of a sweep: its row (status "skipped" when it does not fit) and the config to run. */
export interface PlannedPoint {
  row: ThroughputRow;
  /** the config to measure, with the planned update length; undefined when skipped */
  cfg?: Config;
  /** the quadratic row measured beside this VQ row */
  pair?: ThroughputRow;
}

/** The cpu-small preset's training step at shape B × T (one update over T). */
export function smallModelConfig(shape: { B: number; T: number }): Config {
  return withStepShape(getPreset("cpu-small"), { B: shape.B, T: shape.T, U: shape.T });
}

/**
 * Every point of a sweep in the order it runs: per head type and T, VQ (vq-parallel) then the quadratic model
 * (full), then the small model; each planned against the memory budget (planPoint).
 * @param backend backend name for the rows
 */
export function planThroughputSweep(backend: string, o: ThroughputSweepOptions): PlannedPoint[] {
  const out: PlannedPoint[] = [];
  const plan = (cfg: Config, model?: string): PlannedPoint => {
    const p = planPoint(cfg, o.budgetBytes);
    const run = p.run ? withStepShape(cfg, { U: p.U }) : undefined;
    const row = throughputRow(backend, run ?? cfg, model);
    Object.assign(row, { reason: p.reason, est_mb: p.estimatedBytes / 2 ** 20, status: p.run ? "ok" : "skipped" });
    const point: PlannedPoint = { row, cfg: run };
    out.push(point);
    return point;
  };
  for (const headType of o.heads) {
    for (const T of headType !== "shga" && o.headTs ? o.headTs : o.Ts) {
      const spec = (attnType: AttnType): ThroughputPointSpec => ({ attnType, headType, T, B: o.B, nLayer: o.nLayer, model: o.model });
      const vqCfg = throughputConfig(spec("vq-parallel"));
      const fullCfg = throughputConfig(spec("full"));
      const vq = plan(vqCfg);
      vq.pair = plan(fullCfg).row;
      vq.row.flop_ratio = flopSpeedup(vqCfg.model, fullCfg.model, T);
    }
  }
  if (o.small) plan(smallModelConfig(o.small), "small");
  return out;
}

/** Fills a row from a measurement (status ok) against the backend's matmul peak. */
export function completeRow(row: ThroughputRow, t: StepTiming, peakGflops: number, reps: number, warmup: number): ThroughputRow {
  return Object.assign(row, {
    status: "ok", reps, warmup, seconds_per_step: t.seconds, seconds_std: t.secondsStd, tokens_per_s: t.tokensPerSec,
    us_per_token: t.secondsPerToken * 1e6, flops_per_token: t.flopsPerToken, achieved_gflops: t.achievedGflops,
    matmul_peak_gflops: peakGflops, frac_of_peak: t.achievedGflops / peakGflops, peak_rss_mb: t.peakRssBytes / 2 ** 20,
    peak_tf_mb: t.peakTensorBytes / 2 ** 20, first_loss: t.firstLoss, update_len: t.U, load_avg: t.loadAvg,
  } as Partial<ThroughputRow>);
}

/** Sets each VQ row's speedup over its quadratic pair where both were measured; returns the rows in order. */
export function throughputSweepRows(points: PlannedPoint[]): ThroughputRow[] {
  for (const p of points) {
    if (p.pair && p.row.status === "ok" && p.pair.status === "ok") p.row.speedup = p.row.tokens_per_s! / p.pair.tokens_per_s!;
  }
  return points.map((p) => p.row);
}

/** One line naming the backend, the point and its numbers (the benchmark's stdout format). */
export function describeRow(r: ThroughputRow): string {
  const name = r.model === "small" ? "cpu-small (vq-parallel)" : `${r.head_type} ${r.attn_type}`;
  const head = `[bench] ${r.backend.padEnd(6)} ${name.padEnd(24)} T=${String(r.T).padEnd(6)} B=${r.B}`;
  if (r.status !== "ok") return `${head}  ${r.status}: ${r.reason}`;
  const n = (x: number | null, d = 1) => (x === null ? "?" : x.toFixed(d));
  const u = r.update_len !== r.T ? ` U=${r.update_len}` : "";
  return `${head}${u}  ${n(r.tokens_per_s, 0)} tok/s, ${n(r.seconds_per_step, 2)} s/step (±${n(r.seconds_std, 2)}, ${r.reps} reps), ` +
    `${n(r.achieved_gflops)} GFLOP/s = ${n(r.frac_of_peak === null ? null : 100 * r.frac_of_peak)}% of matmul peak, RSS ${n(r.peak_rss_mb === null ? null : r.peak_rss_mb / 1024, 2)} GiB, load ${n(r.load_avg)}` +
    (r.speedup !== null ? `, speedup ${r.speedup.toFixed(2)}× (FLOP ratio ${n(r.flop_ratio, 2)}×)` : "");
}

/**
 * Runs a planned sweep in this process (the notebook's path; scripts/bench.ts runs each point in a child process
 * instead, for a clean peak RSS per point). Yields to the event loop between points so a notebook can display.
 * @param onRow called after each point (e.g. to print describeRow)
 */
export async function runThroughputSweep(points: PlannedPoint[], o: { peakGflops: number; reps: number; warmup: number; backendDetail?: string; onRow?: (r: ThroughputRow) => void }): Promise<ThroughputRow[]> {
  for (const p of points) {
    p.row.matmul_peak_gflops = o.peakGflops;
    if (o.backendDetail) p.row.backend_detail = o.backendDetail;
    if (p.cfg) {
      try {
        completeRow(p.row, measureTrainStep(p.cfg, { reps: o.reps, warmup: o.warmup }), o.peakGflops, o.reps, o.warmup);
      } catch (e) {
        Object.assign(p.row, { status: "failed", reason: (e as Error).message.slice(0, 300) });
      }
    }
    if (p.pair && p.row.status === "ok" && p.pair.status === "ok") p.row.speedup = p.row.tokens_per_s! / p.pair.tokens_per_s!;
    await new Promise((res) => setImmediate(res));
    const pairOf = points.find((q) => q.pair === p.row);
    if (pairOf) {
      throughputSweepRows([pairOf]);
      o.onRow?.(pairOf.row);
      o.onRow?.(p.row);
    } else if (!p.pair) o.onRow?.(p.row);
  }
  return throughputSweepRows(points);
}

// ------------------------------------------------------------------------------------------------------------
// Summaries: speedups, extrapolation, per-token scaling
// ------------------------------------------------------------------------------------------------------------

/** Speedup tokens/s(VQ) / tokens/s(full) at every T where both models ran (rows of one backend and head type). */
export function vqSpeedups(rows: ThroughputRow[]): Array<{ T: number; speedup: number; vq: number; full: number }> {
  const out: Array<{ T: number; speedup: number; vq: number; full: number }> = [];
  const Ts = [...new Set(rows.map((r) => r.T))].sort((a, b) => a - b);
  for (const T of Ts) {
    const vq = rows.find((r) => r.T === T && r.model === "vq" && r.status === "ok");
    const full = rows.find((r) => r.T === T && r.model === "full" && r.status === "ok");
    if (vq?.tokens_per_s && full?.tokens_per_s) out.push({ T, speedup: vq.tokens_per_s / full.tokens_per_s, vq: vq.tokens_per_s, full: full.tokens_per_s });
  }
  return out;
}

/**
 * The quadratic model's seconds per token at T, extrapolated from its measured points: a least-squares fit of
 * s/token = a + b·T (its work per token is linear in T) over the measured T ≥ minT. Undefined with < 2 points.
 * @param rows the quadratic model's rows of one backend and head type
 */
export function extrapolateQuadratic(rows: ThroughputRow[], T: number, minT = 2048): number | undefined {
  const pts = rows.filter((r) => r.model === "full" && r.status === "ok" && r.T >= minT && r.us_per_token !== null).map((r) => [r.T, r.us_per_token! / 1e6]);
  if (pts.length < 2) return undefined;
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n, my = pts.reduce((a, p) => a + p[1], 0) / n;
  const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0), sxy = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const b = sxy / sxx, a = my - b * mx;
  return a + b * T;
}

/** The paper's speedup claims by head type and T (PAPER_REFERENCE ids throughput-8k, -32k, -8k-mha). */
export const PAPER_SPEEDUP: Record<string, Record<number, number>> = { shga: { 8192: 3, 32768: 12 }, mha: { 8192: 6 }, mqa: { 8192: 6 } };

/**
 * The speedup table: per backend, head type and T, both models' tokens/s, the measured speedup (or, where the
 * quadratic model was skipped, the speedup against its extrapolated time, marked), the FLOP ratio and the
 * paper's claim.
 */
export function speedupRows(rows: ThroughputRow[]): Array<Record<string, string | number | null>> {
  const out: Array<Record<string, string | number | null>> = [];
  for (const backend of [...new Set(rows.map((r) => r.backend))]) {
    for (const head of [...new Set(rows.filter((r) => r.backend === backend && r.model !== "small").map((r) => r.head_type))]) {
      const mine = rows.filter((r) => r.backend === backend && r.head_type === head && r.model !== "small");
      for (const vq of mine.filter((r) => r.model === "vq").sort((a, b) => a.T - b.T)) {
        const full = mine.find((r) => r.model === "full" && r.T === vq.T);
        let speedup: number | null = null, how = "";
        if (vq.status === "ok" && full?.status === "ok") {
          speedup = vq.tokens_per_s! / full.tokens_per_s!;
          how = "measured";
        } else if (vq.status === "ok") {
          const s = extrapolateQuadratic(mine, vq.T);
          if (s !== undefined && s > 0) {
            speedup = (vq.us_per_token! / 1e6) > 0 ? s / (vq.us_per_token! / 1e6) : null;
            how = "quadratic extrapolated (a + bT fit)";
          }
        }
        out.push({
          backend, head: head.toUpperCase(), T: vq.T, "VQ tokens/s": vq.tokens_per_s, "VQ update length": vq.status === "ok" ? vq.update_len : null,
          "quadratic tokens/s": full?.status === "ok" ? full.tokens_per_s : null, speedup, "speedup from": how || (vq.status === "ok" ? "quadratic not measured" : vq.status),
          "FLOP ratio": vq.flop_ratio, paper: PAPER_SPEEDUP[head]?.[vq.T] !== undefined ? `> ${PAPER_SPEEDUP[head][vq.T]}×` : "",
        });
      }
    }
  }
  return out;
}

/** VQ's microseconds per token at T2 over that at T1 (the paper: "similar throughput" at 131k as at 8k). */
export function perTokenRatio(rows: ThroughputRow[], head: string, T1 = 8192, T2 = 131072): number | undefined {
  const at = (T: number) => rows.find((r) => r.model === "vq" && r.head_type === head && r.T === T && r.status === "ok")?.us_per_token ?? undefined;
  const a = at(T1), b = at(T2);
  return a && b ? b / a : undefined;
}

// ------------------------------------------------------------------------------------------------------------
// Figure
// ------------------------------------------------------------------------------------------------------------

/**
 * Two panels: tokens/s vs T (log-log) per model and head type; and the speedup of Transformer-VQ over the
 * quadratic model where both ran (solid), against the extrapolated quadratic model (open markers, dotted), the
 * FLOP ratio (dashed) and the paper's claims (stars).
 * @param rows benchmark rows of one backend (status "ok" rows are drawn)
 */
export function throughputFigure(rows: ThroughputRow[]): PlotlyFigure {
  const ok = rows.filter((r) => r.status === "ok" && r.tokens_per_s !== null && r.model !== "small");
  if (!ok.length) throw new Error("throughputFigure: no measured points (status ok); run the benchmark first");
  const heads = [...new Set(ok.map((r) => r.head_type))];
  const left: Series[] = [];
  const right: Series[] = [];
  const colors: Record<string, string> = { shga: "#0072B2", mha: "#D55E00", mqa: "#009E73" };
  const table = speedupRows(rows);
  for (const head of heads) {
    const H = head.toUpperCase();
    for (const model of ["vq", "full"]) {
      const pts = ok.filter((r) => r.head_type === head && r.model === model).sort((a, b) => a.T - b.T);
      if (pts.length) left.push({ name: `${model === "vq" ? "Transformer-VQ" : "quadratic"} (${H})`, x: pts.map((r) => r.T), y: pts.map((r) => r.tokens_per_s!), dash: model === "vq" ? "solid" : "dash", color: colors[head] });
    }
    const mine = table.filter((r) => r.head === H && r.speedup !== null);
    const measured = mine.filter((r) => r["speedup from"] === "measured");
    const extra = mine.filter((r) => r["speedup from"] !== "measured");
    if (measured.length) right.push({ name: `measured (${H})`, x: measured.map((r) => r.T as number), y: measured.map((r) => r.speedup as number), color: colors[head] });
    if (extra.length) right.push({ name: `vs extrapolated quadratic (${H})`, x: extra.map((r) => r.T as number), y: extra.map((r) => r.speedup as number), color: colors[head], dash: "dot" });
    const ratio = ok.filter((r) => r.head_type === head && r.model === "vq" && r.flop_ratio !== null).sort((a, b) => a.T - b.T);
    if (ratio.length) right.push({ name: `FLOP ratio (${H})`, x: ratio.map((r) => r.T), y: ratio.map((r) => r.flop_ratio!), dash: "dash", color: colors[head], mode: "lines" });
    const paper = Object.entries(PAPER_SPEEDUP[head] ?? {});
    if (paper.length) right.push({ name: `paper, TPU v3 (${H})`, x: paper.map(([T]) => Number(T)), y: paper.map(([, v]) => v), color: colors[head], mode: "markers" });
  }
  const a = lineFigure(left, { x: { title: "sequence length T (tokens)", log: true }, y: { title: "training throughput (tokens/s)", log: true } });
  const b = lineFigure(right, { x: { title: "sequence length T (tokens)", log: true }, y: { title: "speedup of Transformer-VQ (×)", log: true } });
  const ax = (l: Record<string, unknown>, k: string) => l[k] as Record<string, unknown>;
  const layout: Record<string, unknown> = {
    ...a.layout,
    xaxis: { ...ax(a.layout, "xaxis"), domain: [0, 0.45] },
    yaxis: { ...ax(a.layout, "yaxis") },
    xaxis2: { ...ax(b.layout, "xaxis"), domain: [0.58, 1], anchor: "y2" },
    yaxis2: { ...ax(b.layout, "yaxis"), anchor: "x2" },
    showlegend: true,
    legend: { orientation: "h", x: 0, xanchor: "left", y: -0.22, yanchor: "top", font: { size: 12 } },
    margin: { l: 80, r: 25, t: 20, b: 170 },
  };
  const data: Array<Record<string, unknown>> = [...a.data, ...b.data.map((t) => ({ ...t, xaxis: "x2", yaxis: "y2" }))];
  for (const t of data) if (t.name && String(t.name).startsWith("paper")) t.marker = { ...(t.marker as object), symbol: "star", size: 13 };
  return { data, layout };
}
