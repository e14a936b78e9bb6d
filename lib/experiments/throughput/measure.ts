/**
 * Timing full training steps (paper §3 measures training throughput): forward, backward, clipping, the optimizer
 * update and the codebook EMA, through lib/train/loop.ts's own `trainSegment`, of a freshly initialized model on
 * random tokens. Warm-up steps are excluded; the median of ≥ 3 timed steps is reported with the peak tensor
 * bytes and process RSS seen while they ran, and the analytic training FLOPs per token (cost.ts) turn tokens/s
 * into an achieved FLOP rate.
 */
import * as os from "node:os";
import { Config, getPreset } from "../../config";
import { createModel, disposeModel, disposeState, initState, replaceState } from "../../nn/index";
import { createOptimizer, disposeOptimizer } from "../../train/optim";
import { trainSegment } from "../../train/step";
import { disposeModelGraphs, stepGraphsOf } from "../../train/graphs";
import { graphEnabled } from "../../runtime/graph";
import { Batch, batchSegment, segmentCount } from "../../data/batches";
import { Rng } from "../../runtime/rng";
import { median, std } from "../../util/stats";
import { flopsPerToken } from "../cost";
import { EngineMonitor } from "./engine-monitor";

export interface MeasureOptions {
  /** sequences per step (overrides cfg.train.batchSize) */
  B?: number;
  /** tokens per sequence (overrides cfg.train.sequenceLen; the step covers all T) */
  T?: number;
  /** tokens per parameter update (overrides cfg.train.updateLen; default T when T is given) */
  U?: number;
  /** timed steps, median reported (≥ 3 for the benchmark; default 3) */
  reps?: number;
  /** untimed steps first (default 1, at least 2 when steps run as graphs; with truncated backprop a warm-up step runs only its first two updates) */
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
  /** how the timed steps ran: "graph" (native), "eager", or "eager: " and why the graph fell back */
  execution: string;
  /** the machine's 1-minute load average after the timed steps (other jobs slow every number down) */
  loadAvg: number;
}

/** Random tokens [B·T] with every position scored: a throughput batch (the values do not change the cost). */
export function randomTokenBatch(B: number, T: number, V: number, seed: number): Batch {
  const rng = new Rng(seed);
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) {
    inputs[i] = rng.nextInt(V);
    targets[i] = rng.nextInt(V);
  }
  return { B, T, inputs, targets, lossMask: new Float32Array(B * T).fill(1) };
}

/** Training steps of one model, ready to run; `dispose` frees model and optimizer. */
export interface StepRunner {
  /** step i of the run (returns its mean loss); `upTo` limits it to the first updates (a warm-up needs the shapes once) */
  step: (i: number, upTo?: number) => number;
  /** how the steps so far ran: "graph", "eager", or "eager: " and why the graph fell back */
  execution: () => string;
  dispose: () => void;
}

/**
 * A model, optimizer and batch ready to run training steps. One step is one sequence batch of B × T tokens:
 * T / U parameter updates of U tokens each through trainSegment, the recurrent state carried between them under
 * stop-gradient (U = T: one update over the whole sequence), as trainRun does.
 */
export function stepRunner(cfg: Config, seed: number): StepRunner {
  const { batchSize: B, sequenceLen: T, updateLen: U } = cfg.train;
  const model = createModel(cfg.model, seed);
  const opt = createOptimizer(cfg.train.optimizer, model.params);
  const batch = randomTokenBatch(B, T, cfg.model.vocabSize, seed);
  const segments = Array.from({ length: segmentCount(T, U) }, (_, j) => batchSegment(batch, j, U));
  let updates = 0;
  return {
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
    execution: () => {
      const g = stepGraphsOf(model);
      return !g ? "eager" : g.fallback !== undefined ? `eager: ${g.fallback}` : "graph";
    },
    dispose: () => {
      disposeOptimizer(opt);
      disposeModelGraphs(model);
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
 * Times full training steps of a freshly initialized model on random tokens: `warmup` untimed steps, then the
 * median of `reps` timed steps, with the peak tensor bytes and process RSS seen while they ran.
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
    // (the second sees a carried state); their number does not change the cost per token. A step run as a graph
    // (native) is traced at its first call and checked at its second: two warm-up steps at least, so that the
    // timed steps are replays
    const warm = graphEnabled() ? Math.max(warmup, 2) : warmup;
    for (let i = 0; i < warm; i++) {
      const l = runner.step(i, 2);
      if (i === 0) firstLoss = l;
    }
    const times: number[] = [];
    monitor.start();
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const l = runner.step(warm + i);
      times.push((performance.now() - t0) / 1000);
      if (warm === 0 && i === 0) firstLoss = l;
    }
    monitor.stop();
    const seconds = median(times);
    const flops = flopsPerToken(c.model, U).train; // per call of U tokens
    const tokensPerSec = (B * T) / seconds;
    return {
      B, T, U, seconds, secondsStd: std(times), times, tokensPerSec, secondsPerToken: seconds / (B * T),
      flopsPerToken: flops, achievedGflops: (flops * tokensPerSec) / 1e9,
      peakTensorBytes: monitor.peakBytes, peakRssBytes: monitor.peakRss, firstLoss, loadAvg: os.loadavg()[0], execution: runner.execution(),
    };
  } finally {
    monitor.stop();
    runner.dispose();
  }
}
