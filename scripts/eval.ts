// Evaluates a trained run on a split: npm run eval -- --out runs/x [--split test] [--all | --tokens N] [--data foldoc]
// [--preset tiny --set ...] [--json]. Windows of T with the state reset per window (docs/paper.md §1.4). By default
// the first windows covering the run's train.evalTokens (the size of its validation during training, and of the
// notebooks' periodic evaluations) are scored; --all scores the whole split. stdout: what was scored of how much and
// the metrics in the data's units (bits per byte for byte-level data; nats/token and word-level perplexity for BPE);
// --json prints one JSON line instead. The JSON is also written to <out>/eval-<split>.json.
import * as path from "node:path";
import { atomicWriteJSON } from "../lib/util/io";
import { formatCell } from "../lib/util/format";
import { disposeModel } from "../lib/nn/params";
import { progressCallback } from "../lib/util/progress";
import { EvalResult, evaluate, reportsWordPerplexity } from "../lib/train/evaluate";
import { loadRunDataset } from "../lib/train/run-folder";
import type { Dataset, SplitName } from "../lib/data/datasets";
import { CommandSpec, UsageError, parseCommand, runMain } from "./args";
import { RUN_CHECK_FLAGS, datasetSpec, loadCliRun } from "./data";

const CLI: CommandSpec = {
  command: "npm run eval",
  args: "--out DIR [--split validation|test] [--all | --tokens N] [--data NAME|FILE] [--preset NAME --set section.field=value ...] [--json]",
  summary: "Evaluates a trained run on one split, over windows of T tokens with the state reset per window. By default it " +
    "scores the first windows covering the run's train.evalTokens tokens: the size of the validation scores (val_bpb) " +
    "logged while it trained, which for a notebook's run is the notebook's periodic evaluation size. --all scores the " +
    "whole split and --tokens N any other size (the notebooks' final evaluations: the whole split of text data, " +
    "1,000,000 bytes of real enwik8, 1,000 images of ImageNet64, i.e. --tokens set to 1000 × T). " +
    "Prints how many windows, tokens and bytes were scored of how many, then the metrics in the data's units: bits per " +
    "byte for byte-level data (and images); nats per token and word-level perplexity for BPE text. The JSON line " +
    "{split, loss, bpb, ppl, word_ppl, tokens, windows, windows_total, ...} is written to <out>/eval-<split>.json.",
  flags: {
    out: { kind: "string", value: "DIR", help: "the run folder (its config.json, tokenizer.json and last checkpoint)", default: "required" },
    split: { kind: "string", value: "validation|test", help: "the split to score (train also works)", default: "test" },
    all: { kind: "boolean", help: "score every window of the split (minutes for a large split: the ETA says how many)" },
    tokens: { kind: "number", help: "score the first windows covering this many tokens (0 = the whole split, as --all)", default: "the run's train.evalTokens, or the whole split when that is 0", integer: true, min: 0 },
    data: { kind: "string", value: "NAME|FILE", help: "evaluate on another dataset or file, with the run's tokenizer", default: "the run's dataset" },
    ...RUN_CHECK_FLAGS,
    json: { kind: "boolean", help: "print only the JSON line (as written to <out>/eval-<split>.json) instead of the report" },
    quiet: { kind: "boolean", help: "no progress bar" },
  },
  examples: [
    "npm run eval -- --out runs/tiny-foldoc",
    "npm run eval -- --out runs/tiny-foldoc --split test --all",
    "npm run eval -- --out runs/tiny-foldoc --split validation --tokens 65536 --json --quiet",
  ],
  notes: ["exit codes: 0 done, 1 the evaluation failed (e.g. not a run folder), 2 a bad command line"],
};

const n = (x: number) => formatCell(x);

