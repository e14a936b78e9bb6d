// Native TensorFlow backend (tfjs-node built by scripts/setup-native.sh): same numbers as the cpu backend on
// matMul, softmax and a gradient (within 1e-5), and the automatic selection falls back to wasm when the native
// backend cannot load. The agreement test skips, saying why, when the binding is not built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "../lib/runtime/tf";
import { initBackend, nativeAvailable } from "../lib/runtime/backend";

const ROOT = join(__dirname, "..");

/** Deterministic values in [-1, 1) (a tiny LCG), so both backends see identical inputs. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** matMul [37, 64]·[64, 29], softmax over the last axis of [5, 7, 33], and d/dW of Σ softmax(X W)·Y. */
function compute(): Record<string, Float32Array> {
  return tf.tidy(() => {
    const a = tf.tensor2d(values(37 * 64, 1), [37, 64]);
    const b = tf.tensor2d(values(64 * 29, 2), [64, 29]);
    const logits = tf.tensor3d(values(5 * 7 * 33, 3), [5, 7, 33]).mul(4);
    const X = tf.tensor2d(values(8 * 16, 4), [8, 16]);
    const W = tf.tensor2d(values(16 * 10, 5), [16, 10]);
    const Y = tf.tensor2d(values(8 * 10, 6), [8, 10]);
    const loss = (w: tf.Tensor): tf.Scalar => tf.softmax(X.matMul(w as tf.Tensor2D)).mul(Y).sum() as tf.Scalar;
    return {
      matMul: a.matMul(b).dataSync() as Float32Array,
      softmax: tf.softmax(logits).dataSync() as Float32Array,
      gradient: tf.grad(loss)(W).dataSync() as Float32Array,
    };
  });
}

function assertClose(what: string, got: Float32Array, want: Float32Array, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: native ${got[i]} vs cpu ${want[i]} (|diff| ${err})`);
  }
}

test("native backend agrees with cpu on matMul, softmax and a gradient (1e-5)", async (t) => {
  try {
    await initBackend("native");
  } catch (e) {
    const why = /cannot start: (.*?)\. Run/.exec((e as Error).message)?.[1] ?? (e as Error).message;
    t.skip(`native backend unavailable (build it: bash scripts/setup-native.sh): ${why.slice(0, 200)}`);
    return;
  }
  const native = compute();
  await initBackend("cpu");
  const cpu = compute();
  for (const k of Object.keys(cpu)) assertClose(k, native[k], cpu[k]);
  assert.ok(Math.abs(native.softmax.slice(0, 33).reduce((x, y) => x + y, 0) - 1) < 1e-5, "softmax rows sum to 1");
});

test("nativeAvailable() leaves the active backend as it was", async () => {
  await initBackend("cpu");
  const available = nativeAvailable();
  assert.equal(tf.getBackend(), "cpu", `after nativeAvailable() = ${available}`);
});

/** Runs initBackend() (auto) in a child process and returns describeBackend()'s line. */
function autoSelectionIn(env: Record<string, string>, preload?: string): string {
  const code = 'const b = require("./lib/runtime/backend"); b.initBackend().then(i => console.log(b.describeBackend(i)));';
  const args = ["--import", "tsx", ...(preload ? ["--require", preload] : []), "-e", code];
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.TVQ_BACKEND;
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env: childEnv, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `child exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

test("auto selection falls back to wasm when TVQ_DISABLE_NATIVE=1", () => {
  const line = autoSelectionIn({ TVQ_DISABLE_NATIVE: "1" });
  assert.match(line, /^backend: wasm /);
  assert.match(line, /not used: native: TVQ_DISABLE_NATIVE=1/);
});

test("auto selection falls back to wasm when @tensorflow/tfjs-node cannot be required (absent or broken)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tvq-native-"));
  try {
    const preload = join(dir, "break-tfjs-node.js");
    writeFileSync(preload, [
      'const Module = require("module");',
      "const orig = Module._resolveFilename;",
      "Module._resolveFilename = function (request, ...rest) {",
      '  if (request === "@tensorflow/tfjs-node") throw new Error("Cannot find module \'@tensorflow/tfjs-node\' (simulated)");',
      "  return orig.call(this, request, ...rest);",
      "};",
    ].join("\n"));
    const line = autoSelectionIn({ TVQ_DISABLE_NATIVE: "0" }, preload);
    assert.match(line, /^backend: wasm /);
    assert.match(line, /not used: native: Cannot find module '@tensorflow\/tfjs-node' \(simulated\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a forced backend that cannot start throws an error naming the fix", () => {
  const code = 'require("./lib/runtime/backend").initBackend("native").catch(e => { console.log(e.message); process.exit(3); });';
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
    cwd: ROOT, env: { ...process.env, TVQ_DISABLE_NATIVE: "1" }, encoding: "utf8", timeout: 60_000,
  });
  assert.equal(r.status, 3);
  assert.match(r.stdout, /backend 'native' was requested.*scripts\/setup-native\.sh/);
});

