// Which backend a test runs on. Unit tests default to cpu (the reference, and bitwise deterministic); CI reruns the
// core suites with TVQ_BACKEND=native and TVQ_BACKEND=wasm forced (issue 7), and cross-backend tests cover all
// backends that load when nothing is forced. The gpu backend (the CUDA build, issue 15) is never added
// automatically: it cannot share a process with native; run the core suites with TVQ_BACKEND=gpu instead.
// Also the numbers that test/native-backend.test.ts and test/gpu-backend.test.ts compare against cpu.
import assert from "node:assert/strict";
import * as tf from "../../lib/runtime/tf";
import { BackendName, nativeAvailable, requestedBackend } from "../../lib/runtime/backend";

/** The backend of a single-backend test: TVQ_BACKEND when set, else cpu. */
export function testBackend(): BackendName {
  return requestedBackend() ?? "cpu";
}

/** The backends of a cross-backend test: the forced one only, else cpu, wasm and (when its binding is built) native. */
export function testBackends(): BackendName[] {
  const forced = requestedBackend();
  if (forced) return [forced];
  return nativeAvailable() ? ["cpu", "wasm", "native"] : ["cpu", "wasm"];
}

/** Deterministic values in [-1, 1) (a tiny LCG), so both backends see identical inputs. */
export function lcgValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** On the active backend: matMul [37, 64]·[64, 29], softmax over the last axis of [5, 7, 33], d/dW of Σ softmax(X W)·Y. */
export function referenceOps(): Record<string, Float32Array> {
  return tf.tidy(() => {
    const a = tf.tensor2d(lcgValues(37 * 64, 1), [37, 64]);
    const b = tf.tensor2d(lcgValues(64 * 29, 2), [64, 29]);
    const logits = tf.tensor3d(lcgValues(5 * 7 * 33, 3), [5, 7, 33]).mul(4);
    const X = tf.tensor2d(lcgValues(8 * 16, 4), [8, 16]);
    const W = tf.tensor2d(lcgValues(16 * 10, 5), [16, 10]);
    const Y = tf.tensor2d(lcgValues(8 * 10, 6), [8, 10]);
    const loss = (w: tf.Tensor): tf.Scalar => tf.softmax(X.matMul(w as tf.Tensor2D)).mul(Y).sum() as tf.Scalar;
    return {
      matMul: a.matMul(b).dataSync() as Float32Array,
      softmax: tf.softmax(logits).dataSync() as Float32Array,
      gradient: tf.grad(loss)(W).dataSync() as Float32Array,
    };
  });
}

/** |got - want| <= tol · max(1, |want|) elementwise; `who` names the backend under test in the message. */
export function assertClose(what: string, who: string, got: Float32Array, want: Float32Array, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: ${who} ${got[i]} vs cpu ${want[i]} (|diff| ${err})`);
  }
}
