// The gpu backend (tfjs-node-gpu on the CUDA build of TensorFlow, built by scripts/setup-gpu.sh; issue 15).
// Always: the GPU visibility rules on fixture driver folders, the automatic order, TVQ_BACKEND parsing, and the
// error of a forced gpu that cannot start. With the build installed (never in CI: it is opt-in, 4 GB): it agrees
// with cpu within 1e-5, describeBackend says where it computes (on this kind of machine, without a GPU, "no GPU
// visible: running on CPU"), the automatic order around it, that it refuses to share a process with native, and
// that setup-gpu.sh is idempotent. Those tests skip, saying why, when the build is absent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "../lib/runtime/tf";
import { autoOrder, describeBackend, initBackend, requestedBackend } from "../lib/runtime/backend";
import { gpuBuildInstalled, visibleGpus } from "../lib/runtime/gpu";
import { assertClose, referenceOps } from "./helpers/backend";

const ROOT = join(__dirname, "..");
const NOT_BUILT = "the gpu build is not installed (opt-in: npm run setup -- --gpu; CI does not build it)";

/** A fake driver: /dev/nvidia<N> nodes and /proc/driver/nvidia/gpus/<id>/information files. */
function fakeDriver(nodes: number, models: string[]): { proc: string; dev: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "tvq-gpu-"));
  const proc = join(dir, "gpus");
  const dev = join(dir, "dev");
  mkdirSync(dev, { recursive: true });
  for (let i = 0; i < nodes; i++) writeFileSync(join(dev, `nvidia${i}`), "");
  writeFileSync(join(dev, "nvidiactl"), ""); // the control node alone is not a GPU
  models.forEach((m, i) => {
    mkdirSync(join(proc, `0000:0${i}:00.0`), { recursive: true });
    writeFileSync(join(proc, `0000:0${i}:00.0`, "information"), `Model: \t\t ${m}\nIRQ:   \t\t 42\nGPU UUID: \t GPU-x\n`);
  });
  return { proc, dev, dir };
}

test("visibleGpus: device nodes decide, the driver's information files name the GPUs, CUDA_VISIBLE_DEVICES can hide them", () => {
  const none = fakeDriver(0, []);
  const hostOnly = fakeDriver(0, ["NVIDIA A100-SXM4-40GB"]);
  const two = fakeDriver(2, ["NVIDIA A100-SXM4-40GB", "NVIDIA L4"]);
  try {
    const a = visibleGpus({}, none);
    assert.equal(a.visible, false);
    assert.match(a.reason, /^no .*nvidia<N> device: no NVIDIA GPU or driver here, or no GPU access for this container$/);
    const b = visibleGpus({}, hostOnly);
    assert.equal(b.visible, false, "a driver without device nodes (a container without GPU access) shows no GPU");
    assert.match(b.reason, /the driver lists NVIDIA A100-SXM4-40GB but no /);
    assert.deepEqual(visibleGpus({}, two), { visible: true, names: ["NVIDIA A100-SXM4-40GB", "NVIDIA L4"], reason: "" });
    assert.equal(visibleGpus({ CUDA_VISIBLE_DEVICES: "1" }, two).visible, true);
    for (const hide of ["", "-1", "-1,0"]) {
      const h = visibleGpus({ CUDA_VISIBLE_DEVICES: hide }, two);
      assert.equal(h.visible, false, `CUDA_VISIBLE_DEVICES=${JSON.stringify(hide)}`);
      assert.match(h.reason, /CUDA_VISIBLE_DEVICES=.* hides every GPU/);
    }
  } finally {
    for (const d of [none, hostOnly, two]) rmSync(d.dir, { recursive: true, force: true });
  }
});

test("autoOrder: gpu first only with its build and a visible GPU; installed without one, after native", () => {
  const seen = { visible: true, reason: "" };
  const unseen = { visible: false, reason: "no /dev/nvidia<N> device node" };
  assert.deepEqual(autoOrder(true, seen), { order: ["gpu", "native", "wasm", "cpu"] });
  assert.deepEqual(autoOrder(false, unseen), { order: ["native", "wasm", "cpu"] }, "no build, no GPU: the order without issue 15, no note");
  const built = autoOrder(true, unseen);
  assert.deepEqual(built.order, ["native", "gpu", "wasm", "cpu"]);
  assert.match(built.note ?? "", /^gpu: the CUDA build is installed but no \/dev\/nvidia<N> device node; TVQ_BACKEND=gpu runs it on the CPU$/);
  const missing = autoOrder(false, seen);
  assert.deepEqual(missing.order, ["native", "wasm", "cpu"]);
  assert.match(missing.note ?? "", /a GPU is visible but the CUDA build is not installed \(npm run setup -- --gpu\)/);
});

test("TVQ_BACKEND accepts gpu (and cuda, tfjs-node-gpu); a bad value lists gpu among the choices", () => {
  for (const v of ["gpu", "GPU", "cuda", "tfjs-node-gpu"]) assert.equal(requestedBackend(v), "gpu", v);
  assert.throws(() => requestedBackend("gpus"), /TVQ_BACKEND="gpus" is not a backend: use gpu, native, wasm, cpu or auto/);
});

