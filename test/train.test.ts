// The trainer's guarantees: determinism, exact resume (also after SIGKILL of a CLI run), NaN handling, refusal to
// overwrite, config-mismatch and corrupt-checkpoint errors, and no tensor leaks. Tiny preset, cpu backend.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { Config, DeepPartial, getPreset } from "../lib/config";
import { createModel, disposeModel } from "../lib/nn/params";
import { disposeState, initState, replaceState } from "../lib/nn/state";
import { createOptimizer, disposeOptimizer } from "../lib/train/optim";
import { findCheckpoint, loadCheckpoint } from "../lib/train/checkpoint";
import { trainRun } from "../lib/train/loop";
import { StepMetrics } from "../lib/train/run-folder";
import { trainSegment } from "../lib/train/step";
import { TrainBatches, batchSegment } from "../lib/data/batches";
import { applySettings, parseFlags } from "../scripts/args";
import { Dataset, loadDataset } from "../lib/data/datasets";
import { checkpointBlob, childEnv, corpusText, metricSteps, trainArgs } from "./helpers/train-cli";

const ROOT = path.resolve(__dirname, "..");

let corpus: Dataset | undefined;
/** The corpus as a dataset (`file:` loader: contiguous 90/5/5 byte split). */
function corpusData(): Dataset {
  if (!corpus) {
    const file = path.join(tmpDir(), "corpus.txt");
    fs.writeFileSync(file, corpusText());
    corpus = loadDataset(`file:${file}`);
  }
  return corpus;
}

/** tiny with two truncated-BPTT segments per sequence and a small evaluation. */
function tinyConfig(over: DeepPartial<Config> = {}): Config {
  const base = getPreset("tiny", { train: { updateLen: 16, maxSteps: 8, saveEvery: 2, evalEvery: 4, evalTokens: 128 } });
  return getPreset("tiny", {
    ...over,
    model: { ...base.model, ...over.model },
    train: { ...base.train, ...over.train },
  });
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-train-"));
}

test("the same seed gives the same loss curve twice; another seed a different one", async () => {
  await initBackend(testBackend());
  const data = corpusData();
  const curve = async (seed: number) => {
    const r = await trainRun({ config: tinyConfig({ train: { seed, evalEvery: 0 } }), data, outDir: path.join(tmpDir(), "run"), progress: false });
    disposeModel(r.model);
    return r.history.map((m: StepMetrics) => m.loss);
  };
  const before = tf.memory().numTensors;
  const a = await curve(1);
  assert.equal(tf.memory().numTensors, before, "a whole trainRun (then disposeModel) leaked tensors");
  const b = await curve(1), c = await curve(2);
  assert.equal(a.length, 8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every(Number.isFinite));
});

