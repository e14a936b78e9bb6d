// Trains (or resumes) one run: npm run train -- --preset tiny --data foldoc --out runs/tiny-foldoc [--resume |
// --restart] [--steps N] [--seed S] [--set train.lrMax=1e-3 ...]. stdout: one JSON line per evaluation, then one
// summary line {"val_bpb", "steps", "tokens_per_s", ...}; progress and the backend line go to stderr. Ctrl-C /
// SIGTERM: the update in flight finishes, a checkpoint is written, one line says how to resume, exit 130 / 143.
import * as fs from "node:fs";
import * as path from "node:path";
import { describeBackend, initBackend } from "../lib/runtime/backend";
import { Config, presetNames, validateConfig } from "../lib/config";
import { PATHS } from "../lib/util/io";
import { disposeModel } from "../lib/nn/params";
import { trainRun } from "../lib/train/loop";
import { reportsWordPerplexity } from "../lib/train/evaluate";
import { RunInterruptedError } from "../lib/train/interrupt";
import { RUN_FILES, checkOutDir, readRunConfig, readRunData } from "../lib/train/run-folder";
import { TokenizerJSON } from "../lib/data/vocab";
import { CommandSpec, UsageError, applySettings, parseCommand, parseFlags, runMain } from "./args";
import { datasetSpec, loadCliDataset, presetOf } from "./data";

const CLI: CommandSpec = {
  command: "npm run train",
  args: "--preset NAME --data NAME|FILE [--out DIR] [--resume | --restart] [--steps N] [--seed S] [--set section.field=value ...]",
  summary: "Trains one run (or resumes it from its last checkpoint). stdout: one JSON line per evaluation, then a summary " +
    "line {val_bpb, val_loss (nats/token), val_ppl, steps, tokens_per_s, out}, with val_word_ppl for BPE runs; progress " +
    "and the backend go to stderr.",
  flags: {
    preset: { kind: "string", value: "NAME", help: `config preset: ${presetNames().join(", ")}`, default: "required unless --resume / --restart, which reuse the run's own config" },
    data: { kind: "string", value: "NAME|FILE", help: "dataset name (e.g. foldoc, gcide, enwik8, gutenberg, pg19, fashion-mnist) or the path of any file, read as bytes", default: "required unless --resume / --restart, which reuse the run's dataset" },
    out: { kind: "string", value: "DIR", help: "run folder; an existing one is refused unless --resume or --restart", default: "runs/<preset>-<data>" },
    resume: { kind: "boolean", help: "continue the run in --out from its last checkpoint (refused when its history has no loadable checkpoint: see --restart)" },
    restart: { kind: "boolean", help: "train the run in --out again from step 0; its old history and checkpoint are kept as *.<time>.bak, never deleted (reuses the run's config and data unless given)" },
    steps: { kind: "number", integer: true, min: 1, help: "parameter updates in the run (sets train.maxSteps, the schedule length); with --resume, not below the step already reached", default: "the preset's train.maxSteps" },
    seed: { kind: "number", value: "S", integer: true, min: 0, help: "seed of initialization, data order and dropout (sets train.seed)", default: "the preset's train.seed" },
    set: { kind: "list", value: "section.field=value", help: "override a config field, e.g. --set train.lrMax=1e-3 --set model.nCode=32", default: "none" },
    tokenizer: { kind: "string", value: "bytes|bpe", help: "text tokenizer; bpe is trained on the train split and saved with the run", default: "bytes" },
    "bpe-vocab": { kind: "number", integer: true, above: 259, max: 65536, help: "vocabulary size of a new BPE tokenizer (259 byte and special ids, plus one per merge)", default: "4096" },
    quiet: { kind: "boolean", help: "no progress bar" },
  },
  examples: [
    "npm run train -- --preset tiny --data foldoc --out runs/tiny-foldoc --steps 200",
    "npm run train -- --preset cpu-small --data ./my-corpus.txt --out runs/mine --set model.nCode=128",
    "npm run train -- --out runs/tiny-foldoc --resume",
  ],
  notes: [
    "exit codes: 0 done, 1 the run failed (the error names the value and the fix), 2 a bad command line, " +
      "130 / 143 stopped by SIGINT / SIGTERM (after the update in flight and a checkpoint; a second signal stops at once)",
    "one process per run folder: a second one on the same --out is refused while the first runs (<out>/.lock)",
  ],
};