/** Runs `code` (with b = lib/runtime/backend) in a child process; a preload can hide packages. */
function child(code: string, env: Record<string, string | undefined> = {}, hide: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "tvq-gpu-child-"));
  try {
    const args = ["--import", "tsx"];
    if (hide.length) {
      const preload = join(dir, "hide.js");
      writeFileSync(preload, [
        'const Module = require("module");',
        "const orig = Module._resolveFilename;",
        `const hidden = ${JSON.stringify(hide)};`,
        "Module._resolveFilename = function (request, ...rest) {",
        "  if (hidden.some((p) => request === p || request.startsWith(p + '/'))) throw new Error(`Cannot find module '${request}' (simulated)`);",
        "  return orig.call(this, request, ...rest);",
        "};",
      ].join("\n"));
      args.push("--require", preload);
    }
    args.push("-e", `const b = require("./lib/runtime/backend"); (async () => { ${code} })().catch((e) => { console.log("ERROR " + e.message); process.exit(3); });`);
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
    const r = spawnSync(process.execPath, args, { cwd: ROOT, env: childEnv, encoding: "utf8", timeout: 120_000 });
    return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a forced gpu backend that cannot start throws an error naming npm run setup -- --gpu", () => {
  const r = child('await b.initBackend("gpu");', { TVQ_BACKEND: undefined }, ["@tensorflow/tfjs-node-gpu"]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /^ERROR backend 'gpu' was requested .* cannot start: the CUDA build is not installed .*npm run setup -- --gpu/);
});

test("gpu backend agrees with cpu on matMul, softmax and a gradient (1e-5), and describeBackend says where it computes", async (t) => {
  if (!gpuBuildInstalled()) return t.skip(NOT_BUILT);
  const info = await initBackend("gpu");
  assert.equal(tf.getBackend(), "tensorflow");
  const line = describeBackend(info);
  const vis = visibleGpus();
  if (info.onGpu) {
    assert.match(line, /^backend: gpu \(tensorflow \(CUDA build\) on [^;]+; tfjs-node-gpu 4\.22\.0, libtensorflow 2\.\d+\.\d+/);
  } else {
    assert.match(line, /^backend: gpu \(tensorflow \(CUDA build\), no GPU visible: running on CPU; tfjs-node-gpu 4\.22\.0, libtensorflow 2\.\d+\.\d+, \d+ threads \(.+\)\)$/);
    if (!vis.visible) assert.ok(line.includes(vis.reason), `the reason is the driver's view: ${line}`);
  }
  if (!vis.visible) assert.equal(info.onGpu, false, "TensorFlow cannot compute on a GPU that the driver does not show");
  const gpu = referenceOps();
  await initBackend("cpu");
  const cpu = referenceOps();
  for (const k of Object.keys(cpu)) assertClose(k, "gpu", gpu[k], cpu[k]);
});

test("auto selection with the gpu build: gpu first when a GPU is visible, else native, with gpu next before wasm", (t) => {
  if (!gpuBuildInstalled()) return t.skip(NOT_BUILT);
  const describe = 'console.log(b.describeBackend(await b.initBackend()));';
  const auto = child(describe, { TVQ_BACKEND: undefined, TVQ_DISABLE_NATIVE: undefined });
  assert.equal(auto.status, 0, auto.stderr);
  if (visibleGpus().visible) {
    assert.match(auto.stdout, /^backend: gpu /);
    return;
  }
  assert.match(auto.stdout, /^backend: native .*; not used: gpu: the CUDA build is installed but .*; TVQ_BACKEND=gpu runs it on the CPU$/);
  const noNative = child(describe, { TVQ_BACKEND: undefined, TVQ_DISABLE_NATIVE: "1" });
  assert.equal(noNative.status, 0, noNative.stderr);
  assert.match(noNative.stdout, /^backend: gpu \(tensorflow \(CUDA build\), no GPU visible: running on CPU; .*not used: native: TVQ_DISABLE_NATIVE=1/);
});

test("gpu and native refuse to share a process, with a message saying to use separate processes", (t) => {
  if (!gpuBuildInstalled()) return t.skip(NOT_BUILT);
  const r = child('await b.initBackend("gpu"); console.log("native available: " + b.nativeAvailable()); await b.initBackend("native");', { TVQ_BACKEND: undefined });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /^native available: false\nERROR backend 'native' was requested .*@tensorflow\/tfjs-node-gpu \(the gpu backend\) is already loaded in this process.*TVQ_BACKEND=native/s);
});

test("setup-gpu.sh --check passes on the installed build, and fails naming the fix when the stamp is stale", (t) => {
  if (!gpuBuildInstalled()) return t.skip(NOT_BUILT);
  const check = (env: NodeJS.ProcessEnv) => spawnSync("bash", ["scripts/setup-gpu.sh", "--check"], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
  const ok = check({});
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^\[setup-gpu\] @tensorflow\/tfjs-node-gpu loads \(libtensorflow 2\.\d+\.\d+, CUDA build, computing on (cpu|gpu)\)$/m);
  // another TensorFlow version than the one built: --check reports it and builds nothing
  const stale = check({ TVQ_TF_VERSION: "2.0.0" });
  assert.equal(stale.status, 1, stale.stdout + stale.stderr);
  assert.match(stale.stdout, /stale \(stamp .* does not say 'tfjs-node-gpu 4\.22\.0 on tensorflow==2\.0\.0'\).*run bash scripts\/setup-gpu\.sh/);
});
