// Recorded results (lib/notebook/record.ts, npm run record): a notebook's default-profile rows, verdicts and
// figures are copied into the recorded folder with a record of machine, backend and commit; smoke rows and smoke
// figures stay behind; without default rows the copy is refused with the command that makes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appendResult, readResultRows } from "../lib/experiments/results";
import { readRecords, recordResults, recordsMarkdown } from "../lib/notebook/record";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "tvq-record-"));

test("record copies the default run only, with its record; smoke rows and figures stay behind", () => {
  const resultsDir = tmp(), figuresDir = tmp(), outDir = tmp();
  assert.throws(() => recordResults("13-demo", { resultsDir, figuresDir, outDir }), /13-demo\.jsonl does not exist: run the notebook's default profile first \(npm run main -- notebooks\/13-demo\.ipynb\)/);
  appendResult("13-demo", { run: "smoke-a", profile: "smoke", val_bpb: 9 }, { dir: resultsDir });
  assert.throws(() => recordResults("13-demo", { resultsDir, figuresDir, outDir }), /no default-profile rows \(only smoke runs\)/);
  appendResult("13-demo", { run: "default-a", profile: "default", val_bpb: 1.5, note: "a, \"quoted\"" }, { dir: resultsDir });
  appendResult("13-demo", { run: "default-b", profile: "default", val_bpb: 1.25 }, { dir: resultsDir });
  for (const f of ["13-demo.paper.csv", "13-demo-u600.paper.csv", "13-demo-smoke.paper.csv", "13-demolition.paper.csv"]) fs.writeFileSync(path.join(resultsDir, f), "quantity,paper,ours,verdict\nx,y,z,matches\n");
  for (const f of ["13-demo-acc.png", "13-demo-acc.svg", "13-demo-acc.html", "13-demo-acc-smoke.png", "12-other.png"]) fs.writeFileSync(path.join(figuresDir, f), f);

  const r = recordResults("13-demo", { resultsDir, figuresDir, outDir, note: "quiet machine" });
  assert.deepEqual(r.files.sort(), ["figures/13-demo-acc.png", "figures/13-demo-acc.svg", "results/13-demo-u600.paper.csv", "results/13-demo.csv", "results/13-demo.jsonl", "results/13-demo.paper.csv"]);
  assert.equal(r.rows, 2);
  assert.equal(r.machine.cores, os.cpus().length);
  assert.equal(r.note, "quiet machine");
  const copied = readResultRows("13-demo", path.join(outDir, "results"));
  assert.deepEqual(copied.map((x) => x.run), ["default-a", "default-b"]);
  assert.equal(fs.readFileSync(path.join(outDir, "figures/13-demo-acc.png"), "utf8"), "13-demo-acc.png");
  const csv = fs.readFileSync(path.join(outDir, "results/13-demo.csv"), "utf8").trim().split("\n");
  assert.equal(csv.length, 3);
  assert.match(csv[1], /"a, ""quoted"""/);
  assert.deepEqual(readRecords(outDir).map((x) => x.experiment), ["13-demo"]);
  const md = recordsMarkdown(readRecords(outDir));
  assert.match(md, /\| 13-demo \| 2 \|/);
  assert.match(md, /- 13-demo: quiet machine/);
});