/** The readable report: what was scored of how much, then the metrics in the data's units. */
function report(r: EvalResult, ds: Dataset, split: SplitName, o: { outDir: string; step: number; T: number; budget: string; file: string }): string {
  const total = ds.splits[split].length;
  const whole = r.windows === r.windowsTotal;
  const pct = (a: number, b: number) => (b > 0 ? ` (${formatCell((100 * a) / b, 3)} %)` : "");
  const bytes = r.bytes === undefined ? "" : `, ${n(r.bytes)} of ${n(ds.byteCounts[split])} ${ds.kind === "image" ? "pixel values" : "bytes"}`;
  const lines = [
    `eval of ${o.outDir} (step ${o.step}; ${ds.name}, ${ds.tokenizer.kind === "bytes" ? "byte-level" : `BPE, V = ${n(ds.vocabSize)}`}) on the ${split} split`,
    `  scored ${n(r.windows)} of ${n(r.windowsTotal ?? r.windows)} windows of T = ${n(o.T)}: ${n(r.tokens)} of ${n(total)} tokens${pct(r.tokens, total)}${bytes}`,
    `  ${whole ? "the whole split" : `${o.budget}; --all scores the whole split`}`,
  ];
  const row = (label: string, value: string) => `  ${label.padEnd(17)}${value}`;
  if (reportsWordPerplexity(ds.tokenizer.kind)) {
    lines.push(row("loss", `${formatCell(r.loss, 4)} nats/token (token perplexity ${formatCell(r.ppl, 4)})`));
    if (r.wordPpl !== undefined) lines.push(row("word perplexity", `${formatCell(r.wordPpl, 4)} over ${n(r.words!)} words`));
    lines.push(row("bits per byte", `${formatCell(r.bpb, 4)} (over the ${n(r.bytes ?? r.tokens)} bytes the tokens stand for; comparable with byte-level runs)`));
  } else {
    lines.push(row(ds.kind === "image" ? "bits per value" : "bits per byte", `${formatCell(r.bpb, 4)}${ds.kind === "image" ? " (per subpixel value, i.e. bits per byte)" : ""}`));
  }
  lines.push(`written to ${o.file}`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI);
  const split = String(flags.split ?? "test");
  if (split !== "validation" && split !== "test" && split !== "train") throw new UsageError(`--split ${split}: use validation or test (or train)`);
  if (flags.all && flags.tokens !== undefined && flags.tokens !== 0) throw new UsageError(`--all and --tokens ${flags.tokens} disagree: --all scores the whole split, --tokens N its first windows; give one`);
  const dataSpec = flags.data === undefined ? undefined : datasetSpec(String(flags.data)); // before the backend starts
  const { outDir, model, config, step } = await loadCliRun(flags);
  try {
    const ds = loadRunDataset(outDir, dataSpec);
    const runBudget = config.train.evalTokens;
    const maxTokens = flags.all ? 0 : flags.tokens !== undefined ? Number(flags.tokens) : runBudget;
    const budget = flags.tokens !== undefined ? `the first windows covering --tokens ${n(maxTokens)}`
      : `the run's validation size, train.evalTokens = ${n(runBudget)}`;
    const bar = progressCallback(!flags.quiet, `eval ${path.basename(outDir)} ${split}`, "window");
    const r = evaluate(model, ds, split, config, { maxTokens, onProgress: bar.report });
    bar.done();
    const wordPpl = reportsWordPerplexity(ds.tokenizer.kind) ? r.wordPpl ?? null : null;
    const line = {
      split, loss: r.loss, bpb: r.bpb, ppl: r.ppl, word_ppl: wordPpl, tokens: r.tokens, tokens_total: ds.splits[split].length,
      bytes: r.bytes ?? null, words: wordPpl === null ? null : r.words ?? null, windows: r.windows, windows_total: r.windowsTotal ?? null,
      T: config.train.sequenceLen, tokenizer: ds.tokenizer.kind, step, data: ds.name, out: outDir,
    };
    const file = path.join(outDir, `eval-${split}.json`);
    atomicWriteJSON(file, line);
    console.log(flags.json ? JSON.stringify(line) : report(r, ds, split, { outDir, step, T: config.train.sequenceLen, budget, file }));
  } finally {
    disposeModel(model);
  }
}

runMain(main, CLI);
