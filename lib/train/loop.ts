/**
 * The trainer: truncated backpropagation through time over long sequences, as in the official train_op.
 * Each batch holds B sequences of T tokens. The recurrent state (the last M keys/values and the compressive
 * cache of per-code value sums) starts fresh for the batch and walks T in segments of U = updateLen tokens; every
 * segment is one parameter update (step.ts: loss = CE + c_β · L_commit, clipping, AdamW/Adafactor, codebook EMA),
 * and the state after it is carried to the next segment under stop-gradient.
 *
 * `trainRun` locks the run folder (lock.ts: one process per folder), opens it (run-folder.ts, resume.ts: a fresh
 * run or the exact state of the last checkpoint), loops over updates logging one metrics.jsonl line each,
 * evaluates every evalEvery and checkpoints every saveEvery updates, and finishes with a final evaluation, a
 * checkpoint and summary.json. SIGINT/SIGTERM stop it after the update in flight, with a checkpoint
 * (interrupt.ts); a fresh run that fails before its first update removes what it wrote, so a retry is not refused.
 * Every update and evaluation also goes to the run's TensorBoard event file (tensorboard.ts), on every backend.
 *
 * Units: the progress bar and the event tags show bits per byte for byte-level data and nats per token for BPE
 * (tensorboard.ts lossDisplay), named in the label. A relative outDir is resolved against the repository (ROOT),
 * not the process's working folder: a notebook kernel runs in notebooks/, and its runs belong in runs/ too.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Config, checkVocabFits, validateConfig } from "../config";
import { Model, disposeModel } from "../nn/params";
import { disposeState, initState, replaceState } from "../nn/state";
import { Batch, batchSegment, segmentCount } from "../data/batches";
import { Dataset, checkSequenceLen } from "../data/datasets";
import { ROOT, appendLine, atomicWriteJSON } from "../util/io";
import { faultPoint } from "../util/faults";
import { Progress, createProgress } from "../util/progress";
import { findCheckpoint } from "./checkpoint";
import { bitsPerByte, evaluate } from "./evaluate";
import { NonFiniteGradientError, disposeOptimizer } from "./optim";
import { OpenRun, openRun, saveRun } from "./resume";
import { EvalRecord, RUN_FILES, StepMetrics, checkOutDir } from "./run-folder";
import { RunLock, acquireRunLock } from "./lock";
import { RunInterruptedError, SIGNAL_EXIT_CODES, SignalWatch, StopSignal, honorTermination, watchSignals } from "./interrupt";
import { NonFiniteLossError, SegmentResult, divergenceFix, dropoutSeed, trainSegment } from "./step";
import { disposeModelGraphs } from "./graphs";
import { RunEvents, lossDisplay } from "./tensorboard";

export interface TrainRunOptions {
  config: Config;
  /** lib/data/datasets.ts loadDataset(...): trains on splits.train, validates on splits.validation */
  data: Dataset;
  /** run folder, e.g. runs/tiny-foldoc; a relative path is taken from the repository root (ROOT), not the cwd */
  outDir: string;
  /**
   * continue from the folder's last checkpoint (an empty folder, or one stopped before its first checkpoint, starts
   * from step 0; a history whose checkpoint is gone or unreadable is refused: see restart)
   */
  resume?: boolean;
  /** start the run in outDir over from step 0, keeping its old history and checkpoint aside as *.<time>.bak */
  restart?: boolean;
  /**
   * the command line's signal behaviour: a second SIGINT/SIGTERM exits the process at once (130/143). Unset (a
   * notebook kernel), the first signal stops the loop, checkpoints and throws RunInterruptedError; nothing exits
   */
  exitOnSignal?: boolean;
  /** a lock on outDir the caller already holds (runExperiment); otherwise trainRun takes and releases one */
  lock?: RunLock;
  /** stop after this many updates in all (default and maximum: config.train.maxSteps, the schedule length) */
  steps?: number;
  /** show a progress bar / live loss curve (default true) */
  progress?: boolean;
  onMetrics?: (m: StepMetrics) => void;
  onEval?: (e: EvalRecord) => void;
}

export interface TrainRunResult {
  /** the last update's metrics */
  finalMetrics: StepMetrics | undefined;
  /** the last evaluation (at the end of the run) */
  finalEval: EvalRecord | undefined;
  /** every update of the run so far, including those before a resume */
  history: StepMetrics[];
  evals: EvalRecord[];
  /** updates done */
  steps: number;
  /** training tokens (B·U per update, pads included) per second spent in updates, over this process's updates */
  tokensPerSec: number;
  /** the trained model (dispose it with disposeModel when done) */
  model: Model;
  outDir: string;
  /** this process's TensorBoard event file in outDir (not created when the run had nothing left to train) */
  eventsFile: string;
}

