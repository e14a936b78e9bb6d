// The long-range recall task (lib/data/recall.ts) and its scoring (lib/experiments/recall.ts): episodes are
// deterministic by seed and well-formed, each query's answer lies exactly where the records say, a model without
// the cache cannot see a pair beyond the window (its prediction does not change when the pair does) while full
// attention can, and a recall run writes its accuracy into the results row. Tiny models, cpu backend.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { getPreset } from "../lib/config";
import { forward } from "../lib/nn/model";
import { createModel, disposeModel } from "../lib/nn/params";
import { disposeState, initState } from "../lib/nn/state";
import { loadDataset } from "../lib/data/datasets";
import { EOS_ID, BYTE_OFFSET } from "../lib/data/vocab";
import {
  KEY_ALPHABET, PAIR_BYTE, RecallTask, VALUE_ALPHABET, checkRecallTask, describeEpisode, inWindow, pairToken, recallEpisode, recallStream,
} from "../lib/data/recall";
import { RECALL_BASES, RECALL_EXPERIMENT, accuracyByDistance, readRecallRecords, recallMetrics, runRecallAblation, wilsonInterval, windowAccuracy } from "../lib/experiments/recall";
import { readResultRows } from "../lib/experiments/results";
import { runAblation, ablationSettings } from "../lib/experiments/ablation";

const TASK: RecallTask = { T: 128, pairs: 6, keys: 10, values: 5, minGap: 4, maxGap: 90 };

test("episodes are deterministic by (seed, split, index) and differ across them", () => {
  const a = recallEpisode(TASK, 0, 0, 7), b = recallEpisode(TASK, 0, 0, 7);
  assert.deepEqual(Array.from(a.tokens), Array.from(b.tokens));
  assert.deepEqual(a.queries, b.queries);
  for (const other of [recallEpisode(TASK, 1, 0, 7), recallEpisode(TASK, 0, 1, 7), recallEpisode(TASK, 0, 0, 8)]) {
    assert.notDeepEqual(Array.from(other.tokens), Array.from(a.tokens));
  }
  const stream = recallStream(TASK, 0, 2, 5);
  assert.equal(stream.length, 5 * TASK.T);
  assert.deepEqual(Array.from(stream.subarray(3 * TASK.T, 4 * TASK.T)), Array.from(recallEpisode(TASK, 0, 2, 3).tokens));
});

test("every query asks a key listed once, scores its value, and records the distance back to the pair token", () => {
  const filler = ".".charCodeAt(0) + BYTE_OFFSET;
  for (let e = 0; e < 200; e++) {
    const { tokens: y, queries } = recallEpisode(TASK, 3, 0, e);
    assert.equal(y.length, TASK.T);
    assert.equal(queries.length, TASK.pairs);
    const pairs = Array.from(y.subarray(0, TASK.pairs));
    const keysOf = pairs.map((t) => Math.floor((t - BYTE_OFFSET - PAIR_BYTE) / TASK.values));
    assert.equal(new Set(keysOf).size, TASK.pairs, "distinct keys per episode");
    const gap = queries[0].pos - 1 - TASK.pairs;
    assert.ok(gap >= TASK.minGap && gap <= TASK.maxGap, `gap ${gap} within [${TASK.minGap}, ${TASK.maxGap}]`);
    for (let t = TASK.pairs; t < TASK.pairs + gap; t++) assert.equal(y[t], filler);
    for (const q of queries) {
      const i = q.source - 1; // the pair's index: the input at `source` is y[source − 1]
      const k = keysOf[i], v = (pairs[i] - BYTE_OFFSET - PAIR_BYTE) % TASK.values;
      assert.equal(pairs[i], pairToken(TASK, k, v));
      assert.equal(y[q.pos - 1], KEY_ALPHABET.charCodeAt(k) + BYTE_OFFSET, "the asked key precedes the value");
      assert.equal(y[q.pos], VALUE_ALPHABET.charCodeAt(v) + BYTE_OFFSET, "the scored target is the pair's value");
      assert.equal(q.distance, q.pos - q.source);
      assert.equal(q.value, y[q.pos]);
    }
    assert.deepEqual(queries.map((q) => keysOf[q.source - 1]).sort(), [...keysOf].sort(), "each key asked once");
  }
});

