// TensorBoard event files (lib/train/tensorboard.ts): the record framing against known CRC-32C values, and a real
// tiny trainRun read back by TensorBoard's own EventAccumulator from the venv (tags, steps, values equal to
// metrics.jsonl / eval.jsonl within float32), also after a killed process left later steps and a torn record and
// the run was resumed: every step once, with the resumed values.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import * as net from "node:net";
import { initBackend } from "../lib/runtime/backend";
import { getPreset } from "../lib/config";
import { disposeModel } from "../lib/nn/params";
import { loadDataset } from "../lib/data/datasets";
import { trainRun } from "../lib/train/loop";
import { EvalRecord, StepMetrics } from "../lib/train/run-folder";
import { readJSONL } from "../lib/util/io";
import { crc32c, encodeEvent, evalScalars, eventStep, isEventFile, lossDisplay, readRecords, tfRecord, trainScalars, truncateEventFiles } from "../lib/train/tensorboard";
import { testBackend } from "./helpers/backend";
import { corpusText } from "./helpers/train-cli";

const ROOT = path.resolve(__dirname, "..");
const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "tvq-tb-"));

/** Every scalar of each run folder as TensorBoard's EventAccumulator reads it: {dir: {tag: [[step, value], ...]}}. */
function readWithTensorBoard(dirs: string[]): Record<string, Record<string, Array<[number, number]>>> {
  const script = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
out = {}
for d in sys.argv[1:]:
    acc = EventAccumulator(d, size_guidance={"scalars": 0}, purge_orphaned_data=False)
    acc.Reload()
    out[d] = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ["-c", script, ...dirs], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `TensorBoard's reader failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)); // float32 simple_value

test("CRC-32C and TFRecord framing: known vectors, a torn tail stops the reader, steps decode", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  const dir = tmp();
  const file = path.join(dir, "events.out.tfevents.1.h.1.0");
  const recs = [encodeEvent({ wallTime: 1, step: 0, fileVersion: "brain.Event:2" }), encodeEvent({ wallTime: 2, step: 300, scalars: { a: 1.5 } }),
    encodeEvent({ wallTime: 3, step: 2 ** 40, scalars: { a: 2 } })];
  fs.writeFileSync(file, Buffer.concat([...recs.map(tfRecord), tfRecord(recs[1]).subarray(0, 9)]));
  assert.deepEqual(readRecords(file).map(eventStep), [0, 300, 2 ** 40]);
  assert.ok(isEventFile(path.basename(file)));
  assert.deepEqual(truncateEventFiles(dir, 300), [file]);
  assert.deepEqual(readRecords(file).map(eventStep), [0, 300], "later steps and the torn record are cut");
  assert.deepEqual(truncateEventFiles(dir, 300), [], "nothing left to cut: the file is not rewritten");
  truncateEventFiles(dir, 0);
  assert.equal(fs.existsSync(file), false, "a file with no scalar left is removed");
});

test("units: bits per byte for byte-level data, nats per token (+ word ppl of evaluations) for BPE; no codebook tags for full attention", () => {
  const m: StepMetrics = { step: 3, loss: 2 * Math.LN2, bpb: 2, commit: 0.5, lr: 1e-3, gradNorm: 4, codeUsage: 0.25, codeEntropy: 3, tokensPerSec: 100, elapsed: 1 };
  assert.deepEqual(lossDisplay("bytes", m), { name: "bpb", value: 2 });
  assert.deepEqual(lossDisplay("bpe", m), { name: "nats/tok", value: 2 * Math.LN2 });
  assert.deepEqual(Object.keys(trainScalars("bpe", m, false)), ["train/loss_nats_per_token", "train/lr", "train/grad_norm", "train/commit_loss", "train/tokens_per_s"]);
  assert.equal(trainScalars("bytes", m, true)["train/code_usage"], 0.25);
  const e: EvalRecord = { step: 3, split: "validation", loss: 5, bpb: 1.5, ppl: 148, tokens: 10, windows: 1, nats: 50, words: 2, wordPpl: 7.2e10 };
  assert.deepEqual(evalScalars("bytes", e), { "val/bpb": 1.5 });
  assert.deepEqual(evalScalars("bpe", e), { "val/loss_nats_per_token": 5, "val/bpb": 1.5, "val/word_ppl": 7.2e10 });
});

test("a trainRun's events, read by TensorBoard, hold metrics.jsonl and eval.jsonl; a resume after a kill keeps each step once", async (t) => {
  if (!fs.existsSync(PYTHON)) return t.skip("no .venv (run npm run setup)");
  await initBackend(testBackend());
  const corpus = path.join(tmp(), "corpus.txt");
  fs.writeFileSync(corpus, corpusText());
  const data = loadDataset(`file:${corpus}`);
  const config = getPreset("tiny", { train: { updateLen: 16, maxSteps: 6, saveEvery: 3, evalEvery: 3, evalTokens: 128 } });
  const out = path.join(tmp(), "run");
  const r1 = await trainRun({ config, data, outDir: out, steps: 3, progress: false });
  disposeModel(r1.model);
  // what a process killed after step 5 (checkpoint at 3) leaves: later events with other values and a torn record
  const fake = (step: number) => tfRecord(encodeEvent({ wallTime: 9, step, scalars: { "train/bpb": 99, "train/lr": 99 } }));
  fs.appendFileSync(r1.eventsFile, Buffer.concat([fake(4), fake(5), fake(6).subarray(0, 20)]));
  const killed = path.join(tmp(), "killed");
  fs.cpSync(out, killed, { recursive: true });

  const r2 = await trainRun({ config, data, outDir: out, resume: true, progress: false });
  disposeModel(r2.model);
  assert.notEqual(r2.eventsFile, r1.eventsFile, "one event file per training process");
  const files = fs.readdirSync(out).filter(isEventFile);
  assert.equal(files.length, 2);
  const steps = files.flatMap((f) => readRecords(path.join(out, f)).map(eventStep).filter((s) => s > 0));
  assert.deepEqual(steps, [1, 1, 2, 3, 3, 4, 4, 5, 6, 6], "starts (1, 4), updates 1-6 and evaluations 3 and 6, in file order");

  const tb = readWithTensorBoard([out, killed]);
  const history = readJSONL<StepMetrics>(path.join(out, "metrics.jsonl"));
  const evals = readJSONL<EvalRecord>(path.join(out, "eval.jsonl"));
  assert.deepEqual(history.map((m) => m.step), [1, 2, 3, 4, 5, 6]);
  const scalars = tb[out];
  assert.deepEqual(Object.keys(scalars).sort(), ["train/bpb", "train/code_entropy_bits", "train/code_usage", "train/commit_loss",
    "train/grad_norm", "train/lr", "train/tokens_per_s", "val/bpb"], "byte data: bpb, never nats");
  const field: Record<string, keyof StepMetrics> = {
    "train/bpb": "bpb", "train/lr": "lr", "train/grad_norm": "gradNorm", "train/commit_loss": "commit", "train/code_usage": "codeUsage",
    "train/code_entropy_bits": "codeEntropy", "train/tokens_per_s": "tokensPerSec",
  };
  for (const [tag, key] of Object.entries(field)) {
    assert.deepEqual(scalars[tag].map(([s]) => s), [1, 2, 3, 4, 5, 6], `${tag}: each step once`);
    scalars[tag].forEach(([s, v], i) => assert.ok(close(v, history[i][key]), `${tag} at step ${s}: ${v} vs metrics.jsonl ${history[i][key]}`));
  }
  assert.deepEqual(scalars["val/bpb"].map(([s]) => s), evals.map((e) => e.step));
  assert.deepEqual(evals.map((e) => e.step), [3, 6]);
  scalars["val/bpb"].forEach(([, v], i) => assert.ok(close(v, evals[i].bpb), `val/bpb ${v} vs eval.jsonl ${evals[i].bpb}`));
  // the killed folder's torn last record is skipped by TensorBoard's reader: steps 1-5 load
  assert.deepEqual(tb[killed]["train/bpb"].map(([s]) => s), [1, 2, 3, 4, 5]);
  assert.equal(tb[killed]["train/bpb"][3][1], 99);
});

/** A TCP port nothing listens on now. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", () => res()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((res) => srv.close(res));
  return port;
}

test("npm run tensorboard serves a run folder's scalars on 127.0.0.1 (backfilling a run without events first)", async (t) => {
  if (!fs.existsSync(path.join(ROOT, ".venv", "bin", "tensorboard"))) return t.skip("no .venv/bin/tensorboard (run npm run setup)");
  const logdir = tmp();
  const run = path.join(logdir, "old-run");
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, "config.json"), JSON.stringify(getPreset("tiny")));
  fs.writeFileSync(path.join(run, "data.json"), JSON.stringify({ name: "foldoc", kind: "text", tokenizer: "bytes" }));
  const m = (step: number): StepMetrics => ({ step, loss: 1, bpb: 3 - step / 4, commit: 0, lr: 1e-3, gradNorm: 1, codeUsage: 1, codeEntropy: 1, tokensPerSec: 10, elapsed: step });
  fs.writeFileSync(path.join(run, "metrics.jsonl"), [1, 2].map((s) => JSON.stringify(m(s)) + "\n").join(""));
  const port = await freePort();
  const child = spawn("bash", [path.join(ROOT, "scripts", "tensorboard.sh"), "--port", String(port), "--logdir", logdir],
    { cwd: ROOT, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  try {
    let body: string | undefined;
    for (let i = 0; i < 120 && body === undefined && child.exitCode === null; i++) {
      await new Promise((res) => setTimeout(res, 500));
      try {
        const r = await fetch(`http://127.0.0.1:${port}/data/plugin/scalars/scalars?run=old-run&tag=train/bpb`);
        if (r.ok) body = await r.text();
      } catch {
        /* not listening yet */
      }
    }
    assert.ok(body !== undefined, `TensorBoard did not serve the run within 60 s:\n${stderr}`);
    assert.deepEqual((JSON.parse(body) as number[][]).map(([, step, v]) => [step, v]), [[1, 2.75], [2, 2.5]]);
    assert.match(stderr, /wrote 1 TensorBoard event file/);
  } finally {
    try { process.kill(-child.pid!, "SIGTERM"); } catch { /* already gone */ }
  }
});