test("stopping mid-sequence after 3 updates and resuming to 8 gives the uninterrupted run's bits; records stay consistent", async () => {
  await initBackend(testBackend());
  const data = corpusData();
  const cfg = tinyConfig();
  const full = path.join(tmpDir(), "full");
  const r1 = await trainRun({ config: cfg, data, outDir: full, progress: false });
  disposeModel(r1.model);
  const split = path.join(tmpDir(), "split");
  const r2 = await trainRun({ config: cfg, data, outDir: split, steps: 3, progress: false }); // T/U = 2: inside sequence 2
  disposeModel(r2.model);
  const mid = loadCheckpoint(findCheckpoint(split)!);
  assert.equal(mid.manifest.step, 3);
  assert.equal((mid.manifest.state as { segment: number }).segment, 1, "the checkpoint is inside a sequence");
  assert.ok(mid.tensors.has("state/0"), "the carried recurrent state is checkpointed");
  const r3 = await trainRun({ config: cfg, data, outDir: split, resume: true, progress: false });
  disposeModel(r3.model);
  assert.ok(checkpointBlob(full).equals(checkpointBlob(split)), "final parameters, codebooks and optimizer state differ");
  assert.deepEqual(r3.history.map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(r3.history.map((m) => m.loss), r1.history.map((m) => m.loss));
  // the partial run's own final evaluation (step 3) stays in the record; the others match the uninterrupted run
  assert.deepEqual(r3.evals.map((e) => e.step), [3, 4, 8]);
  const again = await trainRun({ config: cfg, data, outDir: split, resume: true, progress: false }); // already complete
  disposeModel(again.model);
  assert.deepEqual(again.evals.map((e) => e.step), [3, 4, 8], "resuming a finished run adds no records");
  assert.ok(checkpointBlob(full).equals(checkpointBlob(split)));
  await assert.rejects(trainRun({ config: cfg, data, outDir: split, resume: true, steps: 9, progress: false }), /steps = 9 must be an integer in \[1, train\.maxSteps = 8\]/);
  assert.deepEqual(r3.evals.filter((e) => e.step !== 3).map((e) => [e.step, e.loss]), r1.evals.map((e) => [e.step, e.loss]));
});

test("a relative outDir is taken from the repository, not the working folder; the progress bar shows bpb for byte data", async () => {
  await initBackend(testBackend());
  const target = path.join(tmpDir(), "rel");
  const cwd = process.cwd();
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.chdir(os.tmpdir());
  (process.stderr as { write: unknown }).write = (s: string) => (lines.push(String(s)), true);
  try {
    const r = await trainRun({ config: tinyConfig({ train: { maxSteps: 2, evalEvery: 0, saveEvery: 0 } }), data: corpusData(), outDir: path.relative(ROOT, target) });
    disposeModel(r.model);
    assert.equal(r.outDir, target);
  } finally {
    (process.stderr as { write: unknown }).write = write;
    process.chdir(cwd);
  }
  assert.deepEqual(metricSteps(target), [1, 2]);
  const shown = lines.join("");
  if (process.env.TVQ_PROGRESS?.toLowerCase() !== "off") {
    assert.match(shown, /train rel .*\| bpb \d+\.\d+ \| lr /, "the bar names the unit: bits per byte");
    assert.doesNotMatch(shown, /loss|nats/);
  }
});

test("an existing output folder is refused without resume and left untouched", async () => {
  await initBackend(testBackend());
  const out = tmpDir();
  fs.writeFileSync(path.join(out, "notes.txt"), "mine");
  await assert.rejects(trainRun({ config: tinyConfig(), data: corpusData(), outDir: out, progress: false }),
    /output folder .* already holds a run; pass --resume .* or choose a fresh --out/);
  assert.deepEqual(fs.readdirSync(out), ["notes.txt"]);
});

test("resuming with another model config names the fields; a corrupt checkpoint is a clear error", async () => {
  await initBackend(testBackend());
  const data = corpusData();
  const out = path.join(tmpDir(), "run");
  const r = await trainRun({ config: tinyConfig(), data, outDir: out, steps: 2, progress: false });
  disposeModel(r.model);
  await assert.rejects(trainRun({ config: tinyConfig({ model: { nCode: 8 } }), data, outDir: out, resume: true, progress: false }),
    /model\.nCode: 16 \(checkpoint\) vs 8 \(requested\)[\s\S]*same preset[\s\S]*fresh --out/);
  const blob = path.join(findCheckpoint(out)!, "blob.bin");
  const bytes = fs.readFileSync(blob);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(blob, bytes);
  await assert.rejects(trainRun({ config: tinyConfig(), data, outDir: out, resume: true, progress: false }), /checkpoint .* is corrupt \(SHA-256/);
});

test("a diverging run stops with the step named, suggests a lower lr, keeps the last good checkpoint", async () => {
  await initBackend(testBackend());
  const out = path.join(tmpDir(), "run");
  // lr 0 at update 1 (warmup), 2.5e29 at update 2: the checkpoint after update 2 is finite, update 3 overflows
  const cfg = tinyConfig({ train: { lrMax: 1e30, warmupSteps: 4, saveEvery: 2, evalEvery: 0 } });
  let err: Error | undefined;
  try {
    const r = await trainRun({ config: cfg, data: corpusData(), outDir: out, progress: false });
    disposeModel(r.model);
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err, "training with lr 1e30 should diverge");
  assert.match(err.message, /training diverged: .* at update \d+/);
  assert.match(err.message, /Lower the learning rate \(e\.g\. --set train\.lrMax=/);
  // The suggestion comes from the run's own history (the rate of the last update with a finite loss), not lrMax ÷ 100.
  assert.match(err.message, /the last one with a finite loss/);
  const step = Number(/at update (\d+)/.exec(err.message)![1]);
  const ck = findCheckpoint(out);
  assert.ok(ck, "the checkpoint written before the divergence must be kept");
  const loaded = loadCheckpoint(ck, cfg); // verifies sha256 and config
  assert.ok(loaded.manifest.step >= 1 && loaded.manifest.step < step, `checkpoint step ${loaded.manifest.step} must precede the failing update ${step}`);
  assert.match(err.message, new RegExp(`step ${loaded.manifest.step}\\) is kept`));
  for (const [name, t] of loaded.tensors) assert.ok(t.values.every(Number.isFinite), `${name} in the kept checkpoint is not finite`);
});

test("tf.memory().numTensors does not grow over training updates", async () => {
  await initBackend(testBackend());
  const cfg = tinyConfig();
  const model = createModel(cfg.model, 0);
  const opt = createOptimizer(cfg.train.optimizer, model.params);
  const batches = new TrainBatches(corpusData().splits.train, { B: cfg.train.batchSize, T: cfg.train.sequenceLen, seed: 0 });
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) {
    const batch = batches.next();
    let state = initState(model, cfg.train.batchSize);
    for (let j = 0; j < 2; j++) {
      const r = trainSegment(model, opt, cfg, batchSegment(batch, j, cfg.train.updateLen), state, 100 + i, 2 * i + j);
      state = replaceState(state, r.state);
    }
    disposeState(state);
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(counts.slice(1), [counts[1], counts[1], counts[1]], `numTensors per batch: ${counts}`);
  disposeOptimizer(opt);
  disposeModel(model);
});

/** node --import tsx scripts/train.ts ... on the cpu backend, as `npm run train` would. */

test("SIGKILL after the first checkpoint, then --resume: final parameters equal an uninterrupted run bitwise", async () => {
  const dir = tmpDir();
  const dataFile = path.join(dir, "corpus.txt");
  fs.writeFileSync(dataFile, corpusText());
  const full = path.join(dir, "full"), killed = path.join(dir, "killed");

  const child = spawn(process.execPath, trainArgs(dataFile, killed), { env: childEnv, stdio: "ignore" });
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  const deadline = Date.now() + 50_000;
  while (!findCheckpoint(killed) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  assert.ok(findCheckpoint(killed), "the child wrote no checkpoint");
  child.kill("SIGKILL");
  await exited;
  assert.equal(child.signalCode, "SIGKILL", "the child finished before it could be killed (make the run longer)");
  assert.ok(!fs.existsSync(path.join(killed, "summary.json")));
  const stepAtKill = loadCheckpoint(findCheckpoint(killed)!).manifest.step;
  assert.ok(stepAtKill < 24);

  const resumed = spawnSync(process.execPath, trainArgs(dataFile, killed, ["--resume"]), { env: childEnv, encoding: "utf8" });
  assert.equal(resumed.status, 0, resumed.stderr);
  const uninterrupted = spawnSync(process.execPath, trainArgs(dataFile, full), { env: childEnv, encoding: "utf8" });
  assert.equal(uninterrupted.status, 0, uninterrupted.stderr);

  assert.ok(checkpointBlob(full).equals(checkpointBlob(killed)), `resumed run (killed at step ${stepAtKill}) differs from the uninterrupted one`);
  const summary = JSON.parse(resumed.stdout.trim().split("\n").pop()!);
  const summaryFull = JSON.parse(uninterrupted.stdout.trim().split("\n").pop()!);
  assert.equal(summary.steps, 24);
  assert.equal(summary.val_bpb, summaryFull.val_bpb);
  assert.ok(summary.tokens_per_s > 0);
  const steps = fs.readFileSync(path.join(killed, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, Array.from({ length: 24 }, (_, i) => i + 1), "metrics.jsonl must hold each update once");
});

test("CLI: unknown flags, settings, presets and data files are clear errors", () => {
  assert.throws(() => parseFlags(["--preset", "tiny", "--bogus", "1"], { preset: { kind: "string", help: "" } }), /unknown flag --bogus; known flags: --preset/);
  assert.throws(() => parseFlags(["--steps", "ten"], { steps: { kind: "number", help: "" } }), /--steps must be a number, got "ten"/);
  const cfg = getPreset("tiny");
  assert.throws(() => applySettings(cfg, ["train.lrMaxx=1"]), /--set train\.lrMaxx: unknown field; fields here: .*lrMax/);
  assert.throws(() => applySettings(cfg, ["model.aggCache=maybe"]), /model\.aggCache is true or false/);
  applySettings(cfg, ["train.lrMax=3e-3", "model.aggCache=false", "model.attnType=vq-linear"]);
  assert.deepEqual([cfg.train.lrMax, cfg.model.aggCache, cfg.model.attnType], [3e-3, false, "vq-linear"]);
  const run = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "train.ts"), ...args], { env: childEnv, encoding: "utf8" });
  const a = run(["--preset", "tiny", "--data", "x", "--bogus", "1"]);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /unknown flag --bogus; known flags: --preset[\s\S]*usage: npm run train/);
  const b = run(["--preset", "tiny", "--data", path.join(tmpDir(), "missing.txt"), "--out", path.join(tmpDir(), "o")]);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /missing\.txt" is neither a dataset \(.*foldoc.*\) nor an existing file/);
  assert.throws(() => getPreset("nope"), /preset 'nope' does not exist; use one of: .*tiny/);
});
