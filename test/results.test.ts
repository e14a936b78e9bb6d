// Run records: one row per run in JSONL + CSV, a CSV header that grows with new columns, resumable-sweep lookup,
// and the paper's numbers beside ours.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appendResult, flattenRow, gitState, loadResults, readResultRows, resultExists, resultFiles } from "../lib/experiments/results";
import { ROOT } from "../lib/util/io";
import { PAPER_REFERENCE, paperComparison, paperReference } from "../lib/experiments/paper";
import { readTable } from "../lib/notebook/tables";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "tvq-results-"));

test("flattenRow: nested config becomes dotted columns; arrays JSON; NaN null; undefined dropped", () => {
  assert.deepEqual(flattenRow({ model: { nCode: 64, attnType: "vq-linear" }, seed: 1, curve: [1, 2], loss: NaN, skip: undefined }),
    { "model.nCode": 64, "model.attnType": "vq-linear", seed: 1, curve: "[1,2]", loss: null });
});

test("appendResult adds rows with metadata; a new column rewrites the CSV with the union header", () => {
  const dir = tmp();
  const r1 = appendResult("10-ablation", { model: { nCode: 32 }, seed: 0, bpb: 1.61 }, { dir });
  for (const k of ["timestamp", "git_commit", "git_dirty", "backend", "backend_detail", "node"]) assert.ok(k in r1, `row has ${k}`);
  assert.equal(r1.node, process.version);
  appendResult("10-ablation", { model: { nCode: 64 }, seed: 0, bpb: 1.55 }, { dir });
  const csv1 = fs.readFileSync(path.join(dir, "10-ablation.csv"), "utf8").trimEnd().split("\n");
  assert.equal(csv1.length, 3, "header + 2 rows (the second row appended)");

  appendResult("10-ablation", { model: { nCode: 128 }, seed: 1, bpb: 1.52, codebookEntropy: 6.5, note: 'a, "quoted" note' }, { dir });
  const csv = readTable(path.join(dir, "10-ablation.csv"));
  assert.equal(csv.numRows(), 3);
  assert.deepEqual(csv.columnNames().slice(0, 4), ["timestamp", "model.nCode", "seed", "bpb"]);
  assert.ok(csv.columnNames().includes("codebookEntropy") && csv.columnNames().includes("note"));
  assert.deepEqual(csv.array("model.nCode"), [32, 64, 128]);
  assert.deepEqual(csv.array("codebookEntropy"), [null, null, 6.5]);
  assert.equal(csv.array("note")[2], 'a, "quoted" note');

  const t = loadResults("10-ablation", { dir });
  assert.equal(t.numRows(), 3);
  assert.deepEqual(t.array("bpb"), [1.61, 1.55, 1.52]);
  assert.deepEqual(t.array("codebookEntropy"), [null, null, 6.5]);
  assert.equal(loadResults("never-ran", { dir }).numRows(), 0);
});

test("resultExists matches a run's parameters (numbers as numbers, nested or dotted)", () => {
  const dir = tmp();
  appendResult("sweep", { model: { nCode: 64 }, seed: 2, profile: "smoke", bpb: 1.5 }, { dir });
  assert.equal(resultExists("sweep", { "model.nCode": 64, seed: 2 }, { dir }), true);
  assert.equal(resultExists("sweep", { model: { nCode: "64" }, seed: 2, profile: "smoke" }, { dir }), true);
  assert.equal(resultExists("sweep", { "model.nCode": 64, seed: 3 }, { dir }), false);
  assert.equal(resultExists("sweep", { lr: 1e-3 }, { dir }), false, "a missing column never matches");
  assert.equal(resultExists("other", { seed: 2 }, { dir }), false);
});

test("a torn last JSONL line is skipped; a corrupt line in the middle throws naming the line", () => {
  const dir = tmp();
  appendResult("e", { a: 1 }, { dir });
  fs.appendFileSync(path.join(dir, "e.jsonl"), '{"a": 2, "tim');
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    assert.equal(readResultRows("e", dir).length, 1);
  } finally {
    console.warn = warn;
  }
  fs.appendFileSync(path.join(dir, "e.jsonl"), '\n{"a": 3}\n');
  assert.throws(() => readResultRows("e", dir), /e\.jsonl line 2 is not valid JSON/);
  assert.throws(() => appendResult("../x", {}, { dir }), /must use only letters/);
});

test("a relative results folder is the repository's, not the working folder's (a notebook kernel runs in notebooks/)", () => {
  const dir = tmp();
  const cwd = process.cwd();
  process.chdir(os.tmpdir());
  try {
    appendResult("rel", { a: 1 }, { dir: path.relative(ROOT, dir) });
  } finally {
    process.chdir(cwd);
  }
  assert.deepEqual(readResultRows("rel", dir).map((r) => r.a), [1]);
  assert.equal(resultFiles("rel", path.relative(ROOT, dir)).csv, path.join(dir, "rel.csv"));
});

test("gitState gives a short hash and a dirty flag, or unknown outside a checkout", () => {
  const g = gitState();
  assert.ok(/^[0-9a-f]{7,}$/.test(g.commit) || g.commit === "unknown", g.commit);
  assert.deepEqual(gitState(os.tmpdir()), { commit: "unknown", dirty: null });
});

test("paper reference: the headline numbers, UNCONFIRMED marks, and a comparison table", () => {
  const byId = (id: string) => PAPER_REFERENCE.find((p) => p.id === id)!;
  assert.equal(byId("enwik8-test-bpb").value, 0.99);
  assert.equal(byId("pg19-test-ppl").value, 26.6);
  assert.equal(byId("imagenet64-bpb").value, 3.16);
  assert.equal(byId("cache-off-speedup").confirmed, false);
  assert.equal(new Set(PAPER_REFERENCE.map((p) => p.id)).size, PAPER_REFERENCE.length, "ids are unique");
  assert.deepEqual(paperReference("20-throughput").array("paper"), ["> 3×", "> 12×", "> 6×"]);
  const cmp = paperComparison([{ id: "enwik8-test-bpb", value: 1.71, setup: "1M params, 20 min on CPU" }]);
  assert.deepEqual(cmp.objects()[0], {
    quantity: "Enwik8: test bits per byte", paper: "0.99", "paper setup": "~190M params, L=512, S=512, TPU v3",
    "paper status": "confirmed", ours: 1.71, "our setup": "1M params, 20 min on CPU",
  });
  assert.throws(() => paperComparison([{ id: "nope", value: 1, setup: "" }]), /unknown paper number id "nope"/);
});