test("inWindow is the exact window of block length L: own block and the previous; distance ≥ 2L is always outside", () => {
  for (const L of [4, 8, 16]) {
    let outside = 0;
    for (let e = 0; e < 100; e++) {
      for (const q of recallEpisode(TASK, 0, 1, e).queries) {
        const firstVisible = L * (Math.floor(q.pos / L) - 1);
        assert.equal(inWindow(q, L), q.source >= firstVisible);
        if (q.distance >= 2 * L) assert.equal(inWindow(q, L), false);
        if (q.distance < L) assert.equal(inWindow(q, L), true);
        if (!inWindow(q, L)) outside++;
      }
    }
    assert.ok(outside > 0, `L = ${L}: some queries lie beyond the window`);
  }
});

test("bad tasks are refused with the field and the fix", () => {
  assert.throws(() => checkRecallTask({ ...TASK, keys: 30, values: 5 }), /keys = 30 must be an integer in \[1, 26\]/);
  assert.throws(() => checkRecallTask({ ...TASK, keys: 20, values: 10 }), /keys · values = 200 > 128 pair tokens.*lower keys or values/);
  assert.throws(() => checkRecallTask({ ...TASK, pairs: 11 }), /pairs = 11 > keys = 10.*raise keys or lower pairs/);
  assert.throws(() => checkRecallTask({ ...TASK, maxGap: 120 }), /needs 3·pairs \+ maxGap = 138 tokens but T = 128/);
  assert.throws(() => checkRecallTask({ ...TASK, minGap: 10, maxGap: 5 }), /maxGap = 5 must be an integer in \[10,/);
  assert.throws(() => loadDataset("recall"), /dataset "recall" needs its task/);
});

test("the recall dataset: one episode per sequence of T, byte tokens, episode counts per split", () => {
  const ds = loadDataset("recall", { recall: { task: TASK, seed: 4, episodes: { train: 10, validation: 3, test: 2 } } });
  assert.equal(ds.vocabSize, 259);
  assert.deepEqual([ds.splits.train.length, ds.splits.validation.length, ds.splits.test.length], [1280, 384, 256]);
  assert.deepEqual(Array.from(ds.splits.validation.subarray(128, 256)), Array.from(recallEpisode(TASK, 4, 1, 1).tokens));
  assert.deepEqual(ds.docCounts, { train: 10, validation: 3, test: 2 });
  assert.match(describeEpisode(TASK, recallEpisode(TASK, 0, 0, 0).tokens), /^(⟨[a-j]=[0-4]⟩){6}\.{4,}/);
});

test("beyond the window, cache off cannot see the pair (its prediction does not move when the pair changes); full attention and the cache can", async () => {
  await initBackend(testBackend());
  const task: RecallTask = { T: 64, pairs: 3, keys: 8, values: 4, minGap: 40, maxGap: 40 };
  const L = 8;
  // the episode and a copy whose pairs all have another value: every query lies ≥ 40 > 2L tokens after its pair
  const ep = recallEpisode(task, 0, 1, 0);
  assert.ok(ep.queries.every((q) => !inWindow(q, L)));
  const changed = Uint16Array.from(ep.tokens);
  for (let i = 0; i < task.pairs; i++) {
    const j = changed[i] - BYTE_OFFSET - PAIR_BYTE;
    changed[i] = pairToken(task, Math.floor(j / task.values), (j % task.values + 1) % task.values);
  }
  const logProbsAt = (attn: Record<string, unknown>, y: Uint16Array): Float32Array => {
    const cfg = getPreset("tiny", { model: { blockLen: L, memLen: L, nCode: 8, ...attn } as never, train: { sequenceLen: 64, updateLen: 64 } }).model;
    const m = createModel({ ...cfg, vocabSize: 259 }, 1);
    const x = Int32Array.from([EOS_ID, ...Array.from(y.subarray(0, -1))]);
    const state = initState(m, 1);
    const o = forward(m, tf.tensor2d(x, [1, 64], "int32"), state, { training: false });
    const out = Float32Array.from(ep.queries.flatMap((q) => Array.from((o.logProbs.slice([0, q.pos, 0], [1, 1, 259]) as tf.Tensor).dataSync())));
    tf.dispose([o.logProbs, o.commitLoss]);
    disposeState(o.state);
    disposeState(state);
    disposeModel(m);
    return out;
  };
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i])), 0);
  const off = maxDiff(logProbsAt({ attnType: "vq-parallel", aggCache: false }, ep.tokens), logProbsAt({ attnType: "vq-parallel", aggCache: false }, changed));
  const full = maxDiff(logProbsAt({ attnType: "full" }, ep.tokens), logProbsAt({ attnType: "full" }, changed));
  const on = maxDiff(logProbsAt({ attnType: "vq-parallel", aggCache: true }, ep.tokens), logProbsAt({ attnType: "vq-parallel", aggCache: true }, changed));
  assert.ok(off < 1e-6, `cache off: the queries' log-probs move by ${off} when the pairs beyond the window change`);
  assert.ok(full > 1e-3, `full attention: the queries' log-probs move by only ${full}`);
  assert.ok(on > 1e-4, `cache on: the queries' log-probs move by only ${on}`);
});

