// scripts/summary.ts: results/summary.md lists the paper comparison, each experiment's figures (relative links, smoke
// twins hidden) and the latest row per run as a markdown table (smoke rows hidden once real rows exist).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as aq from "arquero";
import { appendResult } from "../lib/experiments/results";
import { saveTable } from "../lib/notebook/tables";
import { buildSummary, columnUnit, markdownCell, markdownTable, summaryColumns, unitColumns, writeSummary } from "../scripts/summary";

test("summary.md: paper comparison, figures with relative links, latest real rows per run", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-summary-"));
  const results = path.join(root, "results"), figures = path.join(root, "figures");
  fs.mkdirSync(results);
  fs.mkdirSync(figures);
  for (const f of ["01-x-curves.png", "01-x-curves.svg", "01-x-curves-smoke.png", "01-x-only-smoke.png", "99-lonely.png"]) fs.writeFileSync(path.join(figures, f), "png");
  appendResult("01-x", { run: "a", profile: "smoke", val_bpb: 9.5 }, { dir: results });
  appendResult("01-x", { run: "b", profile: "default", S: 32, val_bpb: 2.5, n_params: 1000 }, { dir: results });
  appendResult("01-x", { run: "c", profile: "default", S: 64, val_bpb: 2.25, n_params: 1000 }, { dir: results });
  appendResult("01-x", { run: "b", profile: "default", S: 32, val_bpb: 2.4, n_params: 1000 }, { dir: results });
  saveTable(aq.from([{ quantity: "bpb", paper: 0.99, ours: 2.25 }]), path.join(results, "01-x.paper.csv"));
  saveTable(aq.from([{ quantity: "bpb", paper: 0.99, ours: 9 }]), path.join(results, "01-x-smoke.paper.csv"));

  const out = writeSummary({ resultsDir: results, figuresDir: figures });
  assert.equal(out, path.join(results, "summary.md"));
  const md = fs.readFileSync(out, "utf8");
  assert.equal(md, buildSummary({ resultsDir: results, figuresDir: figures }).replace(/on \S+Z/, md.match(/on \S+Z/)![0]));
  assert.match(md, /\| bpb \| 0\.99 \| 2\.25 \|/); // the default comparison, not the smoke one
  assert.doesNotMatch(md, /\| bpb \| 0\.99 \| 9 \|/);
  assert.match(md, /!\[01-x-curves\]\(\.\.\/figures\/01-x-curves\.png\)/);
  assert.match(md, /\[SVG\]\(\.\.\/figures\/01-x-curves\.svg\)/);
  assert.doesNotMatch(md, /01-x-curves-smoke/); // its default twin exists
  assert.match(md, /01-x-only-smoke\.png/); // no twin: shown
  assert.match(md, /## Other figures[\s\S]*99-lonely\.png/);
  // latest row per run, smoke rows hidden: b (2.4, not 2.5) and c
  const table = md.slice(md.indexOf("## 01-x"));
  assert.match(table, /\| b \| default \| 32 \| 2\.4 \|/);
  assert.match(table, /\| c \| default \| 64 \| 2\.25 \|/);
  assert.doesNotMatch(table, /\| a \| smoke/);
  assert.doesNotMatch(table, /2\.5 \|/);
});

test("markdown cells and columns", () => {
  assert.equal(markdownCell(0.99), "0.99");
  assert.equal(markdownCell(12345), "12,345");
  assert.equal(markdownCell(4900.12), "4,900");
  assert.equal(markdownCell(999.87), "999.9");
  assert.equal(markdownCell(76963780.4), "76,963,780");
  assert.equal(markdownCell(2.3147), "2.315");
  assert.equal(markdownCell("a|b\nc"), "a\\|b c");
  assert.equal(markdownCell(null), "");
  assert.equal(markdownTable([{ a: 1, b: "x" }], ["a", "b"]), "| a | b |\n| ---: | --- |\n| 1 | x |");
  const rows = [
    { run: "a", run_uid: "u1", S: 32, seed: 0, lr: 1, val_bpb: 2, backend: "native", git_commit: "abc", empty: null },
    { run: "b", run_uid: "u2", S: 64, seed: 0, lr: 1, val_bpb: 1, backend: "native", git_commit: "abc", empty: null },
  ];
  assert.deepEqual(summaryColumns(rows), ["run", "S", "val_bpb", "backend", "git_commit"]);
  const metrics = [{ run: "a", val_loss: 1, tokens_per_s: 5, val_bpb: 2, code_usage: 1 }];
  assert.deepEqual(summaryColumns(metrics), ["run", "val_bpb", "tokens_per_s", "code_usage", "val_loss"]);
});

test("units: byte-level rows show bits per byte only, BPE rows nats per token and word ppl first; headers name the unit", () => {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-summary-units-"));
  const common = { profile: "default", n_params: 1000 };
  appendResult("01-bytes", { ...common, run: "a", tokenizer: "bytes", val_bpb: 2.5, val_loss: 1.733, val_ppl: 5.66, val_word_ppl: 3.2e16, train_loss: 1.8, train_bpb: 2.6 }, { dir: results });
  appendResult("01-bytes", { ...common, run: "b", tokenizer: "bytes", val_bpb: 2.25, val_loss: 1.56, val_ppl: 4.76, val_word_ppl: 1.1e15, train_loss: 1.7, train_bpb: 2.45 }, { dir: results });
  appendResult("02-bpe", { ...common, run: "c", tokenizer: "bpe", val_bpb: 1.5, val_loss: 4.25, val_ppl: 70.1, val_word_ppl: 123.4, train_loss: 4.5, train_bpb: null }, { dir: results });
  const md = buildSummary({ resultsDir: results, figuresDir: path.join(results, "none") });
  const section = (name: string) => md.slice(md.indexOf(`## ${name}`)).split("\n## ")[0];
  const table = (s: string) => s.split("\n").filter((l) => l.startsWith("|")).join("\n");
  const bytes = section("01-bytes"), bpe = section("02-bpe");
  assert.match(bytes, /\| profile \| run \| val_bpb \(bits\/byte\) \| train_bpb \(bits\/byte\) \|/);
  assert.match(bytes, /\| default \| a \| 2\.5 \| 2\.6 \|/);
  assert.doesNotMatch(table(bytes), /ppl|nats|e\+1[56]|1\.733/, "no word ppl, per-token ppl or nats for byte-level runs");
  assert.match(bytes, /Byte-level runs are shown in bits per byte/);
  assert.match(bpe, /\| profile \| run \| val_word_ppl \(per word\) \| val_loss \(nats\/token\) \| train_loss \(nats\/token\) \| val_bpb \(bits\/byte\) \| val_ppl \(per token\) \|/);
  assert.match(bpe, /\| default \| c \| 123\.4 \| 4\.25 \| 4\.5 \| 1\.5 \| 70\.1 \|/);
  // the CSV keeps every unit
  assert.equal(unitColumns([{ tokenizer: "bytes", val_word_ppl: 3, val_bpb: 1 }])[0].val_word_ppl, null);
  assert.equal(unitColumns([{ tokenizer: "bpe", val_word_ppl: 3 }])[0].val_word_ppl, 3);
  assert.match(fs.readFileSync(path.join(results, "01-bytes.csv"), "utf8"), /32000000000000000/);
  assert.deepEqual(["x_bpb", "val_loss", "test_word_ppl", "val_ppl", "tokens_per_s"].map(columnUnit), ["bits/byte", "nats/token", "per word", "per token", undefined]);
});
