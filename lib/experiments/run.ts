/**
 * One way to run an experiment of the paper at CPU scale, from a notebook or a sweep: `runExperiment(spec)`
 * trains a preset (with overrides) on a dataset under runs/<experiment>/<run>, evaluates it in the paper's units
 * (section 1.4: loss = mean nats per target token, bits per byte = nats / ln 2 / bytes, word-level perplexity
 * exp(nats / words) for PG-19), optionally draws a nucleus sample (top-p, block length 1, the recurrent state),
 * and appends ONE row to results/<experiment>.{jsonl,csv}.
 *
 * Reruns are cheap and safe:
 *   - a run folder with a partial run (a killed notebook) resumes from its last checkpoint (lib/train/loop.ts);
 *   - a finished run (summary.json at the requested step count) is reused without training;
 *   - a finished run that already has its results row (matched by the run's uid, kept in the run folder's
 *     experiment.json) returns that row: NO duplicate row is appended and nothing is re-evaluated. To add a
 *     new row for the same settings, use a new run id (e.g. another seed); deleting the run folder retrains.
 *   - a sample is cached in the run folder (sample.json) per sampling options.
 *
 * Shared pure helpers for the notebooks: `learningCurveFigure` (train loss and validation bpb vs step),
 * the image-sample grid,
 * and the paper-comparison table each notebook saves for results/summary.md.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Config, DeepPartial, getPreset } from "../config";
import { PATHS, ROOT, atomicWrite, atomicWriteJSON, checkFileName, ensureDir, readJSON, readJSONL } from "../util/io";
import { jsonDiff } from "../util/json";
import { findCheckpoint } from "../train/checkpoint";
import { countParamsOf, disposeModel, Model } from "../nn/model";
import { EvalRecord, RUN_FILES, StepMetrics, loadRunModel, trainRun } from "../train/loop";
import { EvalResult, evaluate } from "../train/evaluate";
import { sampleTokens } from "../train/sample";
import { Dataset, LoadOptions, loadDataset } from "../data/datasets";
import { SplitName } from "../data/pg19";
import { PAD_ID, TokenizerJSON, decodeText, encodeText } from "../data/vocab";
import { decodeImage, encodePNG, imageGrid } from "../data/image";
import { ResultRow, appendResult, readResultRows } from "./results";
import { PALETTE, PlotlyFigure, Series, lineFigure } from "../notebook/plots";
import { Table, readTable, saveTable } from "../notebook/tables";
import { displayBundle, displayHtml, escapeHtml } from "../util/display";
import { createProgress } from "../util/progress";
import { median } from "../util/stats";

/** What to sample after training (text: decoded with the run's tokenizer; images: one image per row). */
export interface SampleSpec {
  /** new tokens per row (images: default h·w·c, one whole image; fewer leave the image's last pixels black) */
  length?: number;
  /** rows sampled together (default 1) */
  batch?: number;
  /** nucleus p (default: the config's sampling.topP, paper 0.9 for Enwik8) */
  topP?: number;
  /** default: the config's sampling.temperature */
  temperature?: number;
  /** default: the run's seed */
  seed?: number;
  /** text fed after the initial EOS, encoded with the run's tokenizer (text datasets only) */
  prompt?: string;
}

export interface ExperimentSpec {
  /** results file name and runs/ subfolder, e.g. "01-enwik8" */
  experiment: string;
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
  /** draw a sample after training (omit for none); needs a recurrent model (vq-linear / vq-parallel) */
  sample?: SampleSpec;
  /** the swept values, written as top-level columns of the row, e.g. {S: 64, seed: 0} */
  params?: Record<string, number | string | boolean>;
  /** the notebook's profile, recorded in the row */
  profile?: string;
  /** progress bars (default true) */
  progress?: boolean;
  /** folders (tests use temporary ones): default runs/ and results/ */
  runsDir?: string;
  resultsDir?: string;
  onMetrics?: (m: StepMetrics) => void;
  onEval?: (e: EvalRecord) => void;
}

/** A sample drawn from the trained model. */
export interface ExperimentSample {
  /** the options used (defaults filled in) */
  options: Required<Omit<SampleSpec, "prompt">> & { prompt: string };
  /** [batch][length] token ids (prompt excluded) */
  tokens: number[][];
  /** text datasets: each row decoded with the run's tokenizer (prompt included) */
  texts?: string[];
  /** image datasets: each row as pixels [h·w·c] */
  images?: Uint8Array[];
  imageShape?: [number, number, number];
}

