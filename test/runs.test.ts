// scripts/runs.ts (npm run runs): run folders found below runs/, their status, final numbers in the data's units,
// the results row joined by run_dir, the config diff against the preset, filters, the table, --json and bad flags,
// and the event files written for runs from before TensorBoard events (read back by TensorBoard's reader).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { getPreset } from "../lib/config";
import { ROOT } from "../lib/util/io";
import { readRecords, eventStep } from "../lib/train/tensorboard";
import { appendResult } from "../lib/experiments/results";
import { RunRecord, configChanges, listRuns, runsTable, writeMissingEvents } from "../scripts/runs";

const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r) + "\n").join("");
const step = (s: number, bpb: number) => ({ step: s, loss: bpb * Math.LN2, bpb, commit: 0.1, lr: 1e-3 * s, gradNorm: 2, codeUsage: 0.5,
  codeEntropy: 3, tokensPerSec: 1000, elapsed: s });

/** A run folder as trainRun leaves it (no event files: trained before they existed). */
function makeRun(dir: string, o: { nCode?: number; tokenizer: "bytes" | "bpe"; steps: number; maxSteps: number; finished: boolean;
  experiment?: string; evals: object[] }): void {
  fs.mkdirSync(dir, { recursive: true });
  const cfg = getPreset("tiny", { model: o.nCode ? { nCode: o.nCode } : {}, train: { maxSteps: o.maxSteps } });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(cfg));
  fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify({ name: o.tokenizer === "bpe" ? "gutenberg" : "foldoc", kind: "text", tokenizer: o.tokenizer }));
  fs.writeFileSync(path.join(dir, "metrics.jsonl"), jsonl(Array.from({ length: o.steps }, (_, i) => step(i + 1, 8 - i))));
  fs.writeFileSync(path.join(dir, "eval.jsonl"), jsonl(o.evals));
  if (o.finished) fs.writeFileSync(path.join(dir, "summary.json"), JSON.stringify({ steps: o.steps, val_bpb: 0, tokens_per_s: 500 }));
  if (o.experiment) fs.writeFileSync(path.join(dir, "experiment.json"), JSON.stringify({ experiment: o.experiment, run: path.basename(dir) }));
}

function fixture(): { root: string; runs: string; results: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-runs-"));
  const runs = path.join(root, "runs"), results = path.join(root, "results");
  makeRun(path.join(runs, "exp1", "vq-S8"), { nCode: 8, tokenizer: "bytes", steps: 4, maxSteps: 4, finished: true, experiment: "exp1",
    evals: [{ step: 2, split: "validation", loss: 4, bpb: 5.5, ppl: 1, tokens: 1, windows: 1, nats: 1, wordPpl: 1e17 },
      { step: 4, split: "validation", loss: 3, bpb: 4.25, ppl: 1, tokens: 1, windows: 1, nats: 1, wordPpl: 1e16 }] });
  makeRun(path.join(runs, "cli-bpe"), { tokenizer: "bpe", steps: 2, maxSteps: 6, finished: false,
    evals: [{ step: 2, split: "validation", loss: 6.5, bpb: 3.1, ppl: 1, tokens: 1, windows: 1, nats: 1, wordPpl: 812 }] });
  makeRun(path.join(runs, "busy"), { tokenizer: "bytes", steps: 1, maxSteps: 6, finished: false, evals: [] });
  fs.writeFileSync(path.join(runs, "busy", ".lock"), JSON.stringify({ pid: process.pid, host: os.hostname(), since: "", command: "" }));
  // the row of the run as this process (ROOT) and as a CLI with TVQ_ROOT=root name its folder
  for (const base of [ROOT, root]) {
    appendResult("exp1", { run: "vq-S8", test_bpb: 4.5, test_word_ppl: 3e16, tokens_per_s: 1234, run_dir: path.relative(base, path.join(runs, "exp1", "vq-S8")) }, { dir: results });
  }
  return { root, runs, results };
}

