// Samples from a trained run with nucleus sampling and block length 1 (the recurrent state):
// npm run sample -- --out runs/x [--num 4] [--length 512] [--prompt "The "] [--seed S] [--top-p 0.9]
// [--temperature 1] [--png samples.png]. Text goes to stdout (invalid UTF-8 and control bytes as \xNN escapes);
// image samples are written as one PNG grid.
import * as path from "node:path";
import { atomicWrite } from "../lib/util/io";
import { disposeModel } from "../lib/nn/params";
import { drawSample } from "../lib/train/sample";
import { progressCallback } from "../lib/util/progress";
import { imageGridPNG } from "../lib/data/image";
import { readRunData } from "../lib/train/run-folder";
import { CommandSpec, UsageError, parseCommand, runMain } from "./args";
import { RUN_CHECK_FLAGS, loadCliRun } from "./data";

const CLI: CommandSpec = {
  command: "npm run sample",
  args: "--out DIR [--num N] [--length N] [--prompt TEXT] [--seed S] [--top-p P] [--temperature T] [--png FILE]",
  summary: "Samples from a trained run with nucleus sampling and block length 1 (the recurrent state). Text samples go to " +
    "stdout, each under a header line; image samples are written as one PNG grid.",
  flags: {
    out: { kind: "string", value: "DIR", help: "the run folder (its config.json, tokenizer.json and last checkpoint)", default: "required" },
    num: { kind: "number", help: "samples drawn together", default: "1 for text, 4 for images", integer: true, min: 1 },
    length: { kind: "number", help: "new tokens per text sample (images: always one whole image)", default: "512", integer: true, min: 1 },
    prompt: { kind: "string", value: "TEXT", help: "text the samples continue (after the EOS that starts every sequence)", default: "none" },
    seed: { kind: "number", value: "S", help: "sampling seed", default: "0", integer: true, min: 0 },
    "top-p": { kind: "number", value: "P", help: "nucleus p", default: "the run's sampling.topP", above: 0, max: 1 },
    temperature: { kind: "number", value: "T", help: "softmax temperature (0 = greedy)", default: "the run's sampling.temperature", min: 0 },
    png: { kind: "string", value: "FILE", help: "image runs: where to write the PNG grid", default: "<out>/samples.png" },
    ...RUN_CHECK_FLAGS,
    quiet: { kind: "boolean", help: "no progress bar (it goes to stderr, one step per new token)" },
  },
  examples: ['npm run sample -- --out runs/tiny-foldoc --length 400 --prompt "The " --seed 1', "npm run sample -- --out runs/fashion --num 8 --png samples.png"],
  notes: [
    "Text is printed as UTF-8. A byte-level model can emit any byte, so bytes that do not form valid UTF-8 (e.g. a " +
      "character cut by --length) are printed as \\xNN escapes (\\xe2\\x82 for the first two bytes of €), as are control " +
      "characters other than newline and tab (\\x1b, \\x0d, ...), which a terminal would act on; a backslash of the text " +
      "itself is printed as it is. Valid multibyte characters print as themselves; nothing is replaced by U+FFFD.",
    "exit codes: 0 done, 1 sampling failed (e.g. not a run folder), 2 a bad command line",
  ],
};

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI);
  const { outDir, model, config, step } = await loadCliRun(flags);
  try {
    const ds = readRunData(outDir);
    const common = {
      seed: Number(flags.seed ?? 0),
      topP: Number(flags["top-p"] ?? config.sampling.topP),
      temperature: Number(flags.temperature ?? config.sampling.temperature),
    };
    if (ds.kind === "image") {
      if (flags.prompt !== undefined || flags.length !== undefined) throw new UsageError("--prompt and --length are for text runs; an image sample is one whole image");
      const bar = progressCallback(!flags.quiet, `sample ${path.basename(outDir)}`, "token");
      const images = drawSample(model, ds, { ...common, batch: Number(flags.num ?? 4) }, bar.report).images!;
      bar.done();
      const file = path.resolve(String(flags.png ?? path.join(outDir, "samples.png")));
      atomicWrite(file, imageGridPNG(images, ds.imageShape!, { scale: 1 }));
      console.log(JSON.stringify({ images: images.length, shape: ds.imageShape, png: file, step, ...common }));
    } else {
      const bar = progressCallback(!flags.quiet, `sample ${path.basename(outDir)}`, "token");
      const texts = drawSample(model, ds, {
        ...common, batch: Number(flags.num ?? 1), length: Number(flags.length ?? 512),
        prompt: flags.prompt === undefined ? undefined : String(flags.prompt),
      }, bar.report).texts!;
      bar.done();
      // texts escape invalid UTF-8 and control bytes as \xNN (lib/train/sample.ts decodeSample)
      texts.forEach((t, i) => console.log(`----- sample ${i + 1} of ${texts.length} (step ${step}, top-p ${common.topP}, temperature ${common.temperature}, seed ${common.seed}) -----\n${t}`));
    }
  } finally {
    disposeModel(model);
  }
}

runMain(main, CLI);
