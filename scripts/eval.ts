// Evaluates a trained run on a split: npm run eval -- --out runs/x [--split test] [--data foldoc] [--tokens N]
// [--preset tiny --set ...]. Windows of T with the state reset per window (docs/paper.md §1.4). stdout: one JSON line
// {"split", "loss", "bpb", "ppl", "word_ppl", "tokens", ...}; also written to <out>/eval-<split>.json.
import * as path from "node:path";
import { atomicWriteJSON } from "../lib/util/io";
import { disposeModel } from "../lib/nn/params";
import { Progress, createProgress } from "../lib/util/progress";
import { evaluate } from "../lib/train/evaluate";
import { loadRunDataset } from "../lib/train/run-folder";
import { CommandSpec, UsageError, parseCommand, runMain } from "./args";
import { RUN_CHECK_FLAGS, datasetSpec, loadCliRun } from "./data";

const CLI: CommandSpec = {
  command: "npm run eval",
  args: "--out DIR [--split validation|test] [--data NAME|FILE] [--tokens N] [--preset NAME --set section.field=value ...]",
  summary: "Evaluates a trained run on one split, over windows of T with the state reset per window. stdout: one JSON line " +
    "{split, loss, bpb, ppl, word_ppl, tokens, ...}, also written to <out>/eval-<split>.json.",
  flags: {
    out: { kind: "string", value: "DIR", help: "the run folder (its config.json, tokenizer.json and last checkpoint)", default: "required" },
    split: { kind: "string", value: "validation|test", help: "the split to score (train also works)", default: "test" },
    data: { kind: "string", value: "NAME|FILE", help: "evaluate on another dataset or file, with the run's tokenizer", default: "the run's dataset" },
    tokens: { kind: "number", help: "score only the first windows covering this many tokens; 0 = the whole split", default: "0", integer: true, min: 0 },
    ...RUN_CHECK_FLAGS,
    quiet: { kind: "boolean", help: "no progress bar" },
  },
  examples: ["npm run eval -- --out runs/tiny-foldoc --split test", "npm run eval -- --out runs/tiny-foldoc --split validation --tokens 65536 --quiet"],
  notes: ["exit codes: 0 done, 1 the evaluation failed (e.g. not a run folder), 2 a bad command line"],
};

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI);
  const split = String(flags.split ?? "test");
  if (split !== "validation" && split !== "test" && split !== "train") throw new UsageError(`--split ${split}: use validation or test (or train)`);
  const { outDir, model, config, step } = await loadCliRun(flags);
  try {
    const ds = loadRunDataset(outDir, flags.data === undefined ? undefined : datasetSpec(String(flags.data)));
    let progress: Progress | undefined;
    const r = evaluate(model, ds, split, config, {
      maxTokens: Number(flags.tokens ?? 0),
      onProgress: (done, total) => {
        if (flags.quiet) return;
        progress ??= createProgress({ total, label: `eval ${path.basename(outDir)} ${split}`, unit: "window" });
        progress.update(done);
      },
    });
    progress?.done();
    const line = {
      split, loss: r.loss, bpb: r.bpb, ppl: r.ppl, word_ppl: r.wordPpl ?? null, tokens: r.tokens, bytes: r.bytes ?? null,
      words: r.words ?? null, windows: r.windows, step, data: ds.name, out: outDir,
    };
    atomicWriteJSON(path.join(outDir, `eval-${split}.json`), line);
    console.log(JSON.stringify(line));
  } finally {
    disposeModel(model);
  }
}

runMain(main, CLI);
