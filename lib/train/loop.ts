/**
 * The trainer: truncated backpropagation through time over long sequences, as in the official train_op.
 * Each batch holds B sequences of T tokens. The recurrent state (the last M keys/values and the compressive
 * cache of per-code value sums) starts fresh for the batch and walks T in segments of U = updateLen tokens; every
 * segment is one parameter update with
 *     loss = CE + c_β · L_commit        (CE: mean nats per non-pad target token)
 * gradients by tf.variableGrads over the trainable parameters, global-norm clipping and AdamW/Adafactor
 * (lib/train/optim.ts), then the codebook EMA (c ← γc + (1−γ)·stats of this update, lib/nn/vq.ts through
 * model.updateCodebooks). The state after a segment is carried to the next under stop-gradient: it leaves the
 * gradient tape with the segment, so the next update sees it as a constant.
 *
 * Everything needed to continue is checkpointed every saveEvery updates (parameters, codebooks, optimizer
 * moments and count, the data order's cursor before the sequence in flight, the segment reached and the carried
 * recurrent state, the step); dropout seeds are a function of (seed, step, segment), so a resumed run repeats an
 * uninterrupted one bit for bit on a deterministic backend.
 * A run folder holds config.json, data.json (dataset name and provenance), tokenizer.json (the vocabulary, so
 * evaluation and sampling decode with the same one), metrics.jsonl (one line per update), eval.jsonl
 * (one line per evaluation), checkpoint/ and summary.json.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { Config, checkVocabFits, validateConfig } from "../config";
import { appendLine, atomicWriteJSON, ensureDir, readJSON, readJSONL, truncateJSONL } from "../util/io";
import {
  Model, RecurrentState, VQStats, createModel, disposeModel, disposeState, forward, initState, stateFromTensors, stateTensors, updateCodebooks,
} from "../nn/model";
import { NonFiniteGradientError, OptimizerState, applyUpdate, createOptimizer, disposeOptimizer } from "./optim";
import { assignFromCheckpoint, findCheckpoint, loadCheckpoint, restoreTensors, saveCheckpoint } from "./checkpoint";
import { EvalResult, bitsPerByte, evaluate, maskedNLLSum, replaceState } from "./evaluate";
import { Dataset, checkSequenceLen, loadDataset } from "../data/datasets";
import { Tokenizer, TokenizerJSON } from "../data/vocab";
import { tokenizerFromJSON } from "../data/bpe";
import { ImageShape } from "../data/image";
import { Batch, BatchCursor, TrainBatches, batchSegment, segmentCount } from "../data/batches";
import { Rng } from "../runtime/rng";
import { Progress, createProgress } from "../util/progress";

/** One line of metrics.jsonl: one parameter update. */
export interface StepMetrics {
  /** updates done, after this one */
  step: number;
  /** CE in nats per non-pad target token */
  loss: number;
  /** loss / ln 2: bits per byte on byte data (bits per token with a subword vocabulary) */
  bpb: number;
  /** commitment loss (Σ over sublayers) */
  commit: number;
  /** learning rate used (lrMax · schedule) */
  lr: number;
  /** global gradient norm before clipping */
  gradNorm: number;
  /** fraction of codewords hit in this update, mean over sublayers (0 for full attention: no codebooks) */
  codeUsage: number;
  /** entropy of the shortcode histogram in bits, mean over sublayers (max log2 S) */
  codeEntropy: number;
  /** training tokens (B·U) per second of this update */
  tokensPerSec: number;
  /** seconds since the start of this process's run */
  elapsed: number;
}

/** One line of eval.jsonl. */
export interface EvalRecord extends EvalResult {
  step: number;
}

export interface TrainRunOptions {
  config: Config;
  /** lib/data/datasets.ts loadDataset(...): trains on splits.train, validates on splits.validation */
  data: Dataset;
  /** run folder, e.g. runs/tiny-foldoc */
  outDir: string;
  /** continue from the folder's last checkpoint (a folder without one starts from step 0) */
  resume?: boolean;
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
}

/** What to do about a corrupt line of a run's history. */
const RUN_RECORD_FIX = "the run record is corrupt; delete the line or start a fresh --out";

export const RUN_FILES = {
  config: "config.json",
  data: "data.json",
  tokenizer: "tokenizer.json",
  metrics: "metrics.jsonl",
  evals: "eval.jsonl",
  summary: "summary.json",
};

