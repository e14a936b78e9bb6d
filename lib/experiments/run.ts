/**
 * One way to run an experiment of the paper at CPU scale, from a notebook or a sweep: `runExperiment(spec)`
 * trains a preset (with overrides) on a dataset under runs/<experiment>/<run>, evaluates it in the paper's units
 * (docs/paper.md §1.4: loss = mean nats per target token, bits per byte = nats / ln 2 / bytes, word-level
 * perplexity exp(nats / words) for PG-19), optionally draws a nucleus sample (top-p, block length 1, the recurrent
 * state; lib/train/sample.ts), and appends ONE row (lib/experiments/row.ts ExperimentRow) to
 * results/<experiment>.{jsonl,csv}.
 *
 * Reruns are cheap and safe:
 *   - a run folder with a partial run (a killed notebook) resumes from its last checkpoint (lib/train/loop.ts);
 *   - a finished run (summary.json at the requested step count) is reused without training;
 *   - a finished run that already has its results row (matched by the run's uid, kept in the run folder's
 *     experiment.json) returns that row: NO duplicate row is appended and nothing is re-evaluated. To add a
 *     new row for the same settings, use a new run id (e.g. another seed); deleting the run folder retrains.
 *   - a sample is cached in the run folder (sample.json) per sampling options.
 *
 * Progress (training, evaluation, sampling) goes through lib/util/progress.ts; showing results is the notebook
 * layer's (lib/notebook/).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Config, DeepPartial, getPreset } from "../config";
import { PATHS, ROOT, atomicWriteJSON, checkFileName, ensureDir, readJSON, readJSONL } from "../util/io";
import { jsonDiff } from "../util/json";
import { findCheckpoint } from "../train/checkpoint";
import { RunLock, acquireRunLock, runLockHolder } from "../train/lock";
import { disposeModel, Model } from "../nn/params";
import { EvalRecord, RUN_FILES, StepMetrics, TrainRunOptions, loadRunModel, readRunConfig, trainRun } from "../train/index";
import { EvalResult, evaluate } from "../train/evaluate";
import { Sample, SampleRequest, SampleSettings, decodeSample, drawSample, sampleSettings } from "../train/sample";
import { Dataset, LoadOptions, SplitName, loadDataset } from "../data/datasets";
import { TokenizerJSON } from "../data/vocab";
import { appendResult, readResultRows } from "./results";
import { ExperimentRow, RESERVED_COLUMNS, configEssentials, evalColumns, historySummary } from "./row";
import { progressCallback } from "../util/progress";

/**
 * What to sample after training (text: decoded with the run's tokenizer; images: one image per row). Unset:
 * topP and temperature from the config's sampling section, seed the run's, and lib/train/sample.ts's defaults
 * (one whole image or 256 tokens, batch 1, no prompt).
 */
export type SampleSpec = Partial<SampleRequest>;

/** What runExperiment runs. progress (bars for training, evaluation and sampling; default true), onMetrics and onEval as trainRun takes them. */
export interface ExperimentSpec extends Pick<TrainRunOptions, "progress" | "onMetrics" | "onEval"> {
  /** results file name and runs/ subfolder, e.g. "01-enwik8" */
  experiment: string;
  /**
   * Seconds to wait when another live process holds the run folder (a run shared by notebooks that may execute
   * at the same time, e.g. the recall runs); it is then reused. 0 or unset: fail at once, naming the holder.
   */
  waitIfLocked?: number;
  /** run id, unique within the experiment, e.g. "vq-S64-seed0" (letters, digits, . _ -) */
  run: string;
  /** config preset (lib/config.ts), e.g. "cpu-small" */
  preset: string;
  /** deep-merged into the preset, e.g. {model: {attnType: "full"}}; model.vocabSize defaults to the dataset's */
  overrides?: DeepPartial<Config>;
  /** dataset name of lib/data/datasets.ts loadDataset, e.g. "foldoc", "gutenberg", "fashion-mnist" */
  dataset: string;
  /** loadDataset options, e.g. {tokenizer: "bpe", bpeVocabSize: 1024} */
  datasetOptions?: LoadOptions;
  /** parameter updates (sets train.maxSteps, the length of the cosine schedule) */
  steps: number;
  /** seed of initialization, data order, dropout and sampling (sets train.seed) */
  seed?: number;
  /** splits evaluated after training (default ["validation", "test"]) */
  evalSplits?: SplitName[];
  /** tokens scored per split after training, from the split's start (0 = the whole split; default 0) */
  evalTokens?: number;
  /** draw a sample after training (omit for none); needs a recurrent model (vq-recurrent / vq-parallel) */
  sample?: SampleSpec;
  /**
   * Task metrics beyond the loss, computed once on the trained model when the row is made and written as columns
   * of it (e.g. the recall accuracy of lib/experiments/recall.ts); the function may keep details in the run folder.
   */
  metrics?: (run: { model: Model; config: Config; dataset: Dataset; runDir: string }) => Record<string, number | null>;
  /** the swept values, written as top-level columns of the row, e.g. {S: 64, seed: 0} */
  params?: Record<string, number | string | boolean>;
  /** the notebook's profile, recorded in the row */
  profile?: string;
  /** folders (tests use temporary ones): default runs/ and results/; relative ones are taken from the repository root */
  runsDir?: string;
  resultsDir?: string;
}

