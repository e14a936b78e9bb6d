/**
 * Opening a run folder for training, and the checkpoint that makes a resume exact. Every saveEvery updates the
 * checkpoint stores everything needed to continue: parameters, codebooks, optimizer moments and count, the data
 * order's cursor before the sequence in flight, the segment reached and the carried recurrent state, the step.
 * Dropout seeds are derived from (seed, step, segment) (step.ts), so with these a resumed run repeats an
 * uninterrupted one bit for bit on a deterministic backend.
 *
 * `openRun` starts a fresh run (a folder without a checkpoint starts its records over) or restores the last
 * checkpoint and cuts metrics.jsonl and eval.jsonl back to the lines that checkpoint knew (a run killed after it
 * may have logged more); either way it writes the run's stamp (config, data, tokenizer) and reads the history.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { Config } from "../config";
import { Model, createModel, disposeModel } from "../nn/params";
import { RecurrentState, disposeState, stateFromTensors, stateTensors } from "../nn/state";
import { Batch, BatchCursor, TrainBatches } from "../data/batches";
import { Dataset } from "../data/datasets";
import { ensureDir, readJSONL, truncateJSONL } from "../util/io";
import { assignFromCheckpoint, findCheckpoint, loadCheckpoint, restoreTensors, saveCheckpoint } from "./checkpoint";
import { OptimizerState, createOptimizer, disposeOptimizer } from "./optim";
import { EvalRecord, RUN_FILES, StepMetrics, checkOutDir, modelVariables, writeRunStamp } from "./run-folder";
import { NonFiniteLossError, divergenceFix } from "./step";

/** What to do about a corrupt line of a run's history. */
const RUN_RECORD_FIX = "the run record is corrupt; delete the line or start a fresh --out";

/** Where training stands inside the current sequence batch (no batch = at a sequence boundary). */
export interface RunPosition {
  /** the batch order's cursor before `batch` */
  cursor?: BatchCursor;
  batch?: Batch;
  /** next segment of `batch` to train */
  segment: number;
  /** the recurrent state carried into that segment */
  state?: RecurrentState;
}

/** A run open for training: what it trains, where it stands, and its records so far. */
export interface OpenRun {
  cfg: Config;
  outDir: string;
  /** paths of metrics.jsonl and eval.jsonl */
  files: { metrics: string; evals: string };
  model: Model;
  opt: OptimizerState;
  batches: TrainBatches;
  /** updates done */
  step: number;
  pos: RunPosition;
  /** the step of the last checkpoint written (or restored) */
  lastSaved: number;
  /** every metrics.jsonl / eval.jsonl line of the run, including those before a resume */
  history: StepMetrics[];
  evals: EvalRecord[];
}

/** What a checkpoint's JSON state holds besides the tensors. */
interface RunState {
  optimizer: { name: string; count: number };
  /** the batch order's cursor before the sequence batch in flight (or before the next one at a boundary) */
  data: BatchCursor;
  /** next segment of that batch to train (0 at a sequence boundary); its recurrent state is stored as state/<i> */
  segment: number;
  /** tokens of the sequence already seen by that state */
  statePos: number;
  /** the RNG: dropout seeds are derived from (seed, step, segment), so the run seed is the whole state */
  rng: { seed: number; dropout: "derived(seed, step, segment)" };
  /** metrics history pointer: lines of metrics.jsonl and eval.jsonl that belong to this checkpoint */
  metrics: { file: string; lines: number; evalFile: string; evalLines: number };
}

/** Checkpoint names of every variable a run owns: modelVariables plus opt/<slot>. */
export function runVariables(model: Model, opt: OptimizerState): Map<string, tf.Variable> {
  const vars = modelVariables(model);
  for (const [name, v] of opt.slots) vars.set(`opt/${name}`, v);
  return vars;
}

/** Names of float variables holding a NaN or ±Inf (checked before every checkpoint). */
export function nonFiniteVariables(vars: Map<string, tf.Variable>): string[] {
  const bad: string[] = [];
  for (const [name, v] of vars) {
    if (v.dtype !== "float32") continue;
    const ok = tf.tidy(() => tf.all(tf.isFinite(v)).dataSync()[0]);
    if (!ok) bad.push(name);
  }
  return bad;
}

