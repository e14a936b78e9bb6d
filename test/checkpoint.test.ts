// Checkpoint folder: bitwise round trip, atomic replacement, crash fallback, and clear errors for bad files.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { Config } from "../lib/config";
import { assignFromCheckpoint, findCheckpoint, loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint";

/** A hand-written config (independent of the presets) so this test only exercises the file format. */
function fixtureConfig(): Config {
  return {
    preset: "fixture",
    model: {
      vocabSize: 259, dModel: 16, dK: 8, dV: 32, headType: "shga", nHead: 1, nLayer: 1, dFF: 0, nCode: 8,
      blockLen: 8, memLen: 8, attnType: "vq-recurrent", aggCache: true, gradThruCache: false, peAbs: false, peLam: 1e5,
      pDropEmb: 0, pDropSin: 0, pDropRes: 0, pDropLyr: 0, cBeta: 1e-4, cGamma: 0.99, eTie: false, ePreln: false, eScale: 1,
    },
    train: {
      batchSize: 2, sequenceLen: 32, updateLen: 16, optimizer: "adamw", lrMax: 1e-3, warmupSteps: 2, maxSteps: 10,
      lrFinalFrac: 0.1, adamB1: 0.9, adamB2: 0.98, adamEps: 1e-9, wdLam: 0, gradClip: 0, evalEvery: 0, saveEvery: 5,
      evalTokens: 0, seed: 0,
    },
    sampling: { topP: 0.9, temperature: 1 },
  };
}

function tmpRun(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-ckpt-"));
}

function sample(): Map<string, tf.Tensor> {
  return new Map<string, tf.Tensor>([
    ["param/w", tf.tensor2d([1.5, -2.25, Math.PI, 1e-30, -0, 7], [2, 3])],
    ["param/b", tf.tensor1d([0.1, 0.2])],
    ["cursor", tf.tensor1d([3, -4, 2147483647], "int32")],
  ]);
}

test("round trip is bitwise; state JSON and config come back; the old checkpoint is replaced", async () => {
  await initBackend(testBackend());
  const run = tmpRun();
  const t = sample();
  saveCheckpoint(run, 3, fixtureConfig(), t, { data: { pos: [1, 2] }, note: "first" });
  saveCheckpoint(run, 5, fixtureConfig(), t, { data: { pos: [9, 9] }, note: "second" });
  assert.deepEqual(fs.readdirSync(run).sort(), ["checkpoint"], "no temp or old folders left");
  const dir = findCheckpoint(run)!;
  const ck = loadCheckpoint(dir, fixtureConfig());
  assert.equal(ck.manifest.step, 5);
  assert.deepEqual(ck.manifest.state, { data: { pos: [9, 9] }, note: "second" });
  for (const [name, tensor] of t) {
    const s = ck.tensors.get(name)!;
    assert.deepEqual(s.shape, tensor.shape);
    assert.equal(s.dtype, tensor.dtype);
    const want = tensor.dataSync() as Float32Array;
    assert.deepEqual(Buffer.from(s.values.buffer, s.values.byteOffset, s.values.byteLength),
      Buffer.from(want.buffer, want.byteOffset, want.byteLength), `${name} bitwise`);
  }
  const v = new Map([["param/w", tf.variable(tf.zeros([2, 3]))], ["param/b", tf.variable(tf.zeros([2]))]]);
  assignFromCheckpoint(ck, v, ["param/"]);
  assert.deepEqual(Array.from(v.get("param/w")!.dataSync()), Array.from(t.get("param/w")!.dataSync()));
  v.forEach((x) => x.dispose());
  t.forEach((x) => x.dispose());
});

test("a crash between the two renames leaves checkpoint.old, which findCheckpoint uses", async () => {
  await initBackend(testBackend());
  const run = tmpRun();
  const t = sample();
  saveCheckpoint(run, 3, fixtureConfig(), t, {});
  fs.renameSync(path.join(run, "checkpoint"), path.join(run, "checkpoint.old"));
  fs.mkdirSync(path.join(run, "checkpoint.tmp-12345")); // a half-written new one
  const dir = findCheckpoint(run)!;
  assert.equal(path.basename(dir), "checkpoint.old");
  assert.equal(loadCheckpoint(dir).manifest.step, 3);
  saveCheckpoint(run, 4, fixtureConfig(), t, {});
  assert.equal(loadCheckpoint(findCheckpoint(run)!).manifest.step, 4);
  assert.equal(findCheckpoint(tmpRun()), undefined);
  t.forEach((x) => x.dispose());
});

test("truncated blob, flipped byte and garbage manifest give errors naming the file and the fix", async () => {
  await initBackend(testBackend());
  const t = sample();
  const run1 = tmpRun();
  saveCheckpoint(run1, 1, fixtureConfig(), t, {});
  const blob1 = path.join(run1, "checkpoint", "blob.bin");
  fs.truncateSync(blob1, 10);
  assert.throws(() => loadCheckpoint(path.join(run1, "checkpoint")), /is corrupt \(blob.bin has 10 bytes.*truncated.*fresh --out/s);

  const run2 = tmpRun();
  saveCheckpoint(run2, 1, fixtureConfig(), t, {});
  const blob2 = path.join(run2, "checkpoint", "blob.bin");
  const bytes = fs.readFileSync(blob2);
  bytes[5] ^= 0xff;
  fs.writeFileSync(blob2, bytes);
  assert.throws(() => loadCheckpoint(path.join(run2, "checkpoint")), /is corrupt \(SHA-256 of blob.bin/);

  const run3 = tmpRun();
  saveCheckpoint(run3, 1, fixtureConfig(), t, {});
  fs.writeFileSync(path.join(run3, "checkpoint", "manifest.json"), "{\"format\": ");
  assert.throws(() => loadCheckpoint(path.join(run3, "checkpoint")), /manifest.json is not valid JSON.*corrupt/);
  assert.throws(() => loadCheckpoint(path.join(tmpRun(), "checkpoint")), /no checkpoint at .*manifest.json missing/);
  t.forEach((x) => x.dispose());
});

test("config mismatch names each differing field and the fix", async () => {
  await initBackend(testBackend());
  const run = tmpRun();
  const t = sample();
  saveCheckpoint(run, 1, fixtureConfig(), t, {});
  const other = fixtureConfig();
  other.model.dModel = 32;
  other.train.batchSize = 4;
  other.train.lrMax = 5e-3; // allowed to change on resume
  assert.throws(() => loadCheckpoint(findCheckpoint(run)!, other), (e: Error) => {
    assert.match(e.message, /model\.dModel: 16 \(checkpoint\) vs 32 \(requested\)/);
    assert.match(e.message, /train\.batchSize: 2 \(checkpoint\) vs 4 \(requested\)/);
    assert.doesNotMatch(e.message, /lrMax/);
    assert.match(e.message, /same preset.*fresh --out/s);
    return true;
  });
  const ck = loadCheckpoint(findCheckpoint(run)!);
  const wrong = new Map([["param/w", tf.variable(tf.zeros([3, 2]))], ["param/b", tf.variable(tf.zeros([2]))]]);
  assert.throws(() => assignFromCheckpoint(ck, wrong, ["param/"]), /param\/w is \[2,3\] float32 but the variable is \[3,2\]/);
  const missing = new Map([["param/w", tf.variable(tf.zeros([2, 3]))]]);
  assert.throws(() => assignFromCheckpoint(ck, missing, ["param/"]), /unexpected: param\/b/);
  wrong.forEach((x) => x.dispose());
  missing.forEach((x) => x.dispose());
  t.forEach((x) => x.dispose());
});