export interface ExperimentResult {
  /** the run's results row (appended now, or the existing one for a finished run) */
  row: ExperimentRow;
  /** one record per parameter update (metrics.jsonl) */
  history: StepMetrics[];
  /** the periodic validation evaluations during training (eval.jsonl), for learning curves */
  evals: EvalRecord[];
  /** the final evaluation per split (empty when the row was reused without re-evaluating) */
  splits: Partial<Record<SplitName, EvalResult>>;
  sample?: Sample;
  config: Config;
  runDir: string;
  /** what happened to the training: trained from scratch, resumed a partial run, or reused a finished one */
  training: "fresh" | "resumed" | "reused";
  /** whether this call appended the row (false: an existing row was returned) */
  appended: boolean;
}

/** Run-folder bookkeeping of runExperiment (runs/<experiment>/<run>/experiment.json). */
interface RunBook {
  /** identifies this training run's results row */
  uid: string;
  experiment: string;
  run: string;
  created: string;
  /** seconds spent in runExperiment on this run (training, evaluation, sampling), over all calls */
  wallSeconds: number;
}

const RUN_BOOK = "experiment.json";
const SAMPLE_FILE = "sample.json";

// ------------------------------------------------------------------------------------------------------------
// Datasets are loaded once per process and name/options (a notebook trains several models on one dataset).

const datasetCache = new Map<string, Dataset>();

/**
 * loadDataset, memoized on (name, options) for this process.
 * @param name e.g. "foldoc"; opts e.g. {tokenizer: "bpe", bpeVocabSize: 1024}
 */
export function loadDatasetOnce(name: string, opts: LoadOptions = {}): Dataset {
  const key = JSON.stringify([name, opts]);
  let ds = datasetCache.get(key);
  if (!ds) {
    ds = loadDataset(name, opts);
    datasetCache.set(key, ds);
  }
  return ds;
}

// ------------------------------------------------------------------------------------------------------------
// The config of a spec

/**
 * The config a spec trains: preset + overrides, maxSteps = steps, seed, and model.vocabSize = the dataset's
 * vocabulary unless the overrides set it.
 */
export function experimentConfig(spec: Pick<ExperimentSpec, "preset" | "overrides" | "steps" | "seed">, ds: Dataset): Config {
  if (!(Number.isInteger(spec.steps) && spec.steps >= 1)) throw new Error(`spec.steps = ${spec.steps}: the number of parameter updates must be an integer ≥ 1`);
  const ov = spec.overrides ?? {};
  return getPreset(spec.preset, {
    ...ov,
    model: { ...ov.model, vocabSize: ov.model?.vocabSize ?? ds.vocabSize },
    train: { ...ov.train, maxSteps: spec.steps, seed: spec.seed ?? ov.train?.seed ?? 0 },
  });
}