export interface ExperimentResult {
  /** the run's results row (appended now, or the existing one for a finished run) */
  row: ResultRow;
  /** one record per parameter update (metrics.jsonl) */
  history: StepMetrics[];
  /** the periodic validation evaluations during training (eval.jsonl), for learning curves */
  evals: EvalRecord[];
  /** the final evaluation per split (empty when the row was reused without re-evaluating) */
  splits: Partial<Record<SplitName, EvalResult>>;
  sample?: ExperimentSample;
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

/** Columns every row has; params must not reuse them. */
const RESERVED = new Set(["experiment", "run", "run_uid", "profile", "preset", "dataset", "tokenizer", "seed", "steps"]);

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
// Row contents (pure)

/** Mean of the last `frac` of the values (at least one). */
function tailMean(xs: number[], frac = 0.1): number | null {
  if (xs.length === 0) return null;
  const k = Math.max(1, Math.round(xs.length * frac));
  const tail = xs.slice(-k);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

/**
 * Speed and codebook summaries of a training history: median tokens/s and seconds per update (the first update,
 * which compiles kernels, excluded), final train loss (nats per token) and codebook usage/entropy (means over the
 * last 10% of updates).
 * @param history metrics.jsonl records; tokensPerUpdate = B·U
 */
export function historySummary(history: StepMetrics[], tokensPerUpdate: number): Record<string, number | null> {
  const timed = history.length > 1 ? history.slice(1) : history;
  const tps = timed.map((m) => m.tokensPerSec).filter((x) => x > 0);
  return {
    tokens_per_s: tps.length ? median(tps) : null,
    step_time_s: tps.length ? median(tps.map((t) => tokensPerUpdate / t)) : null,
    train_s: tps.length ? history.reduce((a, m) => a + (m.tokensPerSec > 0 ? tokensPerUpdate / m.tokensPerSec : 0), 0) : null,
    train_loss: tailMean(history.map((m) => m.loss)), // nats per token (StepMetrics.bpb is per token, not per byte)
    code_usage: tailMean(history.map((m) => m.codeUsage)),
    code_entropy_bits: tailMean(history.map((m) => m.codeEntropy)),
  };
}

/** "validation" → "val", "test" → "test", "train" → "train": the column prefix of a split's metrics. */
export function splitPrefix(split: SplitName): string {
  return split === "validation" ? "val" : split;
}

/** A split's metrics as row columns: <prefix>_{loss, bpb, ppl, word_ppl, tokens}. */
export function evalColumns(r: EvalResult): Record<string, number | null> {
  const p = splitPrefix(r.split as SplitName);
  return {
    [`${p}_loss`]: r.loss, [`${p}_bpb`]: r.bpb, [`${p}_ppl`]: r.ppl,
    [`${p}_word_ppl`]: r.wordPpl ?? null, [`${p}_tokens`]: r.tokens,
  };
}

/** The config columns a row keeps (nested: flattened to model.nCode etc. by appendResult). */
export function configEssentials(cfg: Config): Record<string, unknown> {
  const m = cfg.model, t = cfg.train;
  return {
    n_params: countParamsOf(m),
    model: {
      attnType: m.attnType, headType: m.headType, dModel: m.dModel, dK: m.dK, dV: m.dV, nLayer: m.nLayer,
      nCode: m.nCode, blockLen: m.blockLen, memLen: m.memLen, aggCache: m.aggCache, vocabSize: m.vocabSize,
    },
    train: {
      batchSize: t.batchSize, sequenceLen: t.sequenceLen, updateLen: t.updateLen, optimizer: t.optimizer, lrMax: t.lrMax,
      maxSteps: t.maxSteps,
    },
  };
}

// ------------------------------------------------------------------------------------------------------------
// Sampling

function resolveSample(s: SampleSpec, cfg: Config, ds: Dataset): ExperimentSample["options"] {
  const [h, w, c] = ds.imageShape ?? [0, 0, 0];
  return {
    length: s.length ?? (ds.kind === "image" ? h * w * c : 256),
    batch: s.batch ?? 1,
    topP: s.topP ?? cfg.sampling.topP,
    temperature: s.temperature ?? cfg.sampling.temperature,
    seed: s.seed ?? cfg.train.seed,
    prompt: s.prompt ?? "",
  };
}

/** Decodes sampled tokens into texts or images for the dataset. */
function decodeSample(options: ExperimentSample["options"], tokens: number[][], ds: Dataset): ExperimentSample {
  const out: ExperimentSample = { options, tokens };
  if (ds.kind === "image") {
    const [h, w, c] = ds.imageShape!;
    out.imageShape = [h, w, c];
    // a sample shorter than an image (smoke runs) fills the rest with PAD, shown black
    out.images = tokens.map((t) => decodeImage(t.length >= h * w * c ? t : [...t, ...new Array<number>(h * w * c - t.length).fill(PAD_ID)], h, w, c));
  } else {
    out.texts = tokens.map((t) => options.prompt + decodeText(ds.tokenizer, t));
  }
  return out;
}

function drawSample(model: Model, cfg: Config, ds: Dataset, options: ExperimentSample["options"], progress: boolean): number[][] {
  if (cfg.model.attnType === "full" || cfg.model.attnType === "vq-quadratic") {
    throw new Error(`sample: attnType ${cfg.model.attnType} carries no recurrent state, so it cannot sample with block length 1; ` +
      `sample from a vq-linear or vq-parallel run (omit spec.sample for this run)`);
  }
  if (options.prompt && ds.kind === "image") throw new Error("sample.prompt: image datasets take no text prompt; omit it");
  const prompt = options.prompt ? Array.from(encodeText(ds.tokenizer, options.prompt)) : [];
  const bar = progress ? createProgress({ total: options.length, label: "sample", unit: "token" }) : undefined;
  const rows = sampleTokens(model, {
    length: options.length, batch: options.batch, topP: options.topP, temperature: options.temperature, seed: options.seed, prompt,
    onToken: (done) => bar?.update(done),
  });
  bar?.done();
  return rows.map((r) => Array.from(r));
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
    checkFileName(`spec.${what}`, v, "it names a folder");
  }
  for (const k of Object.keys(spec.params ?? {})) {
    if (RESERVED.has(k) && k !== "seed") throw new Error(`spec.params.${k}: '${k}' is a standard column of every row; rename the parameter`);
    if (k === "seed" && spec.params!.seed !== (spec.seed ?? 0)) throw new Error(`spec.params.seed = ${spec.params!.seed} but spec.seed = ${spec.seed ?? 0}; set spec.seed (the row records it)`);
  }
  const runDir = path.join(spec.runsDir ?? PATHS.runs, spec.experiment, spec.run);
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
    const saved = readJSON<Config>(path.join(runDir, RUN_FILES.config));
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
      config: cfg, data: ds, outDir: runDir, resume: true, steps: spec.steps, progress, onMetrics: spec.onMetrics, onEval: spec.onEval,
    });
    model = r.model;
  }

  try {
    const history = readJSONL<StepMetrics>(path.join(runDir, RUN_FILES.metrics));
    const evals = readJSONL<EvalRecord>(path.join(runDir, RUN_FILES.evals));

    // Sample (cached per options).
    let sample: ExperimentSample | undefined;
    if (spec.sample) {
      const options = resolveSample(spec.sample, cfg, ds);
      const file = path.join(runDir, SAMPLE_FILE);
      const cached = fs.existsSync(file) ? readJSON<{ options: ExperimentSample["options"]; tokens: number[][] }>(file) : undefined;
      let tokens: number[][];
      if (cached && JSON.stringify(cached.options) === JSON.stringify(options)) {
        tokens = cached.tokens;
      } else {
        tokens = drawSample(model, cfg, ds, options, progress);
        atomicWriteJSON(file, { options, tokens });
      }
      sample = decodeSample(options, tokens, ds);
    }

    // The row: reuse the existing one of this run, else evaluate and append.
    const existing = readResultRows(spec.experiment, spec.resultsDir).filter((r) => r.run_uid === book.uid).pop();
    const splits: ExperimentResult["splits"] = {};
    if (existing) {
      return { row: existing, history, evals, splits, sample, config: cfg, runDir, training, appended: false };
    }
    const evalSplits = spec.evalSplits ?? ["validation", "test"];
    for (const split of evalSplits) {
      let bar: ReturnType<typeof createProgress> | undefined;
      splits[split] = evaluate(model, ds, split, cfg, {
        maxTokens: spec.evalTokens ?? 0,
        onProgress: progress ? (d, n) => (bar ??= createProgress({ total: n, label: `evaluate ${split}`, unit: "window" })).update(d) : undefined,
      });
      bar?.done();
    }
    saveWall();
    const B = cfg.train.batchSize, U = cfg.train.updateLen;
    const row = appendResult(spec.experiment, {
      experiment: spec.experiment, run: spec.run, run_uid: book.uid, profile: spec.profile ?? null,
      ...spec.params,
      preset: cfg.preset, dataset: ds.name, tokenizer: ds.tokenizer.kind, seed: cfg.train.seed, steps: history.length ? history[history.length - 1].step : 0,
      ...configEssentials(cfg),
      ...Object.assign({}, ...Object.values(splits).map((r) => evalColumns(r!))),
      ...historySummary(history, B * U),
      ...(cfg.model.attnType === "full" ? { code_usage: null, code_entropy_bits: null } : {}), // no codebook
      wall_s: book.wallSeconds,
      run_dir: path.relative(ROOT, runDir),
    }, { dir: spec.resultsDir });
    return { row, history, evals, splits, sample, config: cfg, runDir, training, appended: true };
  } finally {
    disposeModel(model);
  }
}

