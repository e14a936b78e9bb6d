// A failed notebook rerun keeps the last good executed copy (issue 11): the failed run is written beside it as
// <name>.failed.ipynb and the runner says so; the next good run replaces the copy and removes the stale failure.
// Each run starts a real tslab kernel (about 5 s).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");
const FIXTURE = path.join(REPO, "test", "fixtures", "runner-stray.ipynb");
const ARTIFACTS = path.join(REPO, "test", "artifacts", "runner-keep");

/** `npm run notebook` on the stray-error fixture in `mode` (none passes, rejection fails), into `out`. */
function runNotebook(mode: string, out: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath,
    ["--import", "tsx", path.join(REPO, "scripts", "notebook.ts"), FIXTURE, "--out", out, "--param", `mode=${mode}`],
    { cwd: REPO, encoding: "utf8", timeout: 180_000 });
  return { status: r.status, stderr: r.stderr ?? "" };
}

function runnerStatus(file: string): string {
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { metadata: { tvq_runner: { status: string; parameters: { mode: string } } } })
    .metadata.tvq_runner.status;
}

test("a failed rerun keeps the last good executed copy and writes the failed one beside it", () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const out = path.join(ARTIFACTS, "stray.ipynb");
  const failed = path.join(ARTIFACTS, "stray.failed.ipynb");

  const good = runNotebook("none", out);
  assert.equal(good.status, 0, good.stderr);
  const goodText = fs.readFileSync(out, "utf8");

  const bad = runNotebook("rejection", out);
  assert.equal(bad.status, 1, bad.stderr);
  assert.equal(fs.readFileSync(out, "utf8"), goodText, "the good copy is untouched");
  assert.equal(runnerStatus(failed), "failed");
  assert.ok(bad.stderr.includes(`executed copy of this failed run saved to ${failed}; the last good run's copy ${out} is kept`), bad.stderr);

  const again = runNotebook("none", out);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(runnerStatus(out), "ok");
  assert.ok(!fs.existsSync(failed), "a good run removes the stale failed copy");
});
