// Cost model and quantizer inspection helpers used by notebooks/21-equivalence.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { getPreset } from "../lib/config";
import { attentionMultiplyAdds, timeAttention } from "../lib/experiments/cost";
import { fitCodebooks, keysAndCodes, principalAxes2, project2 } from "../lib/experiments/inspect";
import { keysFigure } from "../lib/notebook/figures/keys";
import { createModel, disposeModel } from "../lib/nn/params";

test("multiply-adds: quadratic forms grow as T², linear forms as T", () => {
  const s = { T: 1024, L: 64, S: 64, dK: 32, dV: 64 };
  for (const f of ["full", "vq-quadratic"] as const) {
    const r = attentionMultiplyAdds(f, { ...s, T: 2048 }) / attentionMultiplyAdds(f, s);
    assert.ok(r > 3.9 && r <= 4, `${f}: ×${r}`);
  }
  for (const f of ["vq-parallel", "vq-recurrent"] as const) assert.equal(attentionMultiplyAdds(f, { ...s, T: 2048 }) / attentionMultiplyAdds(f, s), 2);
  assert.equal(attentionMultiplyAdds("vq-parallel", s), 1024 * ((3 * 64 + 1 + 128) * 32 + (128 + 128) * 64));
});

test("timeAttention returns a positive time for every form and leaks nothing", async () => {
  await initBackend(testBackend());
  const before = tf.memory().numTensors;
  for (const f of ["full", "vq-quadratic", "vq-parallel", "vq-recurrent"] as const) assert.ok(timeAttention(f, { T: 32, L: 8, S: 8, dK: 4, dV: 4 }, 1) > 0);
  assert.equal(tf.memory().numTensors, before);
});

test("principal axes of points on a tilted line and plane", () => {
  const pts = Array.from({ length: 50 }, (_, i) => [i, 2 * i + (i % 2 ? 0.5 : -0.5), 0]);
  const b = principalAxes2(pts);
  const a = b.axes[0];
  assert.ok(Math.abs(Math.abs(a[1] / a[0]) - 2) < 0.01, "first axis along (1, 2, 0)");
  assert.ok(Math.abs(b.axes[0].reduce((s, x, j) => s + x * b.axes[1][j], 0)) < 1e-9, "orthogonal");
  const p = project2(pts, b);
  assert.ok(Math.abs(p.reduce((s, q) => s + q[0], 0)) < 1e-6, "centred");
});

test("EMA-only codebook fitting lowers the quantization error; keys, codes and the figure line up", async () => {
  await initBackend(testBackend());
  const m = createModel(getPreset("tiny").model, 1);
  const ids = tf.tensor2d(Array.from({ length: 64 }, (_, i) => 3 + ((i * 37) % 90)), [2, 32], "int32");
  const before = keysAndCodes(m, ids);
  fitCodebooks(m, Array.from({ length: 10 }, () => ids));
  const after = keysAndCodes(m, ids);
  assert.ok(after.metrics.relativeError < before.metrics.relativeError, `${before.metrics.relativeError} → ${after.metrics.relativeError}`);
  assert.equal(after.keys.length, 64);
  assert.equal(after.codes.length, 64);
  assert.equal(after.codewords.length, m.config.nCode);
  const fig = keysFigure(after, "keys");
  assert.equal((fig.data[0].x as number[]).length, 64);
  ids.dispose();
  disposeModel(m);
});

