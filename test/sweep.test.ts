// Sweeps (lib/notebook/sweep.ts, npm run sweep): the grid expands to its cartesian product, combinations with a results
// row are skipped, a rerun of a finished sweep runs nothing, failures are reported and the sweep goes on. The
// last test runs scripts/sweep.ts on a fixture notebook with real tslab kernels (about 10 s per run).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  Combination, asList, checkSweepParameters, combinationGrid, expandGrid, notebookExperiment, parseGrid, planSweep, runSweep, sweepSummary,
} from "../lib/notebook/sweep";
import { appendResult, readResultRows } from "../lib/experiments/results";

const REPO = path.resolve(__dirname, "..");
const FIXTURE = path.join(REPO, "test", "fixtures", "sweep-fixture.ipynb");

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-sweep-"));
}

test("parseGrid reads name=v1,v2 lists as JSON values; expandGrid is the cartesian product, first name slowest", () => {
  const grid = parseGrid(["S=32,64,128", "seed=0,1,2"]);
  assert.deepEqual(grid, { S: [32, 64, 128], seed: [0, 1, 2] });
  const combos = expandGrid(grid);
  assert.equal(combos.length, 9);
  assert.deepEqual(combos.slice(0, 4), [{ S: 32, seed: 0 }, { S: 32, seed: 1 }, { S: 32, seed: 2 }, { S: 64, seed: 0 }]);
  assert.deepEqual(combos[8], { S: 128, seed: 2 });
  // strings, booleans, arrays (commas inside brackets do not split), repeats add values, duplicates drop
  assert.deepEqual(parseGrid(["v=on,off", "b=true", "a=[1,2],[3]", "v=on,mid"]), { v: ["on", "off", "on", "mid"], b: [true], a: [[1, 2], [3]] });
  assert.deepEqual(expandGrid({ v: ["on", "off", "on"] }), [{ v: "on" }, { v: "off" }]);
  assert.deepEqual(expandGrid({}), [{}], "no parameters: run once");
  assert.throws(() => parseGrid(["S"]), /name=v1,v2/);
  assert.throws(() => parseGrid(["S=1,,2"]), /empty value/);
  assert.throws(() => parseGrid(["profile=smoke"]), /--profile/);
  assert.throws(() => parseGrid(["1x=2"]), /identifier/);
});

test("asList: one value or a list, an empty list falls back to the profile's values", () => {
  assert.deepEqual(asList(32), [32]);
  assert.deepEqual(asList([16, 32]), [16, 32]);
  assert.deepEqual(asList([] as number[], [1, 2]), [1, 2]);
});

test("the experiment is the notebook's file stem unless metadata tvq.experiment names it; parameters are checked", () => {
  assert.equal(notebookExperiment(FIXTURE), "sweep-fixture");
  const dir = tmpDir();
  const nb = JSON.parse(fs.readFileSync(FIXTURE, "utf8"));
  nb.metadata.tvq = { experiment: "other-name" };
  const file = path.join(dir, "renamed.ipynb");
  fs.writeFileSync(file, JSON.stringify(nb));
  assert.equal(notebookExperiment(file), "other-name");
  checkSweepParameters(FIXTURE, ["x", "seed"]);
  assert.throws(() => checkSweepParameters(FIXTURE, ["x", "S"]), /does not declare S; known parameters: profile, x, seed/);
  assert.throws(() => notebookExperiment(path.join(dir, "missing.ipynb")), /does not exist/);
});

test("runSweep skips combinations with a row, runs the rest, and a rerun runs nothing", async () => {
  const dir = tmpDir();
  const experiment = "sweep-fixture";
  appendResult(experiment, { profile: "default", x: 1, seed: 0, bpb: 2.5 }, { dir });
  appendResult(experiment, { profile: "smoke", x: 2, seed: 0 }, { dir }); // another profile: does not count
  const ran: Combination[] = [];
  const run = async (c: Combination) => {
    ran.push(c);
    appendResult(experiment, { profile: "default", ...c }, { dir });
    return undefined;
  };
  const lines: string[] = [];
  const opts = { notebook: FIXTURE, grid: { x: [1, 2, 3], seed: [0] }, profile: "default", resultsDir: dir, run, log: (l: string) => lines.push(l) };
  const first = await runSweep(opts);
  assert.deepEqual(first.map((o) => o.status), ["skipped", "ran", "ran"]);
  assert.deepEqual(ran, [{ x: 2, seed: 0 }, { x: 3, seed: 0 }]);
  assert.equal(lines.length, 3, "one line per combination");
  assert.match(lines[0], /\[1\/3\] x=1 seed=0: skipped/);
  assert.match(lines[1], /\[2\/3\] x=2 seed=0: ran in/);
  assert.match(sweepSummary(first), /^3 combinations: 2 ran, 1 skipped, 0 failed/);

  ran.length = 0;
  const again = await runSweep(opts);
  assert.deepEqual(again.map((o) => o.status), ["skipped", "skipped", "skipped"]);
  assert.equal(ran.length, 0, "a rerun of a finished sweep runs nothing");
  assert.equal(readResultRows(experiment, dir).length, 4, "and adds no rows");
});

