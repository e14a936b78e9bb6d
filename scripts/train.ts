// Trains (or resumes) one run: npm run train -- --preset tiny --data foldoc --out runs/tiny-foldoc [--resume]
// [--steps N] [--seed S] [--set train.lrMax=1e-3 ...]. stdout: one JSON line per evaluation, then one summary line
// {"val_bpb", "steps", "tokens_per_s", ...}; progress and the backend line go to stderr.
import * as fs from "node:fs";
import * as path from "node:path";
import { describeBackend, initBackend } from "../lib/runtime/backend";
import { Config, getPreset, presetNames, validateConfig } from "../lib/config";
import { PATHS } from "../lib/util/io";
import { disposeModel } from "../lib/nn/model";
import { RUN_FILES, checkOutDir, readRunConfig, readRunData, trainRun } from "../lib/train/loop";
import { TokenizerJSON } from "../lib/data/vocab";
import { FlagSpec, UsageError, applySettings, parseFlags, usageLines, runMain } from "./args";
import { loadCliDataset } from "./data";

const SPEC: FlagSpec = {
  preset: { kind: "string", help: `config preset: ${presetNames().join(", ")} (with --resume: default the run's own config)` },
  data: { kind: "string", help: "dataset name (e.g. foldoc, gcide, enwik8, gutenberg, pg19, fashion-mnist) or the path of any file, read as bytes (with --resume: default the run's)" },
  out: { kind: "string", help: "run folder (default runs/<preset>-<data>); an existing one is refused unless --resume" },
  resume: { kind: "boolean", help: "continue the run in --out from its last checkpoint" },
  steps: { kind: "number", help: "parameter updates in the run (sets train.maxSteps, the schedule length)" },
  seed: { kind: "number", help: "seed of initialization, data order and dropout (sets train.seed)" },
  set: { kind: "list", help: "override a config field, repeatable: --set train.lrMax=1e-3 --set model.nCode=32" },
  tokenizer: { kind: "string", help: "text tokenizer: bytes (default) or bpe (trained on the train split; saved with the run)" },
  "bpe-vocab": { kind: "number", help: "vocabulary size of a new BPE tokenizer (default 4096)" },
  quiet: { kind: "boolean", help: "no progress bar" },
  help: { kind: "boolean", help: "show this help" },
};
const USAGE = `usage: npm run train -- --preset tiny --data foldoc --out runs/x [--resume] [--steps N] [--seed S] [--set k=v ...]\n${usageLines(SPEC)}`;

/** The config a command line asks for: preset (or the run's saved config when resuming) + flags. */
function requestedConfig(flags: ReturnType<typeof parseFlags>, outDir: string): Config {
  let cfg: Config;
  if (flags.preset !== undefined) cfg = getPreset(String(flags.preset));
  else if (flags.resume) cfg = readRunConfig(outDir);
  else throw new UsageError(`--preset is required (one of ${presetNames().join(", ")})`);
  applySettings(cfg, flags.set as string[]);
  if (flags.steps !== undefined) cfg.train.maxSteps = Number(flags.steps);
  if (flags.seed !== undefined) cfg.train.seed = Number(flags.seed);
  return cfg;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), SPEC);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  if (flags.data === undefined && !(flags.resume && flags.out !== undefined)) {
    throw new UsageError("--data is required: a dataset name or the path of a file");
  }
  const outDir = path.resolve(flags.out !== undefined ? String(flags.out) :
    path.join(PATHS.runs, `${flags.preset ?? "run"}-${path.basename(String(flags.data)).replace(/[^A-Za-z0-9._-]/g, "_")}`));
  checkOutDir(outDir, Boolean(flags.resume)); // before loading any data
  // a resumed run keeps its dataset (by default) and the vocabulary it was trained with
  const saved = flags.resume && fs.existsSync(path.join(outDir, RUN_FILES.tokenizer)) ? readRunData(outDir) : undefined;
  const dataSpec = flags.data !== undefined ? String(flags.data) : saved ? saved.name : "";
  if (!dataSpec) throw new UsageError(`--data is required: ${outDir} holds no run to take it from`);
  const cfg = requestedConfig(flags, outDir);
  const info = await initBackend();
  console.error(describeBackend(info));
  const tokenizer = saved ? saved.tokenizerJSON : flags.tokenizer === undefined ? undefined : String(flags.tokenizer);
  if (typeof tokenizer === "string" && tokenizer !== "bytes" && tokenizer !== "bpe") throw new UsageError(`--tokenizer ${tokenizer}: use bytes or bpe`);
  const data = loadCliDataset(dataSpec, cfg, (flags.set as string[]).some((s) => s.startsWith("model.vocabSize=")),
    { tokenizer: tokenizer as "bytes" | "bpe" | TokenizerJSON | undefined, bpeVocabSize: flags["bpe-vocab"] as number | undefined });
  validateConfig(cfg);
  const res = await trainRun({
    config: cfg, data, outDir, resume: Boolean(flags.resume), progress: !flags.quiet,
    onEval: (e) => console.log(JSON.stringify({ event: "eval", step: e.step, val_loss: e.loss, val_bpb: e.bpb, val_ppl: e.ppl, tokens: e.tokens })),
  });
  disposeModel(res.model);
  console.log(JSON.stringify({
    val_bpb: res.finalEval?.bpb, val_loss: res.finalEval?.loss, val_ppl: res.finalEval?.ppl, steps: res.steps,
    tokens_per_s: Math.round(res.tokensPerSec), out: outDir,
  }));
}

runMain(main, USAGE);
