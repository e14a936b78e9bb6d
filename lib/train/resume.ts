/**
 * Opening a run folder for training, and the checkpoint that makes a resume exact. Every saveEvery updates the
 * checkpoint stores everything needed to continue: parameters, codebooks, optimizer moments and count, the data
 * order's cursor before the sequence in flight, the segment reached and the carried recurrent state, the step.
 * Dropout seeds are derived from (seed, step, segment) (step.ts), so with these a resumed run repeats an
 * uninterrupted one bit for bit on a deterministic backend.
 *
 * `openRun` starts a fresh run or restores the last checkpoint. A resume checks that the history matches the
 * checkpoint (more lines: cut back to those it knew, a run killed after it logged more; fewer: refused), that the
 * data is the same (token SHA-256) and that --steps is not below the step reached; a history without a loadable
 * checkpoint is refused rather than restarted. `restart` starts over with the old history set aside as *.bak.
 * Either way it writes the run's stamp (config, data, tokenizer) and reads the history.
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
import { CHECKPOINT_DIR, LoadedCheckpoint, assignFromCheckpoint, cleanStaleTemporaries, findCheckpoint, loadCheckpoint, restoreTensors, saveCheckpoint } from "./checkpoint";
import { OptimizerState, createOptimizer, disposeOptimizer, setSlots, slotLayout, slotTensors } from "./optim";
import {
  EvalRecord, RUN_FILES, StepMetrics, checkOutDir, checkRunDataIdentity, jsonlLines, modelVariables, setAsideHistory, writeRunStamp,
} from "./run-folder";
import { NonFiniteLossError, divergenceFix } from "./step";
import { checkRunFits } from "./memory";

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

/**
 * Every tensor a run's checkpoint holds besides the recurrent state, by checkpoint name: modelVariables plus
 * opt/<slot>. The slots are copies (AdamW keeps one flat vector per moment), so the caller disposes `owned`.
 */
export function runTensors(model: Model, opt: OptimizerState): { tensors: Map<string, tf.Tensor>; owned: tf.Tensor[] } {
  const tensors = new Map<string, tf.Tensor>(modelVariables(model));
  const slots = slotTensors(opt);
  for (const [name, t] of slots) tensors.set(`opt/${name}`, t);
  return { tensors, owned: [...slots.values()] };
}

/** Fills the model and the optimizer slots from a checkpoint (every tensor checked by name and shape first). */
function restoreRun(ck: LoadedCheckpoint, model: Model, opt: OptimizerState): void {
  const slots = new Map([...slotLayout(opt)].map(([name, shape]) => [name, tf.variable(tf.zeros(shape), false)] as [string, tf.Variable]));
  try {
    const vars = modelVariables(model);
    for (const [name, v] of slots) vars.set(`opt/${name}`, v);
    assignFromCheckpoint(ck, vars, ["param/", "codebook/", "opt/"]);
    setSlots(opt, slots);
  } finally {
    tf.dispose([...slots.values()]);
  }
}

