// runExperiment's rerun rules (one row per run; a finished run is reused without training and without a second
// row; a partial run resumes) and the notebooks' pure helpers. Tiny preset, a few updates, cpu backend.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { disposeModel } from "../lib/nn/params";
import { trainRun } from "../lib/train/loop";
import { readResultRows } from "../lib/experiments/results";
import { jsonDiff } from "../lib/util/json";
import { ExperimentSpec, experimentConfig, loadDatasetOnce, runExperiment } from "../lib/experiments/run";
import { latestRows, summarizeAblation } from "../lib/experiments/ablation";
import { learningCurveFigure, movingAverage } from "../lib/notebook/figures/curves";
import { imageGridPNG, upscaleNearest } from "../lib/data/image";
import * as aq from "arquero";
import { Rng } from "../lib/runtime/rng";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-exp-"));
}

/** A deterministic 30 kB text over a small word list, as a file: dataset. */
function corpusFile(): string {
  const words = "the quick brown fox jumps over a lazy dog while seven wizards box and quietly hum jazz tunes".split(" ");
  const rng = new Rng(11);
  const lines: string[] = [];
  for (let i = 0; i < 700; i++) lines.push(Array.from({ length: 4 + rng.nextInt(8) }, () => words[rng.nextInt(words.length)]).join(" ") + ".");
  const file = path.join(tmpDir(), "corpus.txt");
  fs.writeFileSync(file, lines.join("\n"));
  return file;
}

const CORPUS = corpusFile();

function spec(dirs: { runs: string; results: string }, over: Partial<ExperimentSpec> = {}): ExperimentSpec {
  return {
    experiment: "exp-test", run: "vq-seed0", preset: "tiny", dataset: `file:${CORPUS}`, steps: 4, seed: 0,
    overrides: { train: { evalEvery: 2, saveEvery: 2, evalTokens: 128 } },
    evalTokens: 256, params: { S: 16 }, profile: "smoke", progress: false,
    runsDir: dirs.runs, resultsDir: dirs.results,
    ...over,
  };
}