/** The dropout seed of update `step`, segment `segment` of its sequence: a pure function of the run seed. */
export function dropoutSeed(seed: number, step: number, segment: number): number {
  return (new Rng([seed, step, segment]).nextUint32() >>> 1) || 1; // tfjs treats seed 0 as "unseeded"
}

/**
 * Codebook usage (fraction of codes with count > 0) and entropy in bits of the shortcode histogram, mean over heads.
 * counts: [H·S] one sublayer's code counts (row-major [H, S]); S: codebook size.
 */
export function codebookUsage(counts: ArrayLike<number>, S: number): { usage: number; entropy: number } {
  const H = Math.max(1, Math.round(counts.length / S));
  let used = 0, entropy = 0;
  for (let h = 0; h < H; h++) {
    let total = 0;
    for (let s = 0; s < S; s++) total += counts[h * S + s];
    for (let s = 0; s < S; s++) {
      const c = counts[h * S + s];
      if (c > 0) {
        used++;
        const p = c / total;
        entropy -= p * Math.log2(p);
      }
    }
  }
  return { usage: used / (H * S), entropy: entropy / H };
}

/** Mean usage and entropy over sublayers. stats: per sublayer, codeCounts [H, S]. */
function codebookMetrics(stats: VQStats[], S: number): { codeUsage: number; codeEntropy: number } {
  if (stats.length === 0) return { codeUsage: 0, codeEntropy: 0 };
  let u = 0, e = 0;
  for (const st of stats) {
    const m = codebookUsage(st.codeCounts.dataSync(), S);
    u += m.usage;
    e += m.entropy;
  }
  return { codeUsage: u / stats.length, codeEntropy: e / stats.length };
}

/** Checkpoint names of the model's variables: param/<name>, codebook/<sublayer>.c_sum, codebook/<sublayer>.c_count. */
export function modelVariables(model: Model): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const [name, v] of model.params) vars.set(`param/${name}`, v);
  for (const c of model.codebooks) {
    vars.set(`codebook/${c.name}.c_sum`, c.cSum);
    vars.set(`codebook/${c.name}.c_count`, c.cCount);
  }
  return vars;
}