/** Evaluates the run's model on the validation split (train.evalTokens of it) and logs one eval.jsonl line. */
function evaluateRun(run: OpenRun, data: Dataset, events: RunEvents, onEval?: (e: EvalRecord) => void): EvalRecord {
  const r = evaluate(run.model, data, "validation", run.cfg, { maxTokens: run.cfg.train.evalTokens });
  const rec: EvalRecord = { step: run.step, ...r };
  run.evals.push(rec);
  appendLine(run.files.evals, JSON.stringify(rec));
  events.eval(rec);
  onEval?.(rec);
  return rec;
}

/** One update on segment `seg` of the run's batch, with a divergence turned into advice naming the checkpoint kept. */
function updateOnce(run: OpenRun, seg: Batch): SegmentResult {
  const { cfg, pos } = run;
  try {
    return trainSegment(run.model, run.opt, cfg, seg, pos.state!, dropoutSeed(cfg.train.seed, run.step, pos.segment), run.step);
  } catch (e) {
    if (e instanceof NonFiniteLossError || e instanceof NonFiniteGradientError) {
      const ck = findCheckpoint(run.outDir);
      throw new NonFiniteLossError(`training diverged: ${(e as Error).message}. ` +
        (ck ? `The last good checkpoint (${ck}, step ${run.lastSaved}) is kept. ` : "No checkpoint was written yet. ") +
        divergenceFix(cfg.train.lrMax, run.history));
    }
    throw e;
  }
}

/**
 * Trains (or resumes) a run and returns its metrics and the trained model.
 * Writes <outDir>/{config.json, data.json, tokenizer.json, metrics.jsonl, eval.jsonl, checkpoint/, summary.json}.
 */
export async function trainRun(options: TrainRunOptions): Promise<TrainRunResult> {
  const opts = { ...options, outDir: path.resolve(ROOT, options.outDir) };
  const cfg = validateConfig(opts.config);
  const tc = cfg.train;
  const data = opts.data;
  checkVocabFits(cfg.model, data.vocabSize - 1, `dataset ${data.name} (${data.tokenizer.kind} tokenizer)`);
  checkSequenceLen(data, tc.sequenceLen);
  const stopAt = opts.steps ?? tc.maxSteps;
  if (!(Number.isInteger(stopAt) && stopAt >= 1 && stopAt <= tc.maxSteps)) {
    throw new Error(`steps = ${stopAt} must be an integer in [1, train.maxSteps = ${tc.maxSteps}] (maxSteps is the schedule's length); raise train.maxSteps to train longer`);
  }
  const nSeg = segmentCount(tc.sequenceLen, tc.updateLen);
  const fresh = !opts.resume && !opts.restart;
  checkOutDir(opts.outDir, !fresh); // before creating the folder or its lock: an --out that is a file, a taken folder
  const created = !fs.existsSync(opts.outDir);
  const lock = opts.lock ?? acquireRunLock(opts.outDir);
  const signals = watchSignals(opts.exitOnSignal ?? false);
  try {
    return await trainLocked(opts, cfg, nSeg, signals);
  } catch (e) {
    // a fresh run (its folder was empty: checkOutDir) that failed before its first update leaves nothing that
    // would refuse a retry of the same --out
    if (fresh && !fs.existsSync(path.join(opts.outDir, RUN_FILES.metrics))) {
      signals.stop();
      if (!opts.lock) lock.release();
      removeFailedStart(opts.outDir, created && !opts.lock);
    }
    throw e;
  } finally {
    signals.stop();
    if (!opts.lock) lock.release();
    if (signals.signal && !opts.exitOnSignal) honorTermination(signals.signal);
  }
}

/** Removes the stamp a fresh run wrote before failing (and the folder, when this call created it and it is empty). */
function removeFailedStart(outDir: string, created: boolean): void {
  for (const f of [RUN_FILES.config, RUN_FILES.data, RUN_FILES.tokenizer, RUN_FILES.evals]) fs.rmSync(path.join(outDir, f), { force: true });
  if (created) {
    try {
      fs.rmdirSync(outDir);
    } catch {
      /* not empty: something else lives there now */
    }
  }
}

/** The interruption error of a run stopped by `signal` once its checkpoint is written. */
function interrupted(run: OpenRun, signal: StopSignal, cli: boolean): RunInterruptedError {
  const how = cli ? `resume with: npm run train -- --out ${run.outDir} --resume` : `rerun to resume (trainRun resume: true; runExperiment resumes by itself)`;
  return new RunInterruptedError(`training stopped by ${signal} after update ${run.step}: the checkpoint ${findCheckpoint(run.outDir)} ` +
    `holds step ${run.lastSaved}; ${how}`, signal, SIGNAL_EXIT_CODES[signal]);
}

