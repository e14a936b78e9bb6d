// Machine facts: median/std, the matmul throughput sweep (no tensor leaks), versions, notebook profiles.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { environmentVersions, matmulPeak, measureMatmulPeak } from "../lib/experiments/environment";
import { median, std } from "../lib/util/stats";
import { pickProfile, splitProfiledName } from "../lib/notebook/profiles";

test("median and std", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Math.abs(std([2, 4, 4, 4, 5, 5, 7, 9]) - 2.138) < 1e-3);
  assert.equal(std([5]), 0);
  assert.throws(() => median([]), /empty/);
});

test("measureMatmulPeak on cpu: one row per size, positive GFLOP/s, no leaked tensors", async () => {
  await initBackend(testBackend());
  const before = tf.memory().numTensors;
  const rows = await measureMatmulPeak([8, 32], 3, { minRepeatMs: 2 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(rows.map((r) => r.n), [8, 32]);
  for (const r of rows) {
    assert.ok(r.gflops > 0 && Number.isFinite(r.gflops) && r.ms > 0 && r.inner >= 1 && r.reps === 3 && r.backend === "cpu", JSON.stringify(r));
    // the reported rate is the median of the per-rep rates, which for an odd number of reps is 2n³ flops over the
    // median time exactly (the rate falls as the time grows); a loose tolerance would hide nothing and flake under load
    assert.ok(Math.abs((2 * r.n ** 3) / (r.ms / 1000) / 1e9 - r.gflops) / r.gflops < 1e-9);
  }
  assert.equal(matmulPeak(rows).gflops, Math.max(...rows.map((r) => r.gflops)));
  await assert.rejects(measureMatmulPeak([0], 1), /sizes must be positive integers/);
  await assert.rejects(measureMatmulPeak([8], 0), /reps must be an integer/);
});

test("environmentVersions names Node, TF.js, the backend and tslab", () => {
  const v = Object.fromEntries(environmentVersions().map((r) => [r.component, r.version]));
  assert.equal(v["Node.js"], process.version);
  assert.equal(v["TensorFlow.js"], tf.version.tfjs);
  assert.match(v.backend, /^cpu /);
  assert.equal(v.tslab, "1.0.22");
});

test("pickProfile returns the profile's settings and names the fix for an unknown profile", () => {
  const s = { smoke: { n: 1 }, default: { n: 2 } };
  assert.deepEqual(pickProfile("smoke", s), { n: 1 });
  assert.throws(() => pickProfile("fast", s), /profile "fast" is not known: set the notebook parameter profile to "smoke", "default" or "long"/);
  assert.throws(() => pickProfile("long", s), /profile "long" is not offered here: use "smoke" or "default"/);
  assert.deepEqual(pickProfile("long", { ...s, long: { n: 3 } }), { n: 3 });
  assert.deepEqual(splitProfiledName("10-codebook-size-bpb-long"), { name: "10-codebook-size-bpb", profile: "long" });
  assert.deepEqual(splitProfiledName("10-codebook-size-bpb-smoke"), { name: "10-codebook-size-bpb", profile: "smoke" });
  assert.deepEqual(splitProfiledName("10-codebook-size-bpb"), { name: "10-codebook-size-bpb", profile: "default" });
});