/** Checkpoint names of every variable a run owns: modelVariables plus opt/<slot>. */
export function runVariables(model: Model, opt: OptimizerState): Map<string, tf.Variable> {
  const vars = modelVariables(model);
  for (const [name, v] of opt.slots) vars.set(`opt/${name}`, v);
  return vars;
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

/** Thrown when the loss or gradient is NaN/Inf; the run folder keeps the last good checkpoint. */
export class NonFiniteLossError extends Error {}

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

/** Refuses to reuse a non-empty run folder unless resuming (nothing is ever overwritten silently). */
export function checkOutDir(outDir: string, resume: boolean): void {
  const exists = fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0;
  if (exists && !resume) {
    throw new Error(`output folder ${outDir} already holds a run; pass --resume (resume: true) to continue it, ` +
      `or choose a fresh --out. Nothing was overwritten`);
  }
}

interface SegmentResult {
  loss: number;
  ce: number;
  commit: number;
  info: { lr: number; gradNorm: number };
  code: { codeUsage: number; codeEntropy: number };
  state: RecurrentState;
}

/**
 * One parameter update on one segment.
 * seg: inputs/targets/lossMask [B·U]; state: the carried recurrent state (not disposed here).
 * Returns the state after the segment (its tensors owned by the caller).
 */
export function trainSegment(model: Model, opt: OptimizerState, cfg: Config, seg: Batch, state: RecurrentState, seed: number,
                             step: number): SegmentResult {
  const { B, T: U } = seg;
  let scored = 0;
  for (let i = 0; i < seg.lossMask.length; i++) scored += seg.lossMask[i];
  const denom = Math.max(scored, 1);
  const keys = [...model.params.keys()];
  const vars = keys.map((k) => model.params.get(k)!);
  let kept: { state: RecurrentState; stats: VQStats[]; ce: tf.Scalar; commit: tf.Scalar } | undefined;
  const inputs = tf.tensor2d(seg.inputs, [B, U], "int32");
  const mask = tf.tensor2d(seg.lossMask, [B, U]);
  let value: tf.Scalar | undefined;
  let grads: tf.NamedTensorMap = {};
  try {
    const res = tf.variableGrads(() => {
      const o = forward(model, inputs, state, { training: true, seed }, mask);
      const ce = tf.div(maskedNLLSum(o.logProbs, seg.targets, mask), denom) as tf.Scalar;
      const loss = tf.add(ce, tf.mul(o.commitLoss, cfg.model.cBeta)) as tf.Scalar;
      kept = { state: o.state, stats: o.vqStats, ce, commit: o.commitLoss };
      for (const t of [...stateTensors(o.state), ...o.vqStats.flatMap((s) => [s.codeSums, s.codeCounts]), ce, o.commitLoss]) tf.keep(t);
      return loss;
    }, vars);
    value = res.value;
    grads = res.grads;
    const k = kept!;
    const loss = value.dataSync()[0];
    const ce = k.ce.dataSync()[0];
    const commit = k.commit.dataSync()[0];
    if (!Number.isFinite(loss)) {
      throw new NonFiniteLossError(`loss is ${loss} (CE ${ce}, commit ${commit}) at update ${step + 1}`);
    }
    // a parameter off this update's path (e.g. a LayerDrop'ped branch) gets a zero gradient, as in optax
    for (const v of vars) if (!grads[v.name]) grads[v.name] = tf.zerosLike(v);
    const named = new Map<string, tf.Tensor>(keys.map((key, i) => [key, grads[vars[i].name]]));
    const info = applyUpdate(opt, cfg.train, model.params, named);
    const code = codebookMetrics(k.stats, cfg.model.nCode);
    updateCodebooks(model, [k.stats]);
    return { loss, ce, commit, info, code, state: k.state };
  } catch (e) {
    if (kept) {
      const carried = new Set(stateTensors(state));
      for (const t of stateTensors(kept.state)) if (!carried.has(t)) t.dispose();
    }
    throw e;
  } finally {
    inputs.dispose();
    mask.dispose();
    value?.dispose();
    for (const g of Object.values(grads)) g.dispose();
    if (kept) {
      for (const s of kept.stats) tf.dispose([s.codeSums, s.codeCounts]);
      tf.dispose([kept.ce, kept.commit]);
    }
  }
}

/**
 * Trains (or resumes) a run and returns its metrics and the trained model.
 * Writes <outDir>/{config.json, data.json, tokenizer.json, metrics.jsonl, eval.jsonl, checkpoint/, summary.json}.
 */
export async function trainRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  const cfg = validateConfig(opts.config);
  const { outDir } = opts;
  const resume = opts.resume ?? false;
  const tc = cfg.train;
  const data = opts.data;
  checkVocabFits(cfg.model, data.vocabSize - 1, `dataset ${data.name} (${data.tokenizer.kind} tokenizer)`);
  checkSequenceLen(data, tc.sequenceLen);
  const stopAt = opts.steps ?? tc.maxSteps;
  if (!(Number.isInteger(stopAt) && stopAt >= 1 && stopAt <= tc.maxSteps)) {
    throw new Error(`steps = ${stopAt} must be an integer in [1, train.maxSteps = ${tc.maxSteps}] (maxSteps is the schedule's length); raise train.maxSteps to train longer`);
  }
  checkOutDir(outDir, resume);
  ensureDir(outDir);
  const files = {
    metrics: path.join(outDir, RUN_FILES.metrics),
    evals: path.join(outDir, RUN_FILES.evals),
  };
  const nSeg = segmentCount(tc.sequenceLen, tc.updateLen);

  const model = createModel(cfg.model, tc.seed);
  const opt = createOptimizer(tc.optimizer, model.params);
  let batches: TrainBatches;
  let step = 0;
  /** Where training stands inside the current sequence batch (no batch = at a sequence boundary). */
  const pos: { cursor?: BatchCursor; batch?: Batch; segment: number; state?: RecurrentState } = { segment: 0 };
  try {
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
  } catch (e) {
    disposeOptimizer(opt);
    disposeModel(model);
    throw e;
  }
  atomicWriteJSON(path.join(outDir, RUN_FILES.config), cfg);
  atomicWriteJSON(path.join(outDir, RUN_FILES.data), {
    name: data.name, kind: data.kind, vocabSize: data.vocabSize, tokenizer: data.tokenizer.kind, imageShape: data.imageShape ?? null,
    provenance: data.provenance,
  });
  atomicWriteJSON(path.join(outDir, RUN_FILES.tokenizer), data.tokenizer.toJSON());

  let lastSaved = step;
  const history = readJSONL<StepMetrics>(files.metrics, RUN_RECORD_FIX);
  const evals = readJSONL<EvalRecord>(files.evals, RUN_RECORD_FIX);
  const save = () => {
    const vars = runVariables(model, opt);
    const bad = nonFiniteVariables(vars);
    if (bad.length) {
      throw new NonFiniteLossError(`training diverged: ${bad.slice(0, 3).join(", ")} hold NaN/Inf after update ${step}; ` +
        `the last good checkpoint (step ${lastSaved}) is kept. Lower the learning rate (e.g. --set train.lrMax=${(tc.lrMax / 10).toPrecision(2)}) ` +
        `or raise train.warmupSteps, then start a fresh --out or --resume`);
    }
    const tensors = new Map<string, tf.Tensor>(vars);
    if (pos.state) stateTensors(pos.state).forEach((t, i) => tensors.set(`state/${i}`, t));
    const state: RunState = {
      optimizer: { name: opt.name, count: opt.count },
      data: pos.batch && pos.cursor ? pos.cursor : batches.cursor(),
      segment: pos.batch ? pos.segment : 0,
      statePos: pos.state ? pos.state.pos : 0,
      rng: { seed: tc.seed, dropout: "derived(seed, step, segment)" },
      metrics: { file: RUN_FILES.metrics, lines: history.length, evalFile: RUN_FILES.evals, evalLines: evals.length },
    };
    saveCheckpoint(outDir, step, cfg, tensors, state as unknown as Record<string, unknown>);
    lastSaved = step;
  };
  const runEval = (): EvalRecord => {
    const r = evaluate(model, data, "validation", cfg, { maxTokens: tc.evalTokens });
    const rec: EvalRecord = { step, ...r };
    evals.push(rec);
    appendLine(files.evals, JSON.stringify(rec));
    opts.onEval?.(rec);
    return rec;
  };

  const progress: Progress | undefined = opts.progress === false || step >= stopAt ? undefined :
    createProgress({ total: stopAt, label: `train ${path.basename(outDir)}`, unit: "step" });
  const t0 = Date.now();
  let tokensDone = 0;
  let trainSeconds = 0; // time in updates only (evaluations and checkpoints excluded)
  let finalEval: EvalRecord | undefined;
  try {
    while (step < stopAt) {
      if (!pos.batch) {
        pos.cursor = batches.cursor();
        pos.batch = batches.next();
        pos.segment = 0;
        pos.state = initState(model, tc.batchSize);
      }
      const seg = batchSegment(pos.batch, pos.segment, tc.updateLen);
      const ts = Date.now();
      let r: SegmentResult;
      try {
        r = trainSegment(model, opt, cfg, seg, pos.state!, dropoutSeed(tc.seed, step, pos.segment), step);
      } catch (e) {
        if (e instanceof NonFiniteLossError || e instanceof NonFiniteGradientError) {
          const ck = findCheckpoint(outDir);
          throw new NonFiniteLossError(`training diverged: ${(e as Error).message}. ` +
            (ck ? `The last good checkpoint (${ck}, step ${lastSaved}) is kept. ` : "No checkpoint was written yet. ") +
            `Lower the learning rate (e.g. --set train.lrMax=${(tc.lrMax / 10).toPrecision(2)}) or raise train.warmupSteps, then start a fresh --out or --resume`);
        }
        throw e;
      }
      pos.state = replaceState(pos.state!, r.state);
      pos.segment++;
      step++;
      if (pos.segment === nSeg) { // end of the sequence: the next batch starts from a fresh state
        disposeState(pos.state);
        pos.state = undefined;
        pos.batch = undefined;
      }
      const dt = Math.max(Date.now() - ts, 1) / 1000;
      tokensDone += seg.B * seg.T;
      trainSeconds += dt;
      const m: StepMetrics = {
        step, loss: r.ce, bpb: bitsPerByte(r.ce), commit: r.commit, lr: r.info.lr, gradNorm: r.info.gradNorm,
        codeUsage: r.code.codeUsage, codeEntropy: r.code.codeEntropy, tokensPerSec: (seg.B * seg.T) / dt,
        elapsed: (Date.now() - t0) / 1000,
      };
      history.push(m);
      appendLine(files.metrics, JSON.stringify(m));
      opts.onMetrics?.(m);
      progress?.update(step, { loss: m.loss, lr: m.lr, "tok/s": m.tokensPerSec });
      if (tc.evalEvery > 0 && step % tc.evalEvery === 0 && step < stopAt) runEval();
      if (tc.saveEvery > 0 && step % tc.saveEvery === 0 && step < stopAt) save();
      await new Promise((res) => setImmediate(res)); // let a notebook kernel flush its displays
    }
    progress?.done();
    // a resumed run that was already complete keeps its records: no second evaluation or checkpoint of the same step
    const last = evals[evals.length - 1];
    if (last && last.step === step && lastSaved === step) finalEval = last;
    else {
      finalEval = runEval();
      save();
    }
  } catch (e) {
    if (pos.state) disposeState(pos.state);
    disposeOptimizer(opt);
    disposeModel(model);
    throw e;
  }
  if (pos.state) disposeState(pos.state);
  disposeOptimizer(opt);
  const elapsed = (Date.now() - t0) / 1000;
  const tokensPerSec = trainSeconds > 0 ? tokensDone / trainSeconds : 0;
  const finalMetrics = history[history.length - 1];
  atomicWriteJSON(path.join(outDir, RUN_FILES.summary), {
    steps: step, val_loss: finalEval.loss, val_bpb: finalEval.bpb, val_ppl: finalEval.ppl, val_tokens: finalEval.tokens,
    train_loss: finalMetrics?.loss ?? null, tokens_per_s: tokensPerSec, seconds: elapsed, preset: cfg.preset, data: data.name,
  });
  return { finalMetrics, finalEval, history, evals, steps: step, tokensPerSec, model, outDir };
}

