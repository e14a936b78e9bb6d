// Run safety (issue 11): SIGINT / SIGTERM stop a run after the update in flight with a checkpoint (no finished
// update is lost), print where and how to resume, and exit 130 / 143; a second signal exits at once. In a
// notebook (no exitOnSignal) trainRun throws instead of exiting and removes its handlers.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { getPreset } from "../lib/config";
import { disposeModel } from "../lib/nn/params";
import { findCheckpoint, loadCheckpoint } from "../lib/train/checkpoint";
import { trainRun } from "../lib/train/loop";
import { RunInterruptedError } from "../lib/train/interrupt";
import { loadDataset } from "../lib/data/datasets";

const ROOT = path.resolve(__dirname, "..");
const childEnv = { ...process.env, TVQ_BACKEND: "cpu", TVQ_PROGRESS: "off" };

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-signal-"));
}

const CORPUS = path.join(tmpDir(), "corpus.txt");
fs.writeFileSync(CORPUS, Array.from({ length: 3000 }, (_, i) => `line ${i % 97} of the signal test corpus.`).join("\n"));

/** A long CLI run that checkpoints rarely: a signal must not lose the updates since the last checkpoint. */
function trainArgs(out: string, extra: string[] = []): string[] {
  return ["--import", "tsx", path.join(ROOT, "scripts", "train.ts"), "--preset", "tiny", "--data", CORPUS, "--out", out,
    "--steps", "5000", "--set", "train.updateLen=16", "--set", "train.saveEvery=1000", "--set", "train.evalEvery=0",
    "--set", "train.evalTokens=128", "--quiet", ...extra];
}

const metricLines = (out: string): number => {
  const f = path.join(out, "metrics.jsonl");
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter((l) => l.trim()).length : 0;
};

/** Starts a training child (the CLI by default) and waits until it has logged 3 updates. */
async function startChild(out: string, args = trainArgs(out)): Promise<{ child: ChildProcess; stderr: () => string; exited: Promise<void> }> {
  const child = spawn(process.execPath, args, { env: childEnv, stdio: ["ignore", "ignore", "pipe"], cwd: ROOT });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  const deadline = Date.now() + 40_000;
  while (metricLines(out) < 3 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  assert.ok(metricLines(out) >= 3, `the child logged no updates: ${err}`);
  return { child, stderr: () => err, exited };
}

test("CLI: a second run of the folder is refused naming the first; SIGINT checkpoints the update reached and exits 130; two SIGTERMs exit 143", async () => {
  const out = path.join(tmpDir(), "run");
  const a = await startChild(out);
  const second = spawnSync(process.execPath, trainArgs(out, ["--resume"]), { env: childEnv, encoding: "utf8" });
  assert.equal(second.status, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`in use: locked by pid ${a.child.pid} on host ${os.hostname()} since .*kill ${a.child.pid}`));
  a.child.kill("SIGINT");
  await a.exited;
  assert.equal(a.child.exitCode, 130, a.stderr());
  const step = loadCheckpoint(findCheckpoint(out)!).manifest.step;
  assert.equal(step, metricLines(out), "the checkpoint holds every update logged");
  assert.ok(step < 5000 && step >= 3);
  const lastLine = a.stderr().trim().split("\n").pop()!;
  assert.match(lastLine, new RegExp(`stopped by SIGINT after update ${step}: the checkpoint .*checkpoint holds step ${step}; resume with: npm run train -- --out ${out} --resume$`));
  assert.ok(!fs.existsSync(path.join(out, ".lock")), "the lock is released");

  const b = await startChild(path.join(tmpDir(), "twice"));
  b.child.kill("SIGTERM");
  b.child.kill("SIGTERM");
  await b.exited;
  assert.equal(b.child.exitCode, 143, `${b.child.signalCode} ${b.stderr()}`);
  assert.ok(!fs.existsSync(path.join(tmpDir(), "twice", ".lock")));
});

test("in a notebook a SIGINT stops trainRun with a checkpoint and an error instead of exiting; a rerun resumes", async () => {
  await initBackend(testBackend());
  const data = loadDataset(`file:${CORPUS}`);
  const cfg = getPreset("tiny", { train: { updateLen: 16, maxSteps: 8, saveEvery: 100, evalEvery: 0, evalTokens: 128 } });
  const out = path.join(tmpDir(), "nb");
  const listeners = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
  const exit = process.exit;
  let exitCalled = false;
  process.exit = (() => { exitCalled = true; }) as typeof process.exit;
  try {
    await assert.rejects(trainRun({
      config: cfg, data, outDir: out, progress: false,
      onMetrics: (m) => { if (m.step === 3) process.emit("SIGINT", "SIGINT"); }, // the kernel's interrupt, mid-update
    }), (e: Error) => {
      assert.ok(e instanceof RunInterruptedError, String(e));
      assert.equal(e.exitCode, 130);
      assert.match(e.message, /stopped by SIGINT after update 3: the checkpoint .* holds step 3; rerun to resume/);
      return true;
    });
  } finally {
    process.exit = exit;
  }
  assert.ok(!exitCalled, "no process.exit inside a kernel");
  assert.deepEqual([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")], listeners, "the handlers are removed");
  assert.equal(loadCheckpoint(findCheckpoint(out)!).manifest.step, 3);
  assert.ok(!fs.existsSync(path.join(out, ".lock")));
  const r = await trainRun({ config: cfg, data, outDir: out, resume: true, progress: false });
  disposeModel(r.model);
  assert.equal(r.steps, 8);
  assert.deepEqual(r.history.map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test("in a kernel-like process a SIGTERM still terminates it, once the update in flight is checkpointed", async () => {
  const dir = tmpDir();
  const out = path.join(dir, "kernel");
  const script = path.join(dir, "kernel.ts");
  // like a tslab kernel: trains in-process without exitOnSignal, catches the cell's error and lives on
  fs.writeFileSync(script, `
    import { initBackend } from ${JSON.stringify(path.join(ROOT, "lib", "runtime", "backend"))};
    import { getPreset } from ${JSON.stringify(path.join(ROOT, "lib", "config"))};
    import { trainRun } from ${JSON.stringify(path.join(ROOT, "lib", "train", "loop"))};
    import { loadDataset } from ${JSON.stringify(path.join(ROOT, "lib", "data", "datasets"))};
    (async () => {
      await initBackend("cpu");
      const config = getPreset("tiny", { train: { updateLen: 16, maxSteps: 5000, saveEvery: 1000, evalEvery: 0, evalTokens: 128 } });
      try {
        await trainRun({ config, data: loadDataset(${JSON.stringify(`file:${CORPUS}`)}), outDir: ${JSON.stringify(out)}, progress: false });
      } catch (e) {
        console.error("cell error: " + (e as Error).message);
      }
      setTimeout(() => process.exit(0), 5000);
    })();
  `);
  const { child, stderr, exited } = await startChild(out, ["--import", "tsx", script]);
  child.kill("SIGTERM");
  await exited;
  assert.equal(child.signalCode, "SIGTERM", `exit code ${child.exitCode}: ${stderr()}`);
  assert.equal(loadCheckpoint(findCheckpoint(out)!).manifest.step, metricLines(out), "the checkpoint holds every update logged");
  assert.ok(!fs.existsSync(path.join(out, ".lock")), "the lock is released");
});
