// The fault suite (issue 11): a training run killed (SIGKILL: no handler runs) at each point where a write could be
// torn — inside a checkpoint write (after its blob, after its manifest, between its two renames), right after a
// metrics line, inside the history rewrite a resume does — then resumed, ends exactly as an uninterrupted run: the
// same checkpoint bytes (cpu: bitwise) and every update once in metrics.jsonl. lib/util/faults.ts holds the points.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { FaultPointName } from "../lib/util/faults";
import { checkpointBlob, childEnv, corpusText, metricSteps, tmpDir, trainArgs } from "./helpers/train-cli";

const DIR = tmpDir("tvq-faults-");
const DATA = path.join(DIR, "corpus.txt");
fs.writeFileSync(DATA, corpusText());
// 9 updates (checkpoints after 3, 6 and 9) are enough to interrupt the second checkpoint and keep the first.
const STEPS = 9;
const ALL_STEPS = Array.from({ length: STEPS }, (_, i) => i + 1);
const args = (out: string, extra: string[] = []) => trainArgs(DATA, out, ["--steps", String(STEPS), ...extra]);

/** The uninterrupted run every case must equal (trained once, shared). */
let reference: { blob: Buffer; steps: number[] } | undefined;
function uninterrupted(): { blob: Buffer; steps: number[] } {
  if (!reference) {
    const out = path.join(DIR, "reference");
    const r = spawnSync(process.execPath, args(out), { env: childEnv, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    reference = { blob: checkpointBlob(out), steps: metricSteps(out) };
    assert.deepEqual(reference.steps, ALL_STEPS);
  }
  return reference;
}

/**
 * Runs `train` on `out` until it reaches fault point `at` (its skip+1-th pass), then SIGKILLs it there.
 * @param extra more CLI arguments (e.g. --resume)
 */
async function killAt(out: string, at: FaultPointName, skip: number, extra: string[] = []): Promise<void> {
  const marker = path.join(DIR, `${at.replace(/:/g, "_")}.reached`);
  fs.rmSync(marker, { force: true });
  const env = { ...childEnv, TVQ_FAULT_AT: at, TVQ_FAULT_SKIP: String(skip), TVQ_FAULT_DIR: DIR };
  const child = spawn(process.execPath, args(out, extra), { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(marker) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(fs.existsSync(marker), `the run never reached ${at} (exit ${child.exitCode}):\n${stderr}`);
  child.kill("SIGKILL");
  await exited;
  assert.equal(child.signalCode, "SIGKILL");
  assert.ok(!fs.existsSync(path.join(out, "summary.json")), "killed before the end");
}

/** Resumes `out` without faults and checks it ends as the uninterrupted run. */
function resumeAndCompare(out: string, what: string): void {
  const r = spawnSync(process.execPath, args(out, ["--resume"]), { env: childEnv, encoding: "utf8" });
  assert.equal(r.status, 0, `${what}: the resume failed:\n${r.stderr}`);
  const ref = uninterrupted();
  assert.deepEqual(metricSteps(out), ref.steps, `${what}: metrics.jsonl must hold each update exactly once`);
  assert.ok(checkpointBlob(out).equals(ref.blob), `${what}: the resumed run's parameters differ from the uninterrupted run's`);
  assert.deepEqual(fs.readdirSync(out).filter((f) => f.includes(".tmp")), [], `${what}: temporaries left behind`);
}

// The second checkpoint (update 6) is the one interrupted, so a good one (update 3) exists.
for (const at of ["checkpoint:blob-written", "checkpoint:manifest-written", "checkpoint:old-moved"] as const) {
  test(`SIGKILL inside a checkpoint write (${at}), then --resume: equal to an uninterrupted run, every update once`, async () => {
    const out = path.join(DIR, at.replace(/:/g, "_"));
    await killAt(out, at, 1);
    resumeAndCompare(out, at);
  });
}

test("SIGKILL after a metrics line and again inside the resume's history rewrite: still equal, every update once", async () => {
  const out = path.join(DIR, "history");
  await killAt(out, "metrics:appended", 4); // update 5 logged, the last checkpoint holds update 3
  assert.deepEqual(metricSteps(out), [1, 2, 3, 4, 5]);
  // The resume cuts the history back to the checkpoint (an atomic rewrite): kill it before the rename.
  await killAt(out, "atomic-write:before-rename", 0, ["--resume"]);
  assert.deepEqual(metricSteps(out), [1, 2, 3, 4, 5], "a rewrite killed before its rename leaves the old history whole");
  resumeAndCompare(out, "history rewrite");
});