// ------------------------------------------------------------------------------------------------------------
// Helpers the notebooks share (pure unless they display or write)

/** Trailing moving average over `window` points (window 1 = the values). */
export function movingAverage(ys: number[], window: number): number[] {
  const w = Math.max(1, Math.floor(window));
  const out: number[] = [];
  let acc = 0;
  for (let i = 0; i < ys.length; i++) {
    acc += ys[i];
    if (i >= w) acc -= ys[i - w];
    out.push(acc / Math.min(i + 1, w));
  }
  return out;
}

/** One curve of a learning-curve figure. */
export interface LearningCurve {
  /** legend name, e.g. "Transformer-VQ (S=64)" */
  name: string;
  history: StepMetrics[];
  /** periodic validation evaluations (drawn dashed with markers, loss / ln 2) */
  evals?: EvalRecord[];
  color?: string;
}

/**
 * Train loss (moving average) solid and validation loss dashed, per run, vs parameter update, both in bits per token
 * (nats / ln 2; = bits per byte on byte-level data).
 * @param curves one per run
 * @param opts.smooth moving-average window in updates (default: 5% of the longest run, at least 1);
 *   unit: "bits per byte" (default) or e.g. "bits per token" for BPE; title optional; logY for a log y axis;
 *   zoom (default true): y range without the first 10% of training (see zoomRange)
 */