test("Wilson interval and the accuracy summaries", () => {
  const [lo, hi] = wilsonInterval(50, 100);
  assert.ok(Math.abs(lo - 0.4038) < 1e-4 && Math.abs(hi - 0.5962) < 1e-4, `${lo} ${hi}`);
  const [l0, h0] = wilsonInterval(0, 20);
  assert.equal(l0, 0);
  assert.ok(Math.abs(h0 - 0.1611) < 1e-4, `${h0}`);
  assert.throws(() => wilsonInterval(3, 2), /need 0 ≤ k ≤ n/);
  const recs = [
    { episode: 0, distance: 3, inWindow: true, correct: true, logProb: -0.1 },
    { episode: 0, distance: 12, inWindow: true, correct: false, logProb: -2 },
    { episode: 0, distance: 40, inWindow: false, correct: true, logProb: -0.3 },
    { episode: 1, distance: 45, inWindow: false, correct: false, logProb: -1.5 },
    { episode: 1, distance: 47, inWindow: false, correct: false, logProb: -1.9 },
  ];
  assert.deepEqual(accuracyByDistance(recs, [0, 10, 20, 30, 50]), [
    { from: 0, to: 10, n: 1, accuracy: 1 }, { from: 10, to: 20, n: 1, accuracy: 0 }, { from: 30, to: 50, n: 3, accuracy: 1 / 3 },
  ]);
  assert.deepEqual(windowAccuracy(recs), { inside: 0.5, outside: 1 / 3, nInside: 2, nOutside: 3 });
});

test("a recall run writes recall.json and the accuracy columns of its row", async () => {
  await initBackend(testBackend());
  const dirs = { runsDir: fs.mkdtempSync(path.join(os.tmpdir(), "tvq-recall-")), resultsDir: fs.mkdtempSync(path.join(os.tmpdir(), "tvq-recall-")) };
  const base = { ...RECALL_BASES.smoke, steps: 2 };
  const settings = ablationSettings("variant", ["cache-off"], { "cache-off": { label: "off", overrides: { model: { aggCache: false } } } });
  const [run] = await runAblation("recall-test", base, "smoke", settings, { ...dirs, progress: false, metrics: recallMetrics(base) });
  const task = base.datasetOptions.recall.task;
  const records = readRecallRecords(run.result.runDir);
  assert.equal(records.length, base.scoredEpisodes * task.pairs);
  const w = windowAccuracy(records);
  const row = run.result.row as unknown as Record<string, number>;
  assert.equal(row.recall_acc_out, w.outside);
  assert.equal(row.recall_n_out + row.recall_n_in, records.length);
  assert.equal(row.recall_chance, 1 / task.values);
  assert.ok(row.recall_acc >= 0 && row.recall_acc <= 1);
  // a rerun reuses the row (and does not rescore)
  const mtime = fs.statSync(path.join(run.result.runDir, "recall.json")).mtimeMs;
  const [again] = await runAblation("recall-test", base, "smoke", settings, { ...dirs, progress: false, metrics: recallMetrics(base) });
  assert.equal(again.result.appended, false);
  assert.equal(fs.statSync(path.join(run.result.runDir, "recall.json")).mtimeMs, mtime);
});

