// Refusals that say what to do (issue 11): a model too large for the memory and data shorter than one sequence are
// refused before anything is allocated; every numeric flag of eval, sample and the notebook commands is checked
// against its range; a malformed swept list is refused; a diverged run suggests a rate its own history shows was stable.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { Config, getPreset } from "../lib/config";
import { Rng } from "../lib/runtime/rng";
import { Dataset, loadDataset } from "../lib/data/datasets";
import { trainRun } from "../lib/train/loop";
import { checkMemoryFits, estimateStepBytes, memoryBudget } from "../lib/train/memory";
import { divergenceFix, lastStableRate } from "../lib/train/step";
import { checkSplitsHoldSequence } from "../lib/train/evaluate";
import { estimateStepBytes as studyEstimate, planPoint } from "../lib/experiments/throughput/memory";
import { parseGrid } from "../lib/notebook/sweep";
import { FlagSpec, UsageError, parseFlags, rangeText } from "../scripts/args";

const REPO = path.resolve(__dirname, "..");

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-refusals-"));
}

/** A text file of `bytes` random words, as a `file:` dataset (90/5/5 byte split). */
function textData(bytes: number): { file: string; data: Dataset } {
  const words = "the quick brown fox jumps over a lazy dog".split(" ");
  const rng = new Rng(3);
  let s = "";
  while (s.length < bytes) s += words[rng.nextInt(words.length)] + " ";
  const file = path.join(tmpDir(), "corpus.txt");
  fs.writeFileSync(file, s.slice(0, bytes));
  return { file, data: loadDataset(`file:${file}`) };
}

/** Runs a scripts/*.ts CLI; returns its status, output and seconds. */
function cli(script: string, args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; stdout: string; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "scripts", script), ...args],
    { cwd: REPO, encoding: "utf8", timeout: 120_000, env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr ?? "", stdout: r.stdout ?? "", seconds: (Date.now() - t0) / 1000 };
}

// ---- 1. a model that cannot fit is refused up front ----------------------------------------------------------

test("the memory model moved to lib/train keeps the throughput study's numbers", () => {
  const cfg = getPreset("paper-throughput");
  assert.equal(estimateStepBytes(cfg), studyEstimate(cfg));
  assert.equal(planPoint(cfg, 12 * 2 ** 30).estimatedBytes, estimateStepBytes(cfg));
});

test("every preset that trains today fits this machine, and the small ones an 8 GiB laptop; paper-* are refused", () => {
  const laptop = { bytes: 8 * 2 ** 30, source: "an 8 GiB laptop", freeBytes: 6 * 2 ** 30 };
  for (const name of ["tiny", "cpu-small"]) {
    checkMemoryFits(getPreset(name), laptop);
    checkMemoryFits(getPreset(name), { bytes: 24 * 2 ** 30, source: "24 GiB", freeBytes: 0 });
  }
  for (const name of ["paper-enwik8", "paper-pg19", "paper-imagenet64"]) {
    assert.throws(() => checkMemoryFits(getPreset(name), { bytes: 24 * 2 ** 30, source: "24 GiB", freeBytes: 0 }), /cannot fit in memory/);
  }
  assert.throws(() => memoryBudget({ TVQ_MEMORY_BYTES: "lots" }), /TVQ_MEMORY_BYTES=lots must be a number of bytes/);
  assert.equal(memoryBudget({ TVQ_MEMORY_BYTES: "1000" }).bytes, 1000);
});