test("planSweep marks the combinations that have a row (this profile only); combinationGrid is a one-combination grid", () => {
  const dir = tmpDir();
  appendResult("sweep-fixture", { profile: "smoke", x: 2, seed: 0 }, { dir });
  appendResult("sweep-fixture", { profile: "default", x: 3, seed: 0 }, { dir });
  const plan = planSweep({ notebook: FIXTURE, grid: { x: [1, 2, 3], seed: [0] }, profile: "smoke", resultsDir: dir });
  assert.equal(plan.experiment, "sweep-fixture");
  assert.deepEqual(plan.items.map((it) => [it.index, it.combination.x, it.done]), [[0, 1, false], [1, 2, true], [2, 3, false]]);
  assert.throws(() => planSweep({ notebook: FIXTURE, grid: { y: [1] }, profile: "smoke", resultsDir: dir }), /does not declare y/);
  const one = { a: [1, 2], s: "on", n: 3 };
  assert.deepEqual(combinationGrid(one), { a: [[1, 2]], s: ["on"], n: [3] });
  assert.deepEqual(expandGrid(combinationGrid(one)), [one], "it expands back to the combination, list values included");
});

test("runSweep reports failures, goes on, and counts a run that leaves no matching row as failed", async () => {
  const dir = tmpDir();
  const lines: string[] = [];
  const out = await runSweep({
    notebook: FIXTURE, grid: { x: [1, 2, 3] }, profile: "smoke", resultsDir: dir, log: (l) => lines.push(l),
    run: async (c) => {
      if (c.x === 1) return "cell 2 failed: boom";
      if (c.x === 2) throw new Error("runner crashed");
      return undefined; // x = 3 "succeeds" but writes no row
    },
  });
  assert.deepEqual(out.map((o) => o.status), ["failed", "failed", "failed"]);
  assert.match(lines[0], /FAILED after .* s: cell 2 failed: boom/);
  assert.match(lines[1], /runner crashed/);
  assert.match(out[2].error ?? "", /wrote no row of results\/sweep-fixture with \{"x":3,"profile":"smoke"\}/);
  assert.match(sweepSummary(out), /0 ran, 0 skipped, 3 failed/);
  await assert.rejects(runSweep({ notebook: FIXTURE, grid: { y: [1] }, profile: "smoke", resultsDir: dir, run: async () => undefined }), /does not declare y/);
});

test("npm run sweep on a fixture notebook: skips the existing row, runs the rest, fails loudly, resumes", { timeout: 240_000 }, () => {
  const root = tmpDir();
  const nb = path.join(root, "sweep-fixture.ipynb");
  fs.copyFileSync(FIXTURE, nb); // executed copies land beside it, in the temporary root
  const results = path.join(root, "results");
  appendResult("sweep-fixture", { profile: "smoke", x: 1, seed: 0 }, { dir: results });
  const sweep = (params: string[]) => spawnSync(process.execPath,
    ["--import", "tsx", path.join(REPO, "scripts", "sweep.ts"), nb, "--profile", "smoke", ...params.flatMap((p) => ["--param", p])],
    { cwd: REPO, encoding: "utf8", timeout: 200_000, env: { ...process.env, TVQ_ROOT: root } });

  const first = sweep(["x=1,2,13", "seed=0"]);
  assert.equal(first.status, 1, "a failed combination makes the sweep exit non-zero\n" + first.stdout + first.stderr);
  assert.match(first.stdout, /\[1\/3\] x=1 seed=0: skipped/);
  assert.match(first.stdout, /\[2\/3\] x=2 seed=0: ran in/);
  assert.match(first.stdout, /\[3\/3\] x=13 seed=0: FAILED .*x = 13 fails on purpose/s);
  assert.match(first.stdout, /3 combinations: 1 ran, 1 skipped, 1 failed/);
  const rows = readResultRows("sweep-fixture", results);
  assert.deepEqual(rows.map((r) => [r.x, r.seed, r.profile]), [[1, 0, "smoke"], [2, 0, "smoke"]]);
  assert.ok(fs.existsSync(path.join(root, "executed", "sweeps", "sweep-fixture", "x=2_seed=0.ipynb")), "executed copy per combination");

  const again = sweep(["x=1,2", "seed=0"]);
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /2 combinations: 0 ran, 2 skipped, 0 failed/);
  assert.doesNotMatch(again.stdout, /-- running/, "nothing was run");
  assert.equal(readResultRows("sweep-fixture", results).length, 2);
});