/** The saved config of a run folder (config.json), for eval and sample. */
export function readRunConfig(outDir: string): Config {
  const file = path.join(outDir, RUN_FILES.config);
  if (!fs.existsSync(file)) throw new Error(`${outDir} is not a run folder (no ${RUN_FILES.config}); pass the --out of a training run`);
  return readJSON<Config>(file);
}

/**
 * The trained model of a run folder: config.json + the last checkpoint's parameters and codebooks.
 * @param requested when given (e.g. --preset on the command line), the checkpoint must have been trained with it
 * Dispose the model with disposeModel.
 */
export function loadRunModel(outDir: string, requested?: Config): { model: Model; config: Config; step: number } {
  const config = requested ?? readRunConfig(outDir);
  const ckDir = findCheckpoint(outDir);
  if (!ckDir) throw new Error(`${outDir} has no checkpoint yet: train it first (npm run train -- --out ${outDir} ...)`);
  const ck = loadCheckpoint(ckDir, config);
  const model = createModel(config.model, config.train.seed);
  try {
    assignFromCheckpoint(ck, modelVariables(model), ["param/", "codebook/"]);
  } catch (e) {
    disposeModel(model);
    throw e;
  }
  return { model, config, step: ck.manifest.step };
}

/** What data.json and tokenizer.json of a run folder say: the dataset's name and kind, image shape, vocabulary. */
export interface RunData {
  name: string;
  kind: "text" | "image";
  imageShape: ImageShape | null;
  tokenizer: Tokenizer;
  tokenizerJSON: TokenizerJSON;
}