/** trainRun inside its lock and signal handlers. */
async function trainLocked(opts: TrainRunOptions, cfg: Config, nSeg: number, signals: SignalWatch): Promise<TrainRunResult> {
  const tc = cfg.train;
  const data = opts.data;
  const stopAt = opts.steps ?? tc.maxSteps;
  const run = openRun(cfg, data, opts.outDir, opts.resume ?? false, opts.restart ?? false);
  const { pos, history, evals } = run;
  const kind = data.tokenizer.kind;
  const events = RunEvents.open(run.outDir, run.step, kind, cfg.model.attnType !== "full");
  const lossName = lossDisplay(kind, { loss: 0, bpb: 0 }).name;

  const progress: Progress | undefined = opts.progress === false || run.step >= stopAt ? undefined :
    createProgress({ total: stopAt, label: `train ${path.basename(run.outDir)}`, unit: "step", curveMetric: lossName });
  const t0 = Date.now();
  let tokensDone = 0;
  let trainSeconds = 0; // time in updates only (evaluations and checkpoints excluded)
  let finalEval: EvalRecord | undefined;
  try {
    while (run.step < stopAt) {
      if (signals.signal) { // delivered between updates (at the await below): the update in flight is done
        progress?.done();
        events.sync();
        if (run.lastSaved !== run.step) saveRun(run);
        throw interrupted(run, signals.signal, opts.exitOnSignal ?? false);
      }
      if (!pos.batch) {
        pos.cursor = run.batches.cursor();
        pos.batch = run.batches.next();
        pos.segment = 0;
        pos.state = initState(run.model, tc.batchSize);
      }
      const seg = batchSegment(pos.batch, pos.segment, tc.updateLen);
      const ts = Date.now();
      const r = updateOnce(run, seg);
      pos.state = replaceState(pos.state!, r.state);
      pos.segment++;
      const step = ++run.step;
      if (pos.segment === nSeg) { // end of the sequence: the next batch starts from a fresh state
        disposeState(pos.state);
        pos.state = undefined;
        pos.batch = undefined;
      }
      const dt = Math.max(Date.now() - ts, 1) / 1000;
      const tokens = seg.B * seg.T;
      tokensDone += tokens;
      trainSeconds += dt;
      const m: StepMetrics = {
        step, loss: r.ce, bpb: bitsPerByte(r.ce), commit: r.commit, lr: r.info.lr, gradNorm: r.info.gradNorm,
        codeUsage: r.code.codeUsage, codeEntropy: r.code.codeEntropy, tokensPerSec: tokens / dt,
        elapsed: (Date.now() - t0) / 1000,
      };
      history.push(m);
      appendLine(run.files.metrics, JSON.stringify(m));
      faultPoint("metrics:appended");
      events.step(m);
      opts.onMetrics?.(m);
      progress?.update(step, { [lossName]: lossDisplay(kind, m).value, lr: m.lr, "tok/s": m.tokensPerSec });
      if (tc.evalEvery > 0 && step % tc.evalEvery === 0 && step < stopAt) evaluateRun(run, data, events, opts.onEval);
      if (tc.saveEvery > 0 && step % tc.saveEvery === 0 && step < stopAt) {
        events.sync(); // a checkpoint's steps are on disk in the event file too
        saveRun(run);
      }
      await new Promise((res) => setImmediate(res)); // let a notebook kernel flush its displays
    }
    progress?.done();
    // a resumed run that was already complete keeps its records: no second evaluation or checkpoint of the same step
    const last = evals[evals.length - 1];
    if (last && last.step === run.step && run.lastSaved === run.step) finalEval = last;
    else {
      finalEval = evaluateRun(run, data, events, opts.onEval);
      events.sync();
      saveRun(run);
    }
  } catch (e) {
    events.close();
    if (pos.state) disposeState(pos.state);
    disposeOptimizer(run.opt);
    disposeModelGraphs(run.model);
    disposeModel(run.model);
    throw e;
  }
  events.close();
  if (pos.state) disposeState(pos.state);
  disposeOptimizer(run.opt);
  const elapsed = (Date.now() - t0) / 1000;
  const tokensPerSec = trainSeconds > 0 ? tokensDone / trainSeconds : 0;
  const finalMetrics = history[history.length - 1];
  atomicWriteJSON(path.join(run.outDir, RUN_FILES.summary), {
    steps: run.step, val_loss: finalEval.loss, val_bpb: finalEval.bpb, val_ppl: finalEval.ppl, val_word_ppl: finalEval.wordPpl ?? null,
    val_tokens: finalEval.tokens, train_loss: finalMetrics?.loss ?? null, tokens_per_s: tokensPerSec, seconds: elapsed, preset: cfg.preset,
    data: data.name, tokenizer: kind,
  });
  return { finalMetrics, finalEval, history, evals, steps: run.step, tokensPerSec, model: run.model, outDir: run.outDir, eventsFile: events.file };
}