/**
 * Opens `outDir` for training `cfg` on `data`: a fresh run, or (resume) the state of its last checkpoint.
 * Refuses a non-empty folder unless resuming. The caller owns the model and optimizer of the result.
 */
export function openRun(cfg: Config, data: Dataset, outDir: string, resume: boolean): OpenRun {
  checkOutDir(outDir, resume);
  ensureDir(outDir);
  const tc = cfg.train;
  const files = {
    metrics: path.join(outDir, RUN_FILES.metrics),
    evals: path.join(outDir, RUN_FILES.evals),
  };
  const model = createModel(cfg.model, tc.seed);
  const opt = createOptimizer(tc.optimizer, model.params);
  const pos: RunPosition = { segment: 0 };
  try {
    let batches: TrainBatches;
    let step = 0;
    const ckDir = resume ? findCheckpoint(outDir) : undefined;
    if (ckDir) {
      const ck = loadCheckpoint(ckDir, cfg);
      assignFromCheckpoint(ck, runVariables(model, opt), ["param/", "codebook/", "opt/"]);
      const st = ck.manifest.state as unknown as RunState;
      opt.count = st.optimizer.count;
      batches = TrainBatches.resume(data.splits.train, st.data);
      step = ck.manifest.step;
      if (st.segment > 0) { // stopped inside a sequence: the same batch, its carried state, the next segment
        pos.cursor = st.data;
        pos.batch = batches.next();
        pos.segment = st.segment;
        pos.state = stateFromTensors(st.statePos, restoreTensors(ck, "state/"));
      }
      truncateJSONL(files.metrics, st.metrics.lines);
      truncateJSONL(files.evals, st.metrics.evalLines);
    } else {
      // a fresh run (or a resume of a run killed before its first checkpoint): start the records over
      for (const f of Object.values(files)) fs.rmSync(f, { force: true });
      batches = new TrainBatches(data.splits.train, { B: tc.batchSize, T: tc.sequenceLen, seed: tc.seed });
    }
    writeRunStamp(outDir, cfg, data);
    const history = readJSONL<StepMetrics>(files.metrics, RUN_RECORD_FIX);
    const evals = readJSONL<EvalRecord>(files.evals, RUN_RECORD_FIX);
    return { cfg, outDir, files, model, opt, batches, step, pos, lastSaved: step, history, evals };
  } catch (e) {
    if (pos.state) disposeState(pos.state);
    disposeOptimizer(opt);
    disposeModel(model);
    throw e;
  }
}

/** Writes the run's checkpoint at its current step; refuses (NonFiniteLossError) when a variable holds NaN/Inf. */
export function saveRun(run: OpenRun): void {
  const { cfg, opt, pos, step } = run;
  const vars = runVariables(run.model, opt);
  const bad = nonFiniteVariables(vars);
  if (bad.length) {
    throw new NonFiniteLossError(`training diverged: ${bad.slice(0, 3).join(", ")} hold NaN/Inf after update ${step}; ` +
      `the last good checkpoint (step ${run.lastSaved}) is kept. ${divergenceFix(cfg.train.lrMax)}`);
  }
  const tensors = new Map<string, tf.Tensor>(vars);
  if (pos.state) stateTensors(pos.state).forEach((t, i) => tensors.set(`state/${i}`, t));
  const state: RunState = {
    optimizer: { name: opt.name, count: opt.count },
    data: pos.batch && pos.cursor ? pos.cursor : run.batches.cursor(),
    segment: pos.batch ? pos.segment : 0,
    statePos: pos.state ? pos.state.pos : 0,
    rng: { seed: cfg.train.seed, dropout: "derived(seed, step, segment)" },
    metrics: { file: RUN_FILES.metrics, lines: run.history.length, evalFile: RUN_FILES.evals, evalLines: run.evals.length },
  };
  saveCheckpoint(run.outDir, step, cfg, tensors, state as unknown as Record<string, unknown>);
  run.lastSaved = step;
}