/** Reads a run folder's data.json and tokenizer.json (cheap: the dataset itself is not loaded). */
export function readRunData(outDir: string): RunData {
  const dataFile = path.join(outDir, RUN_FILES.data);
  const tokFile = path.join(outDir, RUN_FILES.tokenizer);
  if (!fs.existsSync(dataFile) || !fs.existsSync(tokFile)) {
    throw new Error(`${outDir} is not a run folder (no ${RUN_FILES.data} / ${RUN_FILES.tokenizer}); pass the --out of a training run`);
  }
  const d = readJSON<{ name: string; kind: "text" | "image"; imageShape: ImageShape | null }>(dataFile);
  const tokenizerJSON = readJSON<TokenizerJSON>(tokFile);
  return { name: d.name, kind: d.kind, imageShape: d.imageShape, tokenizer: tokenizerFromJSON(tokenizerJSON), tokenizerJSON };
}

/**
 * The dataset of a run folder (data.json), tokenized with the vocabulary saved with the run (tokenizer.json).
 * @param name another dataset to evaluate with the run's tokenizer (default: the run's own)
 */
export function loadRunDataset(outDir: string, name?: string): Dataset {
  const rd = readRunData(outDir);
  return loadDataset(name ?? rd.name, { tokenizer: rd.tokenizerJSON });
}