/** The config a command line asks for: preset (or the run's saved config when resuming) + flags. */
function requestedConfig(flags: ReturnType<typeof parseFlags>, outDir: string): Config {
  let cfg: Config;
  if (flags.preset !== undefined) cfg = presetOf(String(flags.preset));
  else if (flags.resume || flags.restart) cfg = readRunConfig(outDir);
  else throw new UsageError(`--preset is required (one of ${presetNames().join(", ")})`);
  applySettings(cfg, flags.set as string[]);
  if (flags.steps !== undefined) cfg.train.maxSteps = Number(flags.steps);
  if (flags.seed !== undefined) cfg.train.seed = Number(flags.seed);
  // checked before the backend starts and the data loads: a bad --set is a command-line error (exit 2)
  try {
    validateConfig(cfg);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n(fix the value on the command line: --set section.field=value, --steps or --seed)`);
  }
  return cfg;
}

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI);
  if (flags.resume && flags.restart) throw new UsageError("--resume and --restart exclude each other: --resume continues the run, --restart trains it again from step 0");
  const reuse = Boolean(flags.resume || flags.restart); // the run in --out gives the defaults
  if (!reuse && flags.preset === undefined && flags.data === undefined) {
    throw new UsageError("--preset and --data are required, e.g. --preset tiny --data foldoc (--resume / --restart with --out reuse a run's own)");
  }
  if (flags.preset !== undefined) presetOf(String(flags.preset)); // an unknown preset is refused first
  if (flags.data === undefined && !(reuse && flags.out !== undefined)) {
    throw new UsageError("--data is required: a dataset name or the path of a file");
  }
  if (flags.data !== undefined) datasetSpec(String(flags.data)); // before the run folder is touched
  if (flags.tokenizer !== undefined && flags.tokenizer !== "bytes" && flags.tokenizer !== "bpe") throw new UsageError(`--tokenizer ${flags.tokenizer}: use bytes or bpe`);
  const outDir = path.resolve(flags.out !== undefined ? String(flags.out) :
    path.join(PATHS.runs, `${flags.preset ?? "run"}-${path.basename(String(flags.data)).replace(/[^A-Za-z0-9._-]/g, "_")}`));
  checkOutDir(outDir, reuse); // before loading any data
  // a resumed run keeps its dataset (by default) and the vocabulary it was trained with
  const saved = reuse && fs.existsSync(path.join(outDir, RUN_FILES.tokenizer)) ? readRunData(outDir) : undefined;
  const dataSpec = flags.data !== undefined ? String(flags.data) : saved ? saved.name : "";
  if (!dataSpec) throw new UsageError(`--data is required: ${outDir} holds no run to take it from`);
  const cfg = requestedConfig(flags, outDir);
  const info = await initBackend();
  console.error(describeBackend(info));
  const tokenizer = saved ? saved.tokenizerJSON : flags.tokenizer === undefined ? undefined : String(flags.tokenizer);
  const data = loadCliDataset(dataSpec, cfg, (flags.set as string[]).some((s) => s.startsWith("model.vocabSize=")),
    { tokenizer: tokenizer as "bytes" | "bpe" | TokenizerJSON | undefined, bpeVocabSize: flags["bpe-vocab"] as number | undefined });
  validateConfig(cfg);
  // BPE runs also report word-level perplexity; byte-level runs report bits per byte only (lib/train/evaluate.ts)
  const wordPpl = (v: number | undefined) => (reportsWordPerplexity(data.tokenizer.kind) && v !== undefined ? { val_word_ppl: v } : {});
  let res: Awaited<ReturnType<typeof trainRun>>;
  try {
    res = await trainRun({
      config: cfg, data, outDir, resume: Boolean(flags.resume), restart: Boolean(flags.restart), progress: !flags.quiet, exitOnSignal: true,
      onEval: (e) => console.log(JSON.stringify({ event: "eval", step: e.step, val_loss: e.loss, val_bpb: e.bpb, val_ppl: e.ppl, ...wordPpl(e.wordPpl), tokens: e.tokens })),
    });
  } catch (e) {
    if (!(e instanceof RunInterruptedError)) throw e;
    console.error(e.message); // the one line: where the checkpoint is and how to resume
    process.exit(e.exitCode);
  }
  disposeModel(res.model);
  console.log(JSON.stringify({
    val_bpb: res.finalEval?.bpb, val_loss: res.finalEval?.loss, val_ppl: res.finalEval?.ppl, ...wordPpl(res.finalEval?.wordPpl), steps: res.steps,
    tokens_per_s: Math.round(res.tokensPerSec), out: outDir,
  }));
}

runMain(main, CLI);
