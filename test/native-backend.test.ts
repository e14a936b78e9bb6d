// Native TensorFlow backend (tfjs-node built by scripts/setup-native.sh): same numbers as the cpu backend on
// matMul, softmax and a gradient (within 1e-5), and the automatic selection falls back to wasm when the native
// backend cannot load. The agreement test skips, saying why, when the binding is not built. The fallback tests
// also hide the gpu build (scripts/setup-gpu.sh), which would otherwise come between native and wasm.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "../lib/runtime/tf";
import { initBackend, nativeAvailable } from "../lib/runtime/backend";
import { assertClose, referenceOps } from "./helpers/backend";

const ROOT = join(__dirname, "..");

test("native backend agrees with cpu on matMul, softmax and a gradient (1e-5)", async (t) => {
  try {
    await initBackend("native");
  } catch (e) {
    const why = /cannot start: (.*?)\. Run/.exec((e as Error).message)?.[1] ?? (e as Error).message;
    t.skip(`native backend unavailable (build it: bash scripts/setup-native.sh): ${why.slice(0, 200)}`);
    return;
  }
  const native = referenceOps();
  await initBackend("cpu");
  const cpu = referenceOps();
  for (const k of Object.keys(cpu)) assertClose(k, "native", native[k], cpu[k]);
  assert.ok(Math.abs(native.softmax.slice(0, 33).reduce((x, y) => x + y, 0) - 1) < 1e-5, "softmax rows sum to 1");
});

test("nativeAvailable() leaves the active backend as it was", async () => {
  await initBackend("cpu");
  const available = nativeAvailable();
  assert.equal(tf.getBackend(), "cpu", `after nativeAvailable() = ${available}`);
});

/** A preload that makes require/resolve of the given packages fail, as when they are absent or broken. */
function hidePackages(dir: string, packages: string[]): string {
  const preload = join(dir, `hide-${packages.length}.js`);
  writeFileSync(preload, [
    'const Module = require("module");',
    "const orig = Module._resolveFilename;",
    `const hidden = ${JSON.stringify(packages)};`,
    "Module._resolveFilename = function (request, ...rest) {",
    "  if (hidden.some((p) => request === p || request.startsWith(p + '/'))) throw new Error(`Cannot find module '${request}' (simulated)`);",
    "  return orig.call(this, request, ...rest);",
    "};",
  ].join("\n"));
  return preload;
}

/** Runs initBackend() (auto) in a child process, the gpu build hidden, and returns describeBackend()'s line. */
function autoSelectionIn(env: Record<string, string>, hide: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "tvq-native-"));
  try {
    return autoSelectionWith(env, hidePackages(dir, ["@tensorflow/tfjs-node-gpu", ...hide]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function autoSelectionWith(env: Record<string, string>, preload: string): string {
  const code = 'const b = require("./lib/runtime/backend"); b.initBackend().then(i => console.log(b.describeBackend(i)));';
  const args = ["--import", "tsx", "--require", preload, "-e", code];
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
  const line = autoSelectionIn({ TVQ_DISABLE_NATIVE: "0" }, ["@tensorflow/tfjs-node"]);
  assert.match(line, /^backend: wasm /);
  assert.match(line, /not used: native: Cannot find module '@tensorflow\/tfjs-node' \(simulated\)/);
});

test("a forced backend that cannot start throws an error naming the fix", () => {
  const code = 'require("./lib/runtime/backend").initBackend("native").catch(e => { console.log(e.message); process.exit(3); });';
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
    cwd: ROOT, env: { ...process.env, TVQ_DISABLE_NATIVE: "1" }, encoding: "utf8", timeout: 60_000,
  });
  assert.equal(r.status, 3);
  assert.match(r.stdout, /backend 'native' was requested.*scripts\/setup-native\.sh/);
});