test("the recall sections of several notebooks share runs: a setting trained by one call is reused by the next", async () => {
  await initBackend(testBackend());
  const dirs = { runsDir: fs.mkdtempSync(path.join(os.tmpdir(), "tvq-recall-")), resultsDir: fs.mkdtempSync(path.join(os.tmpdir(), "tvq-recall-")) };
  const base = { ...RECALL_BASES.smoke, steps: 2 };
  const first = await runRecallAblation(base, "smoke", ["S4", "cache-on"], { ...dirs, progress: false });
  assert.deepEqual(first.runs.map((r) => r.result.appended), [true, true]);
  const second = await runRecallAblation(base, "smoke", ["cache-on", "L32"], { ...dirs, progress: false, labels: { L32: "L = M = 32" } });
  assert.equal(second.runs[0].result.appended, false, "cache-on is reused, not retrained");
  assert.equal(second.runs[0].result.runDir, first.runs[1].result.runDir);
  assert.ok(second.runs[0].result.runDir.startsWith(path.join(dirs.runsDir, RECALL_EXPERIMENT)));
  assert.equal(second.runs[1].result.appended, true);
  // the rows are those of the asked settings only, the knob's config change is in them, and labels apply
  assert.deepEqual(second.rows.map((r) => r.variant).sort(), ["L32", "cache-on"]);
  const l32 = second.rows.find((r) => r.variant === "L32")!;
  assert.equal(l32["model.blockLen"], 32);
  assert.equal(l32["model.memLen"], 32);
  assert.equal(second.labels.L32, "L = M = 32");
  assert.equal(second.labels["cache-on"], "cache on (Transformer-VQ, S = 64)");
  assert.deepEqual(second.order, ["cache-on", "L32"]);
  assert.equal(second.chance, 1 / base.datasetOptions.recall.task.values);
  // one results file for every caller, one row per run
  assert.equal(readResultRows(RECALL_EXPERIMENT, dirs.resultsDir).length, 3);
  await assert.rejects(runRecallAblation(base, "smoke", ["S3"], { ...dirs, progress: false }), /variant "S3" is not known; use one of cache-on, cache-off, full, S4, S16, L8, L32/);
});

test("a shared recall run that another process holds is waited for, then trained or reused (notebooks run two at a time in CI)", async () => {
  await initBackend(testBackend());
  const dirs = { runsDir: fs.mkdtempSync(path.join(os.tmpdir(), "tvq-recall-")), resultsDir: fs.mkdtempSync(path.join(os.tmpdir(), "tvq-recall-")) };
  const base = { ...RECALL_BASES.smoke, steps: 2 };
  const runDir = path.join(dirs.runsDir, RECALL_EXPERIMENT, "smoke-u2-S4-seed0");
  // another process takes the run folder's lock and holds it for 4 s
  const holder = spawn(process.execPath, ["--import", "tsx", "-e",
    `const { acquireRunLock } = require(${JSON.stringify(path.resolve("lib/train/lock.ts"))}); const l = acquireRunLock(${JSON.stringify(runDir)}); console.log("locked"); setTimeout(() => { l.release(); }, 4000);`],
    { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on("data", (d) => { if (String(d).includes("locked")) resolve(); });
    holder.on("exit", (c) => reject(new Error(`the lock holder exited (${c}) before taking the lock`)));
  });
  const settings = ablationSettings("variant", ["S4"], { S4: { label: "S4", overrides: { model: { nCode: 4 } } } });
  await assert.rejects(runAblation(RECALL_EXPERIMENT, base, "smoke", settings, { ...dirs, progress: false }), /is in use: locked by pid/);
  const t0 = Date.now();
  const r = await runRecallAblation(base, "smoke", ["S4"], { ...dirs, progress: false });
  assert.ok(Date.now() - t0 >= 1500, `waited ${Date.now() - t0} ms for the holder`);
  assert.equal(r.runs[0].result.appended, true);
  assert.equal(r.rows.length, 1);
});