/** Names of float tensors holding a NaN or ±Inf (checked before every checkpoint). */
export function nonFiniteVariables(vars: Map<string, tf.Tensor>): string[] {
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
export function openRun(cfg: Config, data: Dataset, outDir: string, resume: boolean, restart = false): OpenRun {
  checkRunFits(cfg, data); // a run too large for the memory or the data is refused before anything is allocated
  checkOutDir(outDir, resume || restart);
  ensureDir(outDir);
  cleanStaleTemporaries(outDir); // checkpoint.tmp-<pid>/ and *.tmp of dead writers hold disk space (a full disk leaves them)
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
    if (restart) {
      const moved = setAsideHistory(outDir);
      if (moved.length) console.warn(`[train] restarting ${outDir} from step 0; the old history is kept as ${moved.map((f) => path.basename(f)).join(", ")}`);
    }
    const ckDir = resume && !restart ? findCheckpoint(outDir) : undefined;
    if (ckDir) {
      const ck = loadResumable(ckDir, cfg, outDir);
      checkResumeTarget(outDir, ck.manifest.step, ck.manifest.config.train.maxSteps, cfg.train.maxSteps);
      checkRunDataIdentity(outDir, data); // before the data cursor, whose mismatch would only name sequence counts
      checkHistory(files, ck.manifest.state as unknown as RunState, ck.manifest.step);
      restoreRun(ck, model, opt);
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
    } else {
      // a fresh run, or a resume of a run killed before its first checkpoint: its records start over, and any
      // earlier ones are set aside, never deleted; a history that had a checkpoint refuses (unresumable)
      if (resume && !restart) {
        const why = unresumable(outDir, files, tc.saveEvery);
        if (why) throw new Error(why);
        const moved = setAsideHistory(outDir);
        if (moved.length) console.warn(`[train] ${outDir} stopped before its first checkpoint: starting it over; its partial history is kept as ${moved.map((f) => path.basename(f)).join(", ")}`);
      }
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

/** What to do instead of resuming a folder whose checkpoint is gone or unreadable. */
function restartFix(outDir: string): string {
  return `Nothing was changed. To train it again from step 0, pass --restart (trainRun restart: true): the old history is ` +
    `kept as metrics.jsonl.<time>.bak (and eval.jsonl likewise); or restore the checkpoint from a backup and resume (${outDir})`;
}

/** loadCheckpoint for a resume: its refusal (corrupt, another config) re-thrown with the restart option. */
function loadResumable(ckDir: string, cfg: Config, outDir: string): LoadedCheckpoint {
  try {
    return loadCheckpoint(ckDir, cfg);
  } catch (e) {
    throw new Error(`cannot resume ${outDir}: ${(e as Error).message}. ${restartFix(outDir)}`);
  }
}

/**
 * Why a resume without a loadable checkpoint must not start over (undefined: it may). It may only when no
 * checkpoint can ever have existed: no checkpoint folder, no summary.json, fewer metrics lines than saveEvery.
 */
function unresumable(outDir: string, files: OpenRun["files"], saveEvery: number): string | undefined {
  const lines = jsonlLines(files.metrics), evalLines = jsonlLines(files.evals);
  const missing: string[] = [];
  for (const name of [CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    const dir = path.join(outDir, name);
    if (!fs.existsSync(dir)) continue;
    const gone = ["manifest.json", "blob.bin"].filter((f) => !fs.existsSync(path.join(dir, f)));
    missing.push(`${dir} has no ${gone.join(" and ")}`);
  }
  const finished = fs.existsSync(path.join(outDir, RUN_FILES.summary));
  if (!missing.length && !finished && !(saveEvery > 0 && lines >= saveEvery)) return undefined;
  if (!missing.length) missing.push(`there is no ${CHECKPOINT_DIR}/ folder`);
  return `cannot resume ${outDir}: it holds a training history (${RUN_FILES.metrics}: ${lines} lines, ${RUN_FILES.evals}: ` +
    `${evalLines} lines${finished ? `, ${RUN_FILES.summary}` : ""}) but no loadable checkpoint (${missing.join("; ")}). ${restartFix(outDir)}`;
}

/**
 * Refuses a resume asking for fewer updates (train.maxSteps, --steps) than the checkpoint has done: it would
 * silently rewrite the stored schedule length and train nothing.
 */
function checkResumeTarget(outDir: string, step: number, storedMax: number, requestedMax: number): void {
  if (requestedMax < step) {
    throw new Error(`cannot resume ${outDir} to train.maxSteps = ${requestedMax} (--steps): its checkpoint is already at step ` +
      `${step} (stored train.maxSteps = ${storedMax}). Omit --steps to finish the stored schedule, pass --steps >= ${step} to ` +
      `train on, or use npm run eval / sample on the trained run. Nothing was changed`);
  }
}

/**
 * Matches the history files to the checkpoint. More lines than it recorded: updates logged after it (a kill
 * before the next checkpoint), cut back here. Fewer: records were lost, an error (never "repaired" by dropping
 * earlier lines). metrics.jsonl holds one line per update, so its last kept line must be the checkpoint's step.
 */
function checkHistory(files: OpenRun["files"], st: RunState, step: number): void {
  for (const [file, want] of [[files.metrics, st.metrics.lines], [files.evals, st.metrics.evalLines]] as const) {
    const have = jsonlLines(file);
    if (have < want) {
      throw new Error(`cannot resume: ${file} has ${have} records but the checkpoint (step ${step}) was written after ${want}: ` +
        `history lines were lost. Restore ${path.basename(file)} from a backup, or pass --restart to train from step 0 ` +
        `(the current history is kept as .bak). Nothing was changed`);
    }
  }
  const kept = readJSONL<StepMetrics>(files.metrics, RUN_RECORD_FIX).slice(0, st.metrics.lines);
  const last = kept[kept.length - 1];
  if (last && last.step !== step) {
    throw new Error(`cannot resume: record ${kept.length} of ${files.metrics} is step ${last.step} but the checkpoint is at step ` +
      `${step} (one line per update): the history belongs to another run. Restore it from a backup, or pass --restart ` +
      `(the current history is kept as .bak). Nothing was changed`);
  }
  truncateJSONL(files.metrics, st.metrics.lines);
  truncateJSONL(files.evals, st.metrics.evalLines);
}

/** Writes the run's checkpoint at its current step; refuses (NonFiniteLossError) when a variable holds NaN/Inf. */
export function saveRun(run: OpenRun): void {
  const { cfg, opt, pos, step } = run;
  const { tensors, owned } = runTensors(run.model, opt);
  try {
    const bad = nonFiniteVariables(tensors);
    if (bad.length) {
      throw new NonFiniteLossError(`training diverged: ${bad.slice(0, 3).join(", ")} hold NaN/Inf after update ${step}; ` +
        `the last good checkpoint (step ${run.lastSaved}) is kept. ${divergenceFix(cfg.train.lrMax, run.history)}`);
    }
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
  } finally {
    tf.dispose(owned);
  }
}
