// Run safety at resume (issue 11): a history without a loadable checkpoint is refused (--restart keeps it as
// .bak), the history must match the checkpoint, the data must be the same (token SHA-256), --steps may not go
// below the step reached, an --out that is a file is a clear error, and a failed fresh start leaves no trap.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { Config, DeepPartial, getPreset } from "../lib/config";
import { disposeModel } from "../lib/nn/params";
import { findCheckpoint, loadCheckpoint } from "../lib/train/checkpoint";
import { TrainRunOptions, trainRun } from "../lib/train/loop";
import { Dataset, loadDataset } from "../lib/data/datasets";
import { Rng } from "../lib/runtime/rng";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-safety-"));
}

function corpusText(seed = 7): string {
  const words = "the quick brown fox jumps over a lazy dog while seven wizards box and quietly hum jazz tunes".split(" ");
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < 600; i++) {
    const n = 4 + rng.nextInt(8);
    lines.push(Array.from({ length: n }, () => words[rng.nextInt(words.length)]).join(" ") + ".");
  }
  return lines.join("\n");
}

function fileData(name: string, text: string): Dataset {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, text);
  return loadDataset(`file:${file}`);
}

let corpus: Dataset | undefined;
const corpusData = (): Dataset => (corpus ??= fileData("a.txt", corpusText()));

function tinyConfig(over: DeepPartial<Config["train"]> = {}): Config {
  return getPreset("tiny", { train: { updateLen: 16, maxSteps: 8, saveEvery: 2, evalEvery: 4, evalTokens: 128, ...over } });
}

async function train(opts: Partial<TrainRunOptions> & { outDir: string }): Promise<number> {
  const r = await trainRun({ config: tinyConfig(), data: corpusData(), progress: false, ...opts });
  disposeModel(r.model);
  return r.steps;
}

const lines = (file: string): string[] => fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
const steps = (file: string): number[] => lines(file).map((l) => JSON.parse(l).step);

/** A run folder trained for 4 updates (checkpoints at 2 and 4, one final evaluation), copied per case. */
let trained: string | undefined;
async function trainedCopy(name: string): Promise<string> {
  if (!trained) {
    trained = path.join(tmpDir(), "src");
    await train({ outDir: trained, steps: 4 });
  }
  const dir = path.join(tmpDir(), name);
  fs.cpSync(trained, dir, { recursive: true });
  return dir;
}