test("listRuns: status, units by tokenizer, the results row by run_dir, config changes; filters and the table", () => {
  const f = fixture();
  const all = listRuns({ dirs: [f.runs], resultsDir: f.results });
  const by = (name: string) => all.find((r) => path.basename(r.folder) === name) as RunRecord;
  assert.deepEqual(all.map((r) => path.basename(r.folder)), ["busy", "cli-bpe", "vq-S8"]);
  const vq = by("vq-S8"), bpe = by("cli-bpe"), busy = by("busy");
  assert.deepEqual([vq.status, bpe.status, busy.status], ["finished", "stopped", "training"]);
  assert.equal(vq.folder, path.relative(ROOT, path.join(f.runs, "exp1", "vq-S8")));
  assert.deepEqual([vq.experiment, bpe.experiment, bpe.run], ["exp1", null, "cli-bpe"]);
  // byte-level: bits per byte of the last evaluation; no nats, no word ppl (1e16 means nothing there)
  assert.deepEqual([vq.val_bpb, vq.val_loss_nats, vq.val_word_ppl, vq.test_bpb, vq.test_word_ppl, vq.tokens_per_s], [4.25, null, null, 4.5, null, 1234]);
  // BPE: nats per token, bits per byte of text and word ppl
  assert.deepEqual([bpe.val_loss_nats, bpe.val_bpb, bpe.val_word_ppl, bpe.steps, bpe.maxSteps, bpe.test_bpb], [6.5, 3.1, 812, 2, 6, null]);
  const tinyCode = getPreset("tiny").model.nCode;
  assert.deepEqual(vq.changes, [{ key: "model.nCode", preset: tinyCode, run: 8 }, { key: "train.maxSteps", preset: getPreset("tiny").train.maxSteps, run: 4 }]);
  assert.deepEqual(configChanges({ ...getPreset("tiny"), preset: "gone" }), null);
  assert.equal(vq.events, false);

  assert.deepEqual(listRuns({ dirs: [f.runs], resultsDir: f.results, experiment: "exp1" }).map((r) => r.run), ["vq-S8"]);
  // a corrupt run folder is skipped with a warning naming it; the others are still listed
  fs.mkdirSync(path.join(f.runs, "broken"));
  fs.writeFileSync(path.join(f.runs, "broken", "config.json"), "{ torn");
  const warn = console.warn, warned: string[] = [];
  console.warn = (m: string) => void warned.push(m);
  try {
    assert.equal(listRuns({ dirs: [f.runs], resultsDir: f.results }).length, 3);
  } finally {
    console.warn = warn;
  }
  assert.match(warned.join("\n"), /skipping .*broken: .*config\.json is not valid JSON/);
  assert.deepEqual(listRuns({ dirs: [f.runs], resultsDir: f.results, filter: "NCODE=8" }).map((r) => r.run), ["vq-S8"]);
  assert.deepEqual(listRuns({ dirs: [f.runs], resultsDir: f.results, filter: "gutenberg" }).map((r) => r.run), ["cli-bpe"]);
  assert.deepEqual(listRuns({ dirs: [f.runs], resultsDir: f.results, status: "stopped" }).map((r) => r.run), ["cli-bpe"]);

  const text = runsTable(all).split("\n");
  assert.match(text[0], /^folder +status +preset +data +steps +val bits\/byte +val nats\/token +val word ppl +test bits\/byte +train tokens\/s +config vs preset$/);
  assert.match(text.find((l) => l.includes("vq-S8"))!, /finished +tiny +foldoc \(bytes\) +4\/4 +4\.250 +4\.500 +1,234 +model\.nCode=8 train\.maxSteps=4$/);
  assert.match(text.find((l) => l.includes("cli-bpe"))!, /stopped +tiny +gutenberg \(bpe\) +2\/6 +3\.100 +6\.500 +812 /);
});

test("--write-events writes the event file of older runs from metrics.jsonl; TensorBoard reads it", (t) => {
  const f = fixture();
  const runs = listRuns({ dirs: [f.runs], resultsDir: f.results });
  const written = writeMissingEvents(runs);
  assert.equal(written.length, 2, "the busy run (a live lock) is left alone");
  const vqFile = written.find((w) => w.includes("vq-S8"))!;
  assert.deepEqual(readRecords(vqFile).map(eventStep), [0, 1, 1, 2, 2, 3, 4, 4], "header, start, updates 1-4, evaluations 2 and 4");
  assert.deepEqual(writeMissingEvents(listRuns({ dirs: [f.runs], resultsDir: f.results })), [], "only once");
  if (!fs.existsSync(PYTHON)) return t.skip("no .venv");
  const r = spawnSync(PYTHON, ["-c", `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
a = EventAccumulator(sys.argv[1]); a.Reload()
print(json.dumps({t: [[e.step, e.value] for e in a.Scalars(t)] for t in ["train/bpb", "train/lr", "val/bpb"]}))`, path.dirname(vqFile)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(s["train/bpb"], [[1, 8], [2, 7], [3, 6], [4, 5]]);
  s["train/lr"].forEach(([st, v]: number[]) => assert.ok(Math.abs(v - 1e-3 * st) < 1e-9));
  assert.deepEqual(s["val/bpb"], [[2, 5.5], [4, 4.25]]);
});

test("npm run runs: --json from TVQ_ROOT's runs/, a bad --status or --dir exits 2 naming it", () => {
  const f = fixture();
  const run = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "runs.ts"), ...args],
    { encoding: "utf8", cwd: ROOT, env: { ...process.env, TVQ_ROOT: f.root } });
  const ok = run(["--json", "--status", "finished"]);
  assert.equal(ok.status, 0, ok.stderr);
  const recs = JSON.parse(ok.stdout) as RunRecord[];
  assert.deepEqual(recs.map((r) => [r.folder, r.test_bpb]), [["runs/exp1/vq-S8", 4.5]]);
  const bad = run(["--status", "done"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--status done: use one of finished, training, stopped/);
  const noDir = run(["--dir", path.join(f.root, "nope")]);
  assert.equal(noDir.status, 2);
  assert.match(noDir.stderr, /--dir .*nope: no such folder/);
});
