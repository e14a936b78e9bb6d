// Run safety (issue 11): one process trains a run folder at a time (<run>/.lock, lib/train/lock.ts). A second
// training is refused naming the holder; a lock left by a killed process on this host is taken over; the lock is
// released on every exit path, and runExperiment (notebooks, sweeps) goes through the same lock.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { Config, getPreset } from "../lib/config";
import { disposeModel } from "../lib/nn/params";
import { trainRun } from "../lib/train/loop";
import { Dataset, loadDataset } from "../lib/data/datasets";
import { runExperiment } from "../lib/experiments/run";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-lock-"));
}

const CORPUS = path.join(tmpDir(), "corpus.txt");
fs.writeFileSync(CORPUS, Array.from({ length: 3000 }, (_, i) => `line ${i % 97} of the lock test corpus.`).join("\n"));
let corpus: Dataset | undefined;
const data = (): Dataset => (corpus ??= loadDataset(`file:${CORPUS}`));
const tiny = (): Config => getPreset("tiny", { train: { updateLen: 16, maxSteps: 8, saveEvery: 2, evalEvery: 4, evalTokens: 128 } });

function writeLock(dir: string, holder: { pid: number; host: string; since?: string }): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, ".lock");
  fs.writeFileSync(file, JSON.stringify({ since: "2026-01-02T03:04:05.000Z", command: "scripts/train.ts --out x", ...holder }));
  return file;
}

test("a second training of a run folder while the first runs is refused naming the holder; metrics get each step once", async () => {
  await initBackend(testBackend());
  const out = path.join(tmpDir(), "run");
  const first = trainRun({ config: tiny(), data: data(), outDir: out, steps: 4, progress: false }); // holds the lock from here
  assert.ok(fs.existsSync(path.join(out, ".lock")), "the lock is taken while the run trains");
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, ".lock"), "utf8")).pid, process.pid);
  await assert.rejects(trainRun({ config: tiny(), data: data(), outDir: out, resume: true, steps: 4, progress: false }),
    new RegExp(`run folder .*run is in use by this process \\(pid ${process.pid}, since .*\\): another trainRun`));
  const r = await first;
  disposeModel(r.model);
  const steps = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3, 4]);
  assert.ok(!fs.existsSync(path.join(out, ".lock")), "released after a normal end");
  // released after an error too: a refused resume (steps beyond maxSteps is refused before the lock; this one inside)
  await assert.rejects(trainRun({ config: getPreset("tiny", { train: { ...tiny().train, maxSteps: 2 } }), data: data(), outDir: out, resume: true, progress: false }), /already at step 4/);
  assert.ok(!fs.existsSync(path.join(out, ".lock")), "released after an error");
});

test("a live lock of another process is refused with its pid, host, time and the fix; a dead one is taken over", async () => {
  await initBackend(testBackend());
  const live = path.join(tmpDir(), "live");
  const file = writeLock(live, { pid: process.ppid, host: os.hostname() }); // the test runner: alive
  await assert.rejects(trainRun({ config: tiny(), data: data(), outDir: live, steps: 2, progress: false }), (e: Error) => {
    assert.match(e.message, new RegExp(`in use: locked by pid ${process.ppid} on host ${os.hostname()} since 2026-01-02T03:04:05\\.000Z`));
    assert.match(e.message, new RegExp(`kill ${process.ppid}\\), then retry; if no such process is training it, delete .*\\.lock`));
    return true;
  });
  assert.ok(fs.existsSync(file), "a live lock is not removed");
  const foreign = path.join(tmpDir(), "foreign");
  writeLock(foreign, { pid: 1, host: "another-host" });
  await assert.rejects(trainRun({ config: tiny(), data: data(), outDir: foreign, steps: 2, progress: false }), /locked by pid 1 on host another-host .*stop it on another-host/);

  const dead = path.join(tmpDir(), "dead");
  const gone = spawnSync(process.execPath, ["-e", ""]).pid!; // a pid that has exited
  writeLock(dead, { pid: gone, host: os.hostname() });
  const r = await trainRun({ config: tiny(), data: data(), outDir: dead, steps: 2, progress: false });
  disposeModel(r.model);
  assert.equal(r.steps, 2);
  assert.ok(!fs.existsSync(path.join(dead, ".lock")));
});

test("runExperiment takes the run folder's lock before touching it", async () => {
  const dirs = { runs: tmpDir(), results: tmpDir() };
  const runDir = path.join(dirs.runs, "exp-lock", "r0");
  writeLock(runDir, { pid: process.ppid, host: os.hostname() });
  await assert.rejects(runExperiment({
    experiment: "exp-lock", run: "r0", preset: "tiny", dataset: `file:${CORPUS}`, steps: 2, progress: false,
    overrides: { train: { evalTokens: 128 } }, evalTokens: 128, runsDir: dirs.runs, resultsDir: dirs.results,
  }), new RegExp(`locked by pid ${process.ppid}`));
  assert.deepEqual(fs.readdirSync(runDir), [".lock"], "nothing was written in the locked folder");
});