export function learningCurveFigure(curves: LearningCurve[], opts: { smooth?: number; unit?: string; title?: string; logY?: boolean; zoom?: boolean } = {}): PlotlyFigure {
  if (curves.length === 0) throw new Error("learningCurveFigure: pass at least one {name, history}");
  const longest = Math.max(...curves.map((c) => c.history.length));
  const smooth = opts.smooth ?? Math.max(1, Math.round(longest / 20));
  const series: Series[] = [];
  curves.forEach((c, i) => {
    const color = c.color ?? PALETTE[i % PALETTE.length];
    series.push({
      name: `${c.name}: train${smooth > 1 ? ` (mean of ${smooth})` : ""}`, color, mode: "lines",
      x: c.history.map((m) => m.step), y: movingAverage(c.history.map((m) => m.bpb), smooth),
    });
    if (c.evals?.length) {
      // per token like the train curve (EvalResult.bpb is per byte of text, which differs for subword tokens)
      series.push({ name: `${c.name}: validation`, color, dash: "dash", mode: "lines+markers", x: c.evals.map((e) => e.step), y: c.evals.map((e) => e.loss / Math.LN2) });
    }
  });
  const unit = opts.unit ?? "bits per byte";
  const fig = lineFigure(series, { title: opts.title, x: "parameter update", y: { title: `loss (${unit})`, log: opts.logY }, legend: true });
  const range = opts.zoom === false || opts.logY ? undefined : zoomRange(series);
  if (range) (fig.layout.yaxis as Record<string, unknown>).range = range;
  return fig;
}

/**
 * A y range that skips the first 10% of each training curve (the fast initial drop would flatten the rest):
 * from the lowest value to the highest later value or validation point, with a margin. Undefined when flat.
 * series: the learning-curve series (train curves are mode "lines", validation "lines+markers").
 */
export function zoomRange(series: Series[]): [number, number] | undefined {
  const later = series.flatMap((s) => (s.mode === "lines" ? s.y.slice(Math.floor(s.y.length / 10)) : s.y)).filter(Number.isFinite);
  const all = series.flatMap((s) => s.y).filter(Number.isFinite);
  if (later.length === 0) return undefined;
  const lo = Math.min(...all), hi = Math.max(...later);
  if (!(hi > lo)) return undefined;
  return [lo - 0.05 * (hi - lo), hi + 0.08 * (hi - lo)];
}

// ------------------------------------------------------------------------------------------------------------
// Display helpers for samples

/**
 * Shows text in a notebook as a preformatted block (printed outside a kernel).
 * @param text e.g. a decoded sample; title: a caption line
 */
export function showText(text: string, title?: string): void {
  const cap = title ? `<div style="font-weight:600;margin:6px 0 2px">${escapeHtml(title)}</div>` : "";
  displayHtml(`<div>${cap}<pre style="white-space:pre-wrap;font-size:12px;max-width:900px;border-left:3px solid #0072B2;padding-left:8px">${escapeHtml(text)}</pre></div>`,
    (title ? title + "\n" : "") + text);
}