/** A finished run: summary.json written by trainRun at the requested step count. */
function finishedSteps(runDir: string): number | undefined {
  const f = path.join(runDir, RUN_FILES.summary);
  if (!fs.existsSync(f)) return undefined;
  return readJSON<{ steps: number }>(f).steps;
}

// ------------------------------------------------------------------------------------------------------------
// Sampling

/** spec.sample with every default filled in: the config's sampling section and seed, then drawSample's. */
function sampleOptions(s: SampleSpec, cfg: Config, ds: Dataset): SampleSettings {
  return sampleSettings({ ...s, topP: s.topP ?? cfg.sampling.topP, temperature: s.temperature ?? cfg.sampling.temperature, seed: s.seed ?? cfg.train.seed }, ds);
}

// ------------------------------------------------------------------------------------------------------------
// runExperiment

/**
 * Trains (or resumes, or reuses) one run, evaluates it, optionally samples, and appends its results row once.
 * See the module comment for the rerun rules. Disposes the model before returning.
 * @param spec what to run; `experiment` and `run` name runs/<experiment>/<run> and the results row
 */
export async function runExperiment(spec: ExperimentSpec): Promise<ExperimentResult> {
  const t0 = Date.now();
  for (const [what, v] of [["experiment", spec.experiment], ["run", spec.run]] as const) {
    checkFileName(`spec.${what} =`, v, "it names a folder");
  }
  for (const k of Object.keys(spec.params ?? {})) {
    if (RESERVED_COLUMNS.has(k) && k !== "seed") throw new Error(`spec.params.${k}: '${k}' is a standard column of every row; rename the parameter`);
    if (k === "seed" && spec.params!.seed !== (spec.seed ?? 0)) throw new Error(`spec.params.seed = ${spec.params!.seed} but spec.seed = ${spec.seed ?? 0}; set spec.seed (the row records it)`);
  }
  const runDir = path.resolve(ROOT, spec.runsDir ?? PATHS.runs, spec.experiment, spec.run); // not the cwd: a kernel runs in notebooks/
  // one process per run folder (lib/train/lock.ts): its bookkeeping, training, sample and row are one unit
  const lock = await lockRun(runDir, spec.waitIfLocked ?? 0);
  try {
    return await runLocked(spec, runDir, lock, t0);
  } finally {
    lock.release();
  }
}

