// The vector quantizer on hand-computed cases, on the cpu and wasm backends.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackends } from "./helpers/backend";
import { codeStats, codebook, codewords, commitmentLoss, emaUpdate, quantizationMetrics, quantize, shortcodes } from "../lib/nn/vq";
import { stopGradient } from "../lib/runtime/grad";

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}[${i}] = ${actual[i]}, expected ${expected[i]}`);
  }
}

// h = 1, S = 3, d_k = 2: C = c_sum / max(c_count, 0.01) = [[1, 2], [100, 100], [6, 0]]
const cSum0 = [[[2, 4], [1, 1], [3, 0]]];
const cCount0 = [[2, 0, 0.5]];

for (const backend of testBackends()) {
  test(`[${backend}] codebook divides by max(count, 0.01); shortcodes and codewords`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      const C = codebook(tf.tensor3d(cSum0), tf.tensor2d(cCount0));
      close(C.dataSync(), [1, 2, 100, 100, 6, 0], 1e-6, "C");
      const k = tf.tensor4d([[[[1, 1.9], [5, 0.1], [90, 90]]]]); // [1, 1, 3, 2]
      const z = shortcodes(k, C);
      assert.equal(z.dtype, "int32");
      assert.deepEqual(Array.from(z.dataSync()), [0, 2, 1]);
      close(codewords(z, C).dataSync(), [1, 2, 6, 0, 100, 100], 1e-6, "C_z");
      // two heads with their own codebooks, batch of 2
      const C2 = tf.tensor3d([[[0, 0], [1, 1]], [[5, 5], [-5, -5]]]); // [2, 2, 2]
      const k2 = tf.tensor4d([[[[0.9, 0.8]], [[-4, -6]]], [[[0.1, 0]], [[4, 4]]]]); // [2, 2, 1, 2]
      assert.deepEqual(Array.from(shortcodes(k2, C2).dataSync()), [1, 1, 0, 0]);
      close(codewords(shortcodes(k2, C2), C2).dataSync(), [1, 1, -5, -5, 0, 0, 5, 5], 1e-6, "C_z two heads");
    });
  });

  test(`[${backend}] straight-through: forward is C_z, gradient w.r.t. k is the identity; sg has zero gradient`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      const C = codebook(tf.tensor3d(cSum0), tf.tensor2d(cCount0));
      const k = tf.tensor4d([[[[1, 1.9], [5, 0.1]]]]);
      const c = tf.tensor4d([[[[0.3, -2], [7, 0.5]]]]);
      const f = (kk: tf.Tensor) => tf.sum(tf.mul(quantize(kk, C).kHat, c));
      close(quantize(k, C).kHat.dataSync(), [1, 2, 6, 0], 1e-6, "k̂");
      close(tf.grad(f)(k).dataSync(), [0.3, -2, 7, 0.5], 1e-6, "dk");
      close(tf.grad((kk: tf.Tensor) => tf.sum(tf.mul(stopGradient(kk), c)))(k).dataSync(), [0, 0, 0, 0], 0, "d sg");
    });
  });

  test(`[${backend}] commitment loss: masked mean of ‖k − C_z‖², summed over heads; gradient 2(k − C_z)/n`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      const C = codebook(tf.tensor3d(cSum0), tf.tensor2d(cCount0));
      const k = tf.tensor4d([[[[1, 2.5], [5, 0]]]]); // errors 0.25 (code 0) and 1 (code 2)
      const cz = quantize(k, C).cz;
      close(commitmentLoss(k, cz).dataSync(), [0.625], 1e-6, "unmasked");
      const mask = tf.tensor2d([[1, 0]]);
      close(commitmentLoss(k, cz, mask).dataSync(), [0.25], 1e-6, "masked");
      const g = tf.grad((kk: tf.Tensor) => commitmentLoss(kk, quantize(kk, C).cz, mask))(k);
      close(g.dataSync(), [0, 1, 0, 0], 1e-6, "gradient");
      // two heads: the per-token errors add over heads
      const C2 = tf.tensor3d([[[0, 0]], [[1, 0]]]);
      const k2 = tf.tensor4d([[[[1, 1]], [[1, 2]]]]); // errors 2 and 4
      close(commitmentLoss(k2, quantize(k2, C2).cz).dataSync(), [6], 1e-6, "two heads");
    });
  });

  test(`[${backend}] code statistics respect the mask; EMA equals the formula summed over calls`, async () => {
    await initBackend(backend);
    const cSum = tf.variable(tf.tensor3d(cSum0), false);
    const cCount = tf.variable(tf.tensor2d(cCount0), false);
    tf.tidy(() => {
      const k = tf.tensor4d([[[[1, 1], [3, 2], [7, 7]]]]);
      const z = tf.tensor3d([[[0, 2, 0]]], undefined, "int32");
      const st = codeStats(k, z, 3, tf.tensor2d([[1, 1, 0]]));
      close(st.codeSums.dataSync(), [1, 1, 0, 0, 3, 2], 1e-6, "sums");
      close(st.codeCounts.dataSync(), [1, 0, 1], 1e-6, "counts");
      const call1 = { codeSums: tf.tensor3d([[[1, 1], [0, 0], [0, 0]]]), codeCounts: tf.tensor2d([[1, 0, 0]]) };
      const call2 = { codeSums: tf.tensor3d([[[0, 0], [0, 0], [4, 2]]]), codeCounts: tf.tensor2d([[0, 0, 2]]) };
      emaUpdate(cSum, cCount, [call1, call2], 0.9);
    });
    close(cSum.dataSync(), [1.9, 3.7, 0.9, 0.9, 3.1, 0.2], 1e-6, "c_sum");
    close(cCount.dataSync(), [1.9, 0, 0.65], 1e-6, "c_count");
    tf.dispose([cSum, cCount]);
  });

  test(`[${backend}] quantization metrics: usage, entropy in bits, dead codes, relative error`, async () => {
    await initBackend(backend);
    const C = tf.tensor3d([[[1, 0], [0, 1], [-1, 0], [0, -1]]]);
    const k = tf.tensor4d([[[[2, 0], [0, 0.5], [0, 1], [3, 0]]]]); // codes 0, 1, 1, 0; errors 1, 0.5, 0, 2
    const m = quantizationMetrics(k, C);
    close(m.usage[0], [0.5, 0.5, 0, 0], 1e-6, "usage");
    close([m.entropyBits, m.deadCodes], [1, 2], 1e-6, "entropy, dead");
    close([m.relativeError], [(0.5 + 1 + 0 + 2 / 3) / 4], 1e-6, "relative error");
    tf.dispose([C, k]);
  });
}
