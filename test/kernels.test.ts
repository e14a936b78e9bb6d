// Kernel patches (lib/runtime/kernels.ts): wasm results equal cpu results; shared Identity/Cast survive disposal of the source.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";

type Shapes = [number[], number[], boolean, boolean];
const CASES: Shapes[] = [
  [[5, 3, 4], [5, 4, 6], false, false], // batched: the 2-D loop
  [[2, 3, 7, 4], [2, 3, 4, 2], false, false], // rank 4
  [[5, 4, 3], [5, 4, 6], true, false], // transposed: stock kernel
  [[5, 3, 4], [5, 6, 4], false, true],
  [[1, 3, 4], [1, 4, 6], false, false], // batch 1
  [[3, 4], [4, 5], false, false], // 2-D
];

async function products(backend: "cpu" | "wasm"): Promise<number[][]> {
  await initBackend(backend);
  return CASES.map(([sa, sb, ta, tb], i) => tf.tidy(() => {
    const a = tf.randomNormal(sa, 0, 1, "float32", 10 + i);
    const b = tf.randomNormal(sb, 0, 1, "float32", 20 + i);
    const c = tf.matMul(a, b, ta, tb);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), c)))([a, b]);
    return [...c.dataSync(), ...ga.dataSync(), ...gb.dataSync()];
  }));
}

test("wasm BatchMatMul (2-D loop and stock paths) and its gradients equal cpu", async () => {
  const cpu = await products("cpu");
  const wasm = await products("wasm");
  cpu.forEach((ref, i) => {
    assert.equal(wasm[i].length, ref.length);
    ref.forEach((v, j) => assert.ok(Math.abs(wasm[i][j] - v) <= 1e-4 * (1 + Math.abs(v)), `case ${i} element ${j}: ${wasm[i][j]} vs ${v}`));
  });
});

test("wasm Identity and same-dtype Cast share data that outlives the source tensor", async () => {
  await initBackend("wasm");
  const x = tf.tensor1d([1, 2, 3]);
  const y = x.clone();
  const z = tf.cast(x, "float32");
  const w = tf.cast(x, "int32");
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
  assert.deepEqual(Array.from(z.dataSync()), [1, 2, 3]);
  assert.equal(w.dtype, "int32");
  tf.dispose([y, z, w]);
  assert.deepEqual(Array.from(tf.tidy(() => tf.add(tf.ones([2]), 1)).dataSync()), [2, 2]);
});