/** Nearest-neighbour upscale by an integer factor f: pixels [h·w·c] → [(f·h)·(f·w)·c]. */
export function upscaleNearest(pixels: Uint8Array, h: number, w: number, c: number, f: number): { pixels: Uint8Array; h: number; w: number } {
  const H = h * f, W = w * f;
  const out = new Uint8Array(H * W * c);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = ((Math.floor(y / f) * w) + Math.floor(x / f)) * c, d = (y * W + x) * c;
      for (let ch = 0; ch < c; ch++) out[d + ch] = pixels[s + ch];
    }
  }
  return { pixels: out, h: H, w: W };
}

/**
 * A PNG of images laid out in a grid, upscaled by `scale` (nearest neighbour) so small images stay visible.
 * @param images [n][h·w·c] pixels; shape [h, w, c]; cols: grid columns; scale: integer zoom (default 4)
 */
export function imageGridPNG(images: Uint8Array[], shape: [number, number, number], opts: { cols?: number; scale?: number } = {}): Buffer {
  const [h, w, c] = shape;
  const grid = imageGrid(images, h, w, c, opts.cols);
  const big = upscaleNearest(grid.pixels, grid.h, grid.w, c, opts.scale ?? 4);
  return encodePNG(big.pixels, big.w, big.h, c);
}

/**
 * Shows a PNG in a notebook and, with `name`, writes figures/<name>.png. Returns the file path (if written).
 * @param png PNG bytes (imageGridPNG); name: file stem; dir: default figures/
 */
export function showPNG(png: Buffer, opts: { name?: string; title?: string; dir?: string } = {}): string | undefined {
  const text = `<PNG image${opts.name ? ` '${opts.name}'` : ""}, ${png.length} bytes>`;
  if (opts.title) displayHtml(`<div style="font-weight:600;margin:6px 0 2px">${escapeHtml(opts.title)}</div>`, opts.title);
  if (!displayBundle({ "image/png": png.toString("base64"), "text/plain": text })) console.log(text);
  if (!opts.name) return undefined;
  checkFileName("showPNG: name", opts.name, "it becomes a file name");
  const file = path.join(ensureDir(opts.dir ?? PATHS.figures), `${opts.name}.png`);
  atomicWrite(file, png);
  return file;
}

// ------------------------------------------------------------------------------------------------------------
// The paper comparison each notebook saves for results/summary.md

/** results/<experiment>.paper.csv */
export function paperComparisonFile(experiment: string, dir = PATHS.results): string {
  checkFileName("experiment name", experiment, "it names results/<experiment>.paper.csv");
  return path.join(dir, `${experiment}.paper.csv`);
}

/**
 * Saves a notebook's paper-comparison table (lib/experiments/results.ts paperComparison) as results/<experiment>.paper.csv,
 * which scripts/summary.ts puts into results/summary.md (the latest table per notebook).
 */
export function savePaperComparison(experiment: string, table: Table, dir = PATHS.results): string {
  const file = paperComparisonFile(experiment, ensureDir(dir));
  saveTable(table, file);
  return file;
}

/** The saved paper-comparison table of a notebook, or undefined when it has none yet. */
export function loadPaperComparison(experiment: string, dir = PATHS.results): Table | undefined {
  const file = paperComparisonFile(experiment, dir);
  return fs.existsSync(file) ? readTable(file) : undefined;
}

/** "0.53M params, T=512, L=64, S=64, 600 updates, 9.8 min, native": our setup, for comparison tables. */
export function describeSetup(row: ResultRow): string {
  const num = (k: string) => (typeof row[k] === "number" ? (row[k] as number) : undefined);
  const parts: string[] = [];
  const n = num("n_params");
  if (n !== undefined) parts.push(n >= 1e6 ? `${(n / 1e6).toFixed(2)}M params` : `${(n / 1e3).toFixed(0)}k params`);
  if (num("train.sequenceLen") !== undefined) parts.push(`T=${num("train.sequenceLen")}`);
  if (num("model.blockLen") !== undefined) parts.push(`L=${num("model.blockLen")}`);
  if (row["model.attnType"] !== "full" && num("model.nCode") !== undefined) parts.push(`S=${num("model.nCode")}`);
  if (num("steps") !== undefined) parts.push(`${num("steps")} updates`);
  const s = num("train_s");
  if (s !== undefined) parts.push(`${(s / 60).toFixed(1)} min`);
  if (typeof row.backend === "string") parts.push(row.backend);
  return parts.join(", ");
}