/** The run folder's lock, waiting up to `waitS` seconds while another live process holds it. */
async function lockRun(runDir: string, waitS: number): Promise<RunLock> {
  const until = Date.now() + waitS * 1000;
  for (let said = false; ;) {
    try {
      return acquireRunLock(runDir);
    } catch (e) {
      const h = runLockHolder(runDir);
      if (!h || (h.host === os.hostname() && h.pid === process.pid) || Date.now() >= until) throw e;
      if (!said) console.log(`${runDir} is being trained by pid ${h.pid} (since ${h.since}); waiting for it, then reusing it`);
      said = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** runExperiment once the run folder is locked. */
async function runLocked(spec: ExperimentSpec, runDir: string, lock: RunLock, t0: number): Promise<ExperimentResult> {
  const progress = spec.progress ?? true;

  // The dataset, with the vocabulary the run was trained with when it exists (a resumed BPE run).
  const savedTok = path.join(runDir, RUN_FILES.tokenizer);
  const dsOpts: LoadOptions = { ...spec.datasetOptions };
  if (fs.existsSync(savedTok) && dsOpts.tokenizer === "bpe") dsOpts.tokenizer = readJSON<TokenizerJSON>(savedTok);
  const ds = loadDatasetOnce(spec.dataset, dsOpts);
  const cfg = experimentConfig(spec, ds);

  // Bookkeeping: the run's uid ties the run folder to its results row.
  ensureDir(runDir);
  const bookFile = path.join(runDir, RUN_BOOK);
  const book: RunBook = fs.existsSync(bookFile) ? readJSON<RunBook>(bookFile) : {
    uid: crypto.randomBytes(6).toString("hex"), experiment: spec.experiment, run: spec.run, created: new Date().toISOString(), wallSeconds: 0,
  };
  atomicWriteJSON(bookFile, book);
  const saveWall = () => {
    book.wallSeconds += (Date.now() - t0) / 1000;
    atomicWriteJSON(bookFile, book);
  };

  // Train, resume or reuse.
  const done = finishedSteps(runDir);
  let training: ExperimentResult["training"];
  let model: Model;
  if (done !== undefined && done >= spec.steps) {
    const saved = readRunConfig(runDir);
    const diff = jsonDiff(saved, cfg);
    if (diff.length) {
      throw new Error(`run folder ${runDir} holds a finished run with a different config (${diff.slice(0, 4).join("; ")}); ` +
        `give this run a new id (spec.run) or delete that folder to retrain`);
    }
    training = "reused";
    model = loadRunModel(runDir).model;
  } else {
    training = findCheckpoint(runDir) ? "resumed" : "fresh";
    const r = await trainRun({
      config: cfg, data: ds, outDir: runDir, resume: true, steps: spec.steps, progress, onMetrics: spec.onMetrics, onEval: spec.onEval, lock,
    });
    model = r.model;
  }

  try {
    const history = readJSONL<StepMetrics>(path.join(runDir, RUN_FILES.metrics));
    const evals = readJSONL<EvalRecord>(path.join(runDir, RUN_FILES.evals));

    // Sample (cached per options).
    let sample: Sample | undefined;
    if (spec.sample) {
      const options = sampleOptions(spec.sample, cfg, ds);
      const file = path.join(runDir, SAMPLE_FILE);
      const cached = fs.existsSync(file) ? readJSON<{ options: SampleSettings; tokens: number[][] }>(file) : undefined;
      if (cached && JSON.stringify(cached.options) === JSON.stringify(options)) {
        sample = decodeSample(options, cached.tokens, ds);
      } else {
        const bar = progressCallback(progress, `sample ${spec.run}`, "token");
        sample = drawSample(model, ds, options, bar.report);
        bar.done();
        atomicWriteJSON(file, { options, tokens: sample.tokens });
      }
    }

    // The row: reuse the existing one of this run, else evaluate and append.
    // rows with this run's uid were appended by an earlier call: they have ExperimentRow's columns
    const existing = readResultRows(spec.experiment, spec.resultsDir).filter((r) => r.run_uid === book.uid).pop() as ExperimentRow | undefined;
    const splits: ExperimentResult["splits"] = {};
    if (existing) {
      return { row: existing, history, evals, splits, sample, config: cfg, runDir, training, appended: false };
    }
    const evalSplits = spec.evalSplits ?? ["validation", "test"];
    for (const split of evalSplits) {
      const bar = progressCallback(progress, `evaluate ${spec.run} ${split}`, "window"); // the run named, as in the training bar
      splits[split] = evaluate(model, ds, split, cfg, { maxTokens: spec.evalTokens ?? 0, onProgress: bar.report });
      bar.done();
    }
    const taskMetrics = spec.metrics?.({ model, config: cfg, dataset: ds, runDir }) ?? {};
    for (const k of Object.keys(taskMetrics)) {
      if (RESERVED_COLUMNS.has(k)) throw new Error(`spec.metrics returned '${k}', a standard column of every row; rename the metric`);
    }
    saveWall();
    const B = cfg.train.batchSize, U = cfg.train.updateLen;
    const row = appendResult(spec.experiment, {
      experiment: spec.experiment, run: spec.run, run_uid: book.uid, profile: spec.profile ?? null,
      ...spec.params,
      preset: cfg.preset, dataset: ds.name, tokenizer: ds.tokenizer.kind, seed: cfg.train.seed, steps: history.length ? history[history.length - 1].step : 0,
      ...configEssentials(cfg),
      ...Object.assign({}, ...Object.values(splits).map((r) => evalColumns(r!))),
      ...historySummary(history, B * U, ds.tokenizer.kind),
      ...(cfg.model.attnType === "full" ? { code_usage: null, code_entropy_bits: null } : {}), // no codebook
      ...taskMetrics,
      wall_s: book.wallSeconds,
      run_dir: path.relative(ROOT, runDir),
    }, { dir: spec.resultsDir }) as ExperimentRow;
    return { row, history, evals, splits, sample, config: cfg, runDir, training, appended: true };
  } finally {
    disposeModel(model);
  }
}