test("--resume of a history without a loadable checkpoint is refused naming what is missing; restart keeps the history as .bak", async () => {
  await initBackend(testBackend());
  const cases: [string, (dir: string) => void, RegExp][] = [
    // (findCheckpoint may return the incomplete folder, whose loadCheckpoint error is then the reason given)
    ["blob", (d) => fs.rmSync(path.join(d, "checkpoint", "blob.bin")), /checkpoint (has no|.*is corrupt \()blob\.bin/],
    ["manifest", (d) => fs.rmSync(path.join(d, "checkpoint", "manifest.json")), /checkpoint (has no |.*\()manifest\.json/],
    ["folder", (d) => fs.rmSync(path.join(d, "checkpoint"), { recursive: true }), /metrics\.jsonl: 4 lines, eval\.jsonl: 1 lines.*there is no checkpoint\/ folder/],
  ];
  for (const [name, damage, what] of cases) {
    const dir = await trainedCopy(name);
    damage(dir);
    const before = fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8");
    await assert.rejects(train({ outDir: dir, resume: true, steps: 4 }), (e: Error) => {
      assert.match(e.message, /^cannot resume /);
      assert.match(e.message, what);
      assert.match(e.message, /pass --restart .*kept as metrics\.jsonl\.<time>\.bak/);
      return true;
    }, name);
    assert.equal(fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8"), before, `${name}: the history must be untouched`);
  }
  // a corrupt checkpoint: loadCheckpoint's reason, and the restart option
  const corrupt = await trainedCopy("corrupt");
  fs.appendFileSync(path.join(corrupt, "checkpoint", "blob.bin"), "x");
  await assert.rejects(train({ outDir: corrupt, resume: true, steps: 4 }), /cannot resume .*blob\.bin has \d+ bytes.*pass --restart/);

  assert.equal(await train({ outDir: corrupt, restart: true, steps: 2 }), 2);
  const bak = fs.readdirSync(corrupt).filter((f) => /^metrics\.jsonl\..+\.bak$/.test(f));
  assert.equal(bak.length, 1, fs.readdirSync(corrupt).join(", "));
  assert.equal(lines(path.join(corrupt, bak[0])).length, 4, "the old history is kept whole");
  assert.ok(fs.readdirSync(corrupt).some((f) => /^eval\.jsonl\..+\.bak$/.test(f)));
  assert.ok(fs.readdirSync(corrupt).some((f) => /^checkpoint\..+\.bak$/.test(f)));
  assert.deepEqual(steps(path.join(corrupt, "metrics.jsonl")), [1, 2]);
});

test("resume matches the history to the checkpoint: later lines are cut, lost lines or another run's lines are refused", async () => {
  await initBackend(testBackend());
  const extra = await trainedCopy("extra");
  const m = path.join(extra, "metrics.jsonl");
  fs.appendFileSync(m, lines(m)[3].replace('"step":4', '"step":5') + "\n"); // logged after the checkpoint, then killed
  assert.equal(await train({ outDir: extra, resume: true, steps: 6 }), 6);
  assert.deepEqual(steps(m), [1, 2, 3, 4, 5, 6]);

  const lost = await trainedCopy("lost");
  const ml = path.join(lost, "metrics.jsonl");
  fs.writeFileSync(ml, lines(ml).slice(0, 2).join("\n") + "\n");
  await assert.rejects(train({ outDir: lost, resume: true, steps: 6 }),
    /metrics\.jsonl has 2 records but the checkpoint \(step 4\) was written after 4: history lines were lost\. Restore metrics\.jsonl .*--restart/);
  assert.equal(lines(ml).length, 2, "nothing is repaired by dropping lines");

  const other = await trainedCopy("other");
  const mo = path.join(other, "metrics.jsonl");
  const ls = lines(mo);
  ls[3] = ls[3].replace('"step":4', '"step":40');
  fs.writeFileSync(mo, ls.join("\n") + "\n");
  await assert.rejects(train({ outDir: other, resume: true, steps: 6 }), /record 4 of .*metrics\.jsonl is step 40 but the checkpoint is at step 4/);
});

test("resume refuses other data, naming both datasets and token hashes; a folder from before the hash resumes and gets one", async () => {
  await initBackend(testBackend());
  const dir = await trainedCopy("data");
  const stamp = JSON.parse(fs.readFileSync(path.join(dir, "data.json"), "utf8"));
  assert.match(stamp.tokensSha256, /^[0-9a-f]{64}$/);
  const other = fileData("b.txt", corpusText().split("").reverse().join("")); // same length, so the same sequence count
  await assert.rejects(trainRun({ config: tinyConfig(), data: other, outDir: dir, resume: true, steps: 6, progress: false }), (e: Error) => {
    assert.match(e.message, /started on dataset "file:.*a\.txt" \(token SHA-256 [0-9a-f]{16}…\) but this resume has dataset "file:.*b\.txt" \(token SHA-256 [0-9a-f]{16}…\)/);
    assert.match(e.message, /--data file:.*a\.txt/);
    return true;
  });
  delete stamp.tokensSha256; // a run folder written before the hash existed
  fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify(stamp));
  assert.equal(await train({ outDir: dir, resume: true, steps: 6 }), 6);
  assert.match(JSON.parse(fs.readFileSync(path.join(dir, "data.json"), "utf8")).tokensSha256, /^[0-9a-f]{64}$/);
});

test("an --out that is an existing file is a clear error", async () => {
  await initBackend(testBackend());
  const file = path.join(tmpDir(), "notes.txt");
  fs.writeFileSync(file, "not a run");
  await assert.rejects(train({ outDir: file, steps: 2 }), /output folder .*notes\.txt is an existing file, not a folder: pass a folder path/);
});

test("--resume with --steps below the step reached is refused and keeps the stored maxSteps", async () => {
  await initBackend(testBackend());
  const dir = await trainedCopy("steps");
  await assert.rejects(trainRun({ config: tinyConfig({ maxSteps: 2 }), data: corpusData(), outDir: dir, resume: true, progress: false }),
    /train\.maxSteps = 2 \(--steps\): its checkpoint is already at step 4 \(stored train\.maxSteps = 8\)\. Omit --steps/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")).train.maxSteps, 8, "the stored schedule is kept");
  assert.equal(loadCheckpoint(findCheckpoint(dir)!).manifest.step, 4);
});

test("a fresh run that fails before its first update leaves nothing that refuses a retry of the same --out", async () => {
  await initBackend(testBackend());
  // bad data (tokens outside the vocabulary, e.g. a corrupt cache) fails in the first update
  const good = corpusData();
  const bad: Dataset = { ...good, splits: { ...good.splits, train: new Uint16Array(good.splits.train.length).fill(60000) } };
  const out = path.join(tmpDir(), "fresh");
  await assert.rejects(trainRun({ config: tinyConfig(), data: bad, outDir: out, steps: 2, progress: false }));
  assert.ok(!fs.existsSync(out), `a failed start left ${fs.existsSync(out) ? fs.readdirSync(out).join(", ") : ""}`);
  assert.equal(await train({ outDir: out, steps: 2 }), 2, "the retry of the same --out without --resume works");
});