test("trainRun refuses a model too large for the memory in under 2 s, naming the estimate, the memory and the knobs", async () => {
  await initBackend(testBackend());
  const { data } = textData(200_000); // enough for one sequence of T = 8192 in train and validation
  const cfg: Config = getPreset("paper-enwik8");
  const out = path.join(tmpDir(), "run");
  const t0 = Date.now();
  await assert.rejects(trainRun({ config: cfg, data, outDir: out, progress: false }), (e: Error) => {
    assert.match(e.message, /this run cannot fit in memory: one update of B = 32 sequences × U = 8192 tokens needs about \d+ GiB/);
    assert.match(e.message, /the limit is \d+(\.\d+)? GiB \((this machine's total memory|TVQ_MEMORY_BYTES)/);
    assert.match(e.message, /train\.batchSize \(32; at 1: /);
    assert.match(e.message, /train\.updateLen \(8192; .* at 512: /);
    assert.match(e.message, /model\.dModel \(768\), model\.dV \(1536\), model\.nLayer \(24\)/);
    return true;
  });
  assert.ok(Date.now() - t0 < 2000, `refused after ${Date.now() - t0} ms; it must come before anything is allocated`);
  assert.ok(!fs.existsSync(out), "a refused run leaves no folder behind");
});

test("npm run train refuses a model too large for TVQ_MEMORY_BYTES with the estimate and exit 1", () => {
  const { file } = textData(4000);
  const out = path.join(tmpDir(), "run");
  const r = cli("train.ts", ["--preset", "tiny", "--data", file, "--out", out, "--quiet"], { TVQ_MEMORY_BYTES: String(100 * 2 ** 20) });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /this run cannot fit in memory: .* needs about 0\.50 GiB .* the limit is 0\.098 GiB \(TVQ_MEMORY_BYTES/);
  assert.match(r.stderr, /train\.batchSize \(2; at 1: /);
  assert.ok(!fs.existsSync(path.join(out, "checkpoint")), "nothing was trained");
});

// ---- 6. data shorter than one sequence -----------------------------------------------------------------------

test("a data file shorter than T is refused with the split sizes and the fixes, not scored on 1 token", async () => {
  await initBackend(testBackend());
  const { data } = textData(500); // validation: 25 bytes < T = 32
  assert.throws(() => checkSplitsHoldSequence(data, 32), (e: Error) => {
    assert.match(e.message, /too short for sequences of T = 32 tokens: train 450 tokens \(450 bytes\), validation 25 tokens \(25 bytes\)/);
    assert.match(e.message, /the validation split must hold at least one sequence/);
    assert.match(e.message, /at least 640 tokens/);
    assert.match(e.message, /--set train\.sequenceLen=N --set train\.updateLen=N with N ≤ 25/);
    return true;
  });
  checkSplitsHoldSequence(data, 25);
  const out = path.join(tmpDir(), "run");
  await assert.rejects(trainRun({ config: getPreset("tiny"), data, outDir: out, progress: false }), /too short for sequences of T = 32/);
  assert.ok(!fs.existsSync(out));
});

// ---- 2. numeric flags --------------------------------------------------------------------------------------------

test("number flags are checked against their declared range, naming the flag, the value and the range", () => {
  const spec: FlagSpec = {
    n: { kind: "number", help: "count", integer: true, min: 1 },
    p: { kind: "number", help: "nucleus p", above: 0, max: 1 },
    t: { kind: "number", help: "temperature", min: 0 },
    free: { kind: "number", help: "anything" },
  };
  assert.equal(rangeText(spec.n), "an integer ≥ 1");
  assert.equal(rangeText(spec.p), "a number in (0, 1]");
  assert.deepEqual(parseFlags(["--n", "3", "--p", "1", "--t", "0", "--free", "-2.5"], spec), { n: 3, p: 1, t: 0, free: -2.5 });
  assert.throws(() => parseFlags(["--n", "2.5"], spec), (e: Error) => e instanceof UsageError && /--n 2\.5: use an integer ≥ 1; it is the count/.test(e.message));
  assert.throws(() => parseFlags(["--n", "0"], spec), /--n 0: use an integer ≥ 1/);
  assert.throws(() => parseFlags(["--n", "-5"], spec), /--n -5: use an integer ≥ 1/);
  assert.throws(() => parseFlags(["--p", "0"], spec), /--p 0: use a number in \(0, 1\]/);
  assert.throws(() => parseFlags(["--p=1.5"], spec), /--p 1\.5: use a number in \(0, 1\]/);
  assert.throws(() => parseFlags(["--t", "-1"], spec), /--t -1: use a number ≥ 0/);
});

for (const [script, args, message] of [
  ["eval.ts", ["--out", "runs/none", "--tokens", "-100"], /--tokens -100: use an integer ≥ 0/],
  ["eval.ts", ["--out", "runs/none", "--tokens=2.5"], /--tokens 2\.5: use an integer ≥ 0/],
  ["sample.ts", ["--out", "runs/none", "--length", "2.5"], /--length 2\.5: use an integer ≥ 1/],
  ["sample.ts", ["--out", "runs/none", "--length", "-5"], /--length -5: use an integer ≥ 1/],
  ["sample.ts", ["--out", "runs/none", "--num", "0"], /--num 0: use an integer ≥ 1/],
  ["sample.ts", ["--out", "runs/none", "--top-p", "0"], /--top-p 0: use a number in \(0, 1\]/],
  ["sample.ts", ["--out", "runs/none", "--temperature", "-1"], /--temperature -1: use a number ≥ 0/],
  ["sweep.ts", ["test/fixtures/sweep-fixture.ipynb", "--timeout", "0", "--dry-run"], /--timeout 0: use a number > 0/],
] as const) {
  test(`${script} ${args.filter((a) => !a.includes("/")).join(" ")}: exit 2 naming the flag, the value and the range`, () => {
    const r = cli(script, [...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /usage: npm run /);
  });
}

// ---- 3. a malformed swept list ---------------------------------------------------------------------------------

test("a --param value that looks like JSON but is not is refused, naming the value", () => {
  assert.throws(() => parseGrid(["S=[32,64"]), /--param S=\[32,64: the value \[32,64 is not valid JSON/);
  assert.throws(() => parseGrid(["label=\"open"]), /the value "open is not valid JSON/);
  assert.deepEqual(parseGrid(["S=[32,64]", "a=x[1"]), { S: [[32, 64]], a: ["x[1"] });
  const r = cli("sweep.ts", ["test/fixtures/sweep-fixture.ipynb", "--param", "S=[32,64", "--dry-run"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /the value \[32,64 is not valid JSON/);
});

// ---- 5. the divergence advice --------------------------------------------------------------------------------------

test("after a NaN stop the advice is the rate of the last finite update, or lrMax ÷ 100 without history", () => {
  // warmup from 0: update 1 at lr 0 shows nothing; update 3 (lr 2e-3 = lrMax / 50) was the last finite one
  const history = [
    { step: 1, loss: 5, lr: 0 },
    { step: 2, loss: 4, lr: 1e-3 },
    { step: 3, loss: 3.5, lr: 2e-3 },
    { step: 4, loss: NaN, lr: 3e-3 },
  ];
  assert.equal(lastStableRate(history)?.step, 3);
  assert.match(divergenceFix(0.1, history), /--set train\.lrMax=0\.0020: the rate of update 3, the last one with a finite loss/);
  assert.match(divergenceFix(0.1), /--set train\.lrMax=0\.0010: lrMax ÷ 100/);
  assert.match(divergenceFix(0.1, [{ step: 1, loss: 5, lr: 0 }]), /lrMax=0\.0010: lrMax ÷ 100/);
  // a run that diverged near its peak: never more than lrMax ÷ 10
  assert.match(divergenceFix(0.1, [{ step: 900, loss: 2, lr: 0.09 }]), /lrMax=0\.010: lrMax ÷ 10, below the rate 0\.090 of update 900/);
  assert.match(divergenceFix(0.1, history), /^Lower the learning rate \(e\.g\. --set train\.lrMax=/);
});
