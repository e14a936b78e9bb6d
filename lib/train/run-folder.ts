/**
 * A run folder: what training writes, and what evaluation, sampling and the notebooks read back.
 *
 *   config.json     the full Config of the run                           (readRunConfig)
 *   data.json       the dataset's name, kind, vocabulary size, tokenizer kind, image shape, provenance, and the
 *                   SHA-256 of its token streams (a resume on other data is refused)
 *   tokenizer.json  the vocabulary, so evaluation and sampling decode with the same one   (readRunData)
 *   metrics.jsonl   one StepMetrics line per parameter update
 *   eval.jsonl      one EvalRecord line per evaluation
 *   checkpoint/     the last checkpoint (checkpoint.ts; its model part is what loadRunModel reads)
 *   summary.json    the final numbers of a finished run
 *   .lock           while a process trains the folder: its pid, host and start time (lock.ts)
 *   *.<time>.bak    history set aside by a restart (never deleted)
 *
 * Nothing in a folder is overwritten silently: training refuses a non-empty folder unless it resumes it.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { Config, upgradeModelConfig } from "../config";
import { Model, createModel, disposeModel } from "../nn/params";
import { Dataset, loadDataset } from "../data/datasets";
import { tokenizerFromJSON } from "../data/bpe";
import { ImageShape } from "../data/image";
import { Tokenizer, TokenizerJSON } from "../data/vocab";
import { atomicWriteJSON, readJSON } from "../util/io";
import { CHECKPOINT_DIR, assignFromCheckpoint, findCheckpoint, loadCheckpoint } from "./checkpoint";
import { LOCK_FILE } from "./lock";
import { EvalResult } from "./evaluate";

export const RUN_FILES = {
  config: "config.json",
  data: "data.json",
  tokenizer: "tokenizer.json",
  metrics: "metrics.jsonl",
  evals: "eval.jsonl",
  summary: "summary.json",
};

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

/**
 * Refuses to reuse a non-empty run folder unless resuming (nothing is ever overwritten silently), and an --out
 * that is a file. The lock file alone (a run killed before it wrote anything) does not count as a run.
 */
export function checkOutDir(outDir: string, resume: boolean): void {
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) {
    throw new Error(`output folder ${outDir} is an existing file, not a folder: pass a folder path as --out (outDir), e.g. a new runs/<name>`);
  }
  const exists = fs.existsSync(outDir) && fs.readdirSync(outDir).some((f) => f !== LOCK_FILE);
  if (exists && !resume) {
    throw new Error(`output folder ${outDir} already holds a run; pass --resume (resume: true) to continue it, ` +
      `--restart (restart: true) to train it again from step 0 (its history kept as *.bak), or choose a fresh --out. Nothing was overwritten`);
  }
}

const dataHashes = new WeakMap<Dataset, string>();

/**
 * SHA-256 of the token streams a run trains and validates on (train, validation, test, each prefixed by its name
 * and length; uint16 little-endian). Tokens rather than source bytes: they are what the checkpoint's data cursor
 * indexes, and they also change when the tokenizer does. Computed once per Dataset object.
 */
export function dataSha256(data: Dataset): string {
  let h = dataHashes.get(data);
  if (!h) {
    const hash = crypto.createHash("sha256");
    for (const split of ["train", "validation", "test"] as const) {
      const t = data.splits[split];
      hash.update(`${split}:${t.length}:`);
      if (os.endianness() === "LE") hash.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength)); // no copy
      else {
        const le = new Uint8Array(2 * t.length);
        for (let i = 0; i < t.length; i++) {
          le[2 * i] = t[i] & 0xff;
          le[2 * i + 1] = t[i] >> 8;
        }
        hash.update(le);
      }
    }
    h = hash.digest("hex");
    dataHashes.set(data, h);
  }
  return h;
}

/**
 * Refuses to resume `outDir` on other data than it was started on (data.json tokensSha256). A folder written
 * before the hash was recorded has none: it resumes, and writeRunStamp records the hash then.
 */
export function checkRunDataIdentity(outDir: string, data: Dataset): void {
  const file = path.join(outDir, RUN_FILES.data);
  if (!fs.existsSync(file)) return;
  const saved = readJSON<{ name?: string; tokensSha256?: string }>(file);
  if (!saved.tokensSha256) return;
  const now = dataSha256(data);
  if (saved.tokensSha256 !== now) {
    throw new Error(`cannot resume ${outDir} on other data: it was started on dataset "${saved.name}" (token SHA-256 ` +
      `${saved.tokensSha256.slice(0, 16)}…) but this resume has dataset "${data.name}" (token SHA-256 ${now.slice(0, 16)}…). ` +
      `Resume with the run's own data (--data ${saved.name}, the same tokenizer), or start a new run with a fresh --out. Nothing was changed`);
  }
}

/**
 * Moves the run's history (metrics.jsonl, eval.jsonl, summary.json) and checkpoints aside as `<name>.<time>.bak`
 * instead of deleting them: a restart never destroys what an earlier run measured. Returns the new names.
 */
export function setAsideHistory(outDir: string): string[] {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const moved: string[] = [];
  for (const name of [RUN_FILES.metrics, RUN_FILES.evals, RUN_FILES.summary, CHECKPOINT_DIR, `${CHECKPOINT_DIR}.old`]) {
    const from = path.join(outDir, name);
    if (!fs.existsSync(from)) continue;
    const to = `${from}.${stamp}.bak`;
    fs.renameSync(from, to);
    moved.push(to);
  }
  return moved;
}

/** Non-blank lines of a JSONL file (0 when missing): how many records it holds, a torn last line included. */
export function jsonlLines(file: string): number {
  if (!fs.existsSync(file)) return 0;
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").length;
}

/** Writes config.json, data.json and tokenizer.json: what the run was trained with. */
export function writeRunStamp(outDir: string, cfg: Config, data: Dataset): void {
  atomicWriteJSON(path.join(outDir, RUN_FILES.config), cfg);
  atomicWriteJSON(path.join(outDir, RUN_FILES.data), {
    name: data.name, kind: data.kind, vocabSize: data.vocabSize, tokenizer: data.tokenizer.kind, imageShape: data.imageShape ?? null,
    provenance: data.provenance, tokensSha256: dataSha256(data),
  });
  atomicWriteJSON(path.join(outDir, RUN_FILES.tokenizer), data.tokenizer.toJSON());
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

/** The saved config of a run folder (config.json), for eval and sample. */
export function readRunConfig(outDir: string): Config {
  const file = path.join(outDir, RUN_FILES.config);
  if (!fs.existsSync(file)) throw new Error(`${outDir} is not a run folder (no ${RUN_FILES.config}); pass the --out of a training run`);
  const cfg = readJSON<Config>(file);
  upgradeModelConfig(cfg.model); // a run folder of an older kit: "vq-linear", no fullChunk
  return cfg;
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