test("runExperiment appends one row; a rerun reuses the finished run without training or a second row", async () => {
  await initBackend(testBackend());
  const dirs = { runs: tmpDir(), results: tmpDir() };
  let updates = 0;
  const first = await runExperiment(spec(dirs, { sample: { length: 12, batch: 2 }, onMetrics: () => updates++ }));
  assert.equal(first.training, "fresh");
  assert.equal(first.appended, true);
  assert.equal(updates, 4);
  assert.equal(first.history.length, 4);
  assert.deepEqual(first.evals.map((e) => e.step), [2, 4]);
  const rows = readResultRows("exp-test", dirs.results);
  assert.equal(rows.length, 1);
  const row = rows[0];
  assert.equal(row.run, "vq-seed0");
  assert.equal(row.S, 16);
  assert.equal(row.seed, 0);
  assert.equal(row.steps, 4);
  assert.equal(row.profile, "smoke");
  assert.equal(row["model.attnType"], "vq-parallel");
  assert.equal(row["train.maxSteps"], 4);
  for (const k of ["val_bpb", "test_bpb", "val_word_ppl", "tokens_per_s", "step_time_s", "code_usage", "code_entropy_bits", "wall_s", "n_params"]) {
    assert.equal(typeof row[k], "number", `${k} is a number`);
  }
  // byte-level data: train bits per byte over the last 10% of updates (here the last one); the run wrote TensorBoard events
  assert.equal(row.tokenizer, "bytes");
  assert.ok(Math.abs((row.train_bpb as number) - first.history[3].bpb) < 1e-12);
  assert.ok(Math.abs((row.train_bpb as number) - (row.train_loss as number) / Math.LN2) < 1e-9);
  assert.equal(fs.readdirSync(first.runDir).filter((f) => f.startsWith("events.out.tfevents.")).length, 1);
  // the row's bpb is the final split evaluation's
  assert.ok(Math.abs((row.val_bpb as number) - first.splits.validation!.bpb) < 1e-12);
  assert.ok((row.val_bpb as number) > 0 && (row.val_bpb as number) < 9);
  assert.equal(first.sample!.tokens.length, 2);
  assert.equal(first.sample!.tokens[0].length, 12);
  assert.equal(typeof first.sample!.texts![0], "string");

  const metricsFile = path.join(first.runDir, "metrics.jsonl");
  const before = fs.readFileSync(metricsFile, "utf8");
  updates = 0;
  const again = await runExperiment(spec(dirs, { sample: { length: 12, batch: 2 }, onMetrics: () => updates++ }));
  assert.equal(again.training, "reused");
  assert.equal(again.appended, false);
  assert.equal(updates, 0);
  assert.equal(fs.readFileSync(metricsFile, "utf8"), before);
  assert.equal(readResultRows("exp-test", dirs.results).length, 1);
  assert.equal(again.row.run_uid, row.run_uid);
  assert.equal(again.row.val_bpb, row.val_bpb);
  assert.equal(again.history.length, 4);
  assert.deepEqual(again.sample!.tokens, first.sample!.tokens); // cached sample

  // another run id is another row
  const other = await runExperiment(spec(dirs, { run: "vq-seed1", seed: 1, params: { S: 16, seed: 1 } }));
  assert.equal(other.appended, true);
  assert.equal(readResultRows("exp-test", dirs.results).length, 2);

  // the same run id with another config is refused, naming the difference
  await assert.rejects(runExperiment(spec(dirs, { overrides: { model: { nCode: 8 }, train: { evalEvery: 2, saveEvery: 2, evalTokens: 128 } } })),
    /different config \(model\.nCode: 16 vs 8.*new id/);
});

test("runExperiment resumes a partial run and trains only the missing updates", async () => {
  await initBackend(testBackend());
  const dirs = { runs: tmpDir(), results: tmpDir() };
  const s = spec(dirs, { run: "partial" });
  const ds = loadDatasetOnce(s.dataset);
  const cfg = experimentConfig(s, ds);
  const runDir = path.join(dirs.runs, s.experiment, s.run);
  const part = await trainRun({ config: cfg, data: ds, outDir: runDir, steps: 2, progress: false }); // a notebook killed after 2 updates
  disposeModel(part.model);
  let updates = 0;
  const r = await runExperiment({ ...s, onMetrics: () => updates++ });
  assert.equal(r.training, "resumed");
  assert.equal(updates, 2);
  assert.equal(r.history.length, 4);
  assert.equal(r.row.steps, 4);
  assert.equal(readResultRows(s.experiment, dirs.results).length, 1);
});

test("runExperiment rejects bad names and reserved params before doing any work", async () => {
  const dirs = { runs: tmpDir(), results: tmpDir() };
  await assert.rejects(runExperiment(spec(dirs, { run: "a/b" })), /spec\.run = "a\/b"/);
  await assert.rejects(runExperiment(spec(dirs, { params: { preset: "x" } })), /spec\.params\.preset/);
  await assert.rejects(runExperiment(spec(dirs, { params: { seed: 3 } })), /spec\.params\.seed = 3 but spec\.seed = 0/);
  await assert.rejects(runExperiment(spec(dirs, { steps: 0 })), /spec\.steps = 0/);
});

test("aggregateSeeds: mean, sample std (n − 1) and n per group, sorted, missing metrics skipped", () => {
  const rows = [
    { S: 32, seed: 0, val_bpb: 1.0 }, { S: 32, seed: 1, val_bpb: 3.0 }, { S: 32, seed: 2, val_bpb: 2.0 },
    { S: 8, seed: 0, val_bpb: 5.0 },
    { S: 64, seed: 0, val_bpb: 2.0 }, { S: 64, seed: 1, val_bpb: null },
  ];
  const t = summarizeAblation(rows, "S", "val_bpb");
  assert.deepEqual(t.columnNames(), ["S", "mean", "std", "n"]);
  const out = t.objects() as Array<Record<string, number>>;
  assert.deepEqual(out.map((r) => r.S), [8, 32, 64]);
  assert.deepEqual(out.map((r) => r.n), [1, 3, 1]);
  assert.deepEqual(out.map((r) => r.mean), [5, 2, 2]);
  assert.equal(out[0].std, 0);
  assert.ok(Math.abs(out[1].std - 1) < 1e-12); // values 1, 2, 3: sample std 1
  // from an arquero table, grouped by two columns
  const two = summarizeAblation(aq.from(rows.map((r) => ({ ...r, cache: r.S > 16 }))), ["cache", "S"], "val_bpb").objects() as Array<Record<string, unknown>>;
  assert.deepEqual(two.map((r) => [r.cache, r.S]), [[false, 8], [true, 32], [true, 64]]);
});

test("latestRows keeps the last row of each run in order of first appearance", () => {
  const t = aq.from([{ run: "a", v: 1 }, { run: "b", v: 2 }, { run: "a", v: 3 }]);
  assert.deepEqual(latestRows(t).objects(), [{ run: "b", v: 2 }, { run: "a", v: 3 }]);
});

test("movingAverage, learningCurveFigure, upscaleNearest, imageGridPNG, jsonDiff", () => {
  assert.deepEqual(movingAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
  assert.deepEqual(movingAverage([1, 2], 1), [1, 2]);
  const hist = [1, 2, 3, 4].map((step) => ({ step, loss: 1, bpb: 5 - step, commit: 0, lr: 0, gradNorm: 0, codeUsage: 1, codeEntropy: 1, tokensPerSec: 1, elapsed: step }));
  const fig = learningCurveFigure([
    { name: "VQ", history: hist, evals: [{ step: 4, split: "validation", loss: Math.LN2 * 1.5, bpb: 9, ppl: 2, tokens: 1, windows: 1, nats: 1 }] },
    { name: "full", history: hist },
  ], { smooth: 1 });
  assert.equal(fig.data.length, 3);
  assert.deepEqual(fig.data[0].y, [4, 3, 2, 1]);
  assert.equal((fig.data[1].line as { dash: string }).dash, "dash");
  assert.ok(Math.abs((fig.data[1].y as number[])[0] - 1.5) < 1e-12); // validation in bits per token (loss / ln 2)
  assert.equal((fig.data[0].line as { color: string }).color, (fig.data[1].line as { color: string }).color);
  // zoom: the y range skips the first 10% of the train curve (here the first point, 4) but keeps every validation point
  const long = Array.from({ length: 20 }, (_, i) => ({ ...hist[0], step: i + 1, bpb: i === 0 ? 9 : 3 - i / 20 }));
  const zoomed = learningCurveFigure([{ name: "VQ", history: long, evals: [{ step: 20, split: "validation", loss: Math.LN2 * 3.5, bpb: 0, ppl: 0, tokens: 1, windows: 1, nats: 1 }] }], { smooth: 1 });
  const [lo, hi] = (zoomed.layout.yaxis as { range: number[] }).range;
  assert.ok(lo < 2.05 && lo > 1.9 && hi > 3.5 && hi < 4, `range ${lo}..${hi}`);
  assert.equal((learningCurveFigure([{ name: "VQ", history: long }], { zoom: false }).layout.yaxis as { range?: number[] }).range, undefined);
  const up = upscaleNearest(new Uint8Array([1, 2, 3, 4]), 2, 2, 1, 2);
  assert.deepEqual(Array.from(up.pixels), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  const png = imageGridPNG([new Uint8Array(12), new Uint8Array(12)], [2, 2, 3], { cols: 2, scale: 3 });
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.equal(png.readUInt32BE(16), (2 * 2 + 1) * 3); // width: (2 images of 2 px + a 1 px gap) · scale
  assert.deepEqual(jsonDiff({ a: { b: 1, c: 2 } }, { a: { b: 1, c: 3 } }), ["a.c: 2 vs 3"]);
});
