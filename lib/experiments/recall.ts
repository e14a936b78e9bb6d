/**
 * The long-range recall experiment (notebook 13): models trained on the associative-recall task of
 * lib/data/recall.ts, scored by their recall accuracy. `recallAccuracy` runs held-out episodes block-recurrently
 * exactly as evaluation does (segments of updateLen tokens from a fresh state), takes the model's most likely
 * token at every query's value position, and records per query whether it is the value, how far back its pair is,
 * and whether the pair lies in the exact window of block length L. `recallMetrics` makes those the columns of a
 * results row (recall_acc_out: the accuracy on queries beyond the window, the number the cache decides), so the
 * ablation tools of ablation.ts (mean ± std over seeds, the paired test) apply unchanged (lib/notebook/figures/recall.ts draws
 * accuracy against distance). Chance is 1 / values.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { Config, mergeOverrides } from "../config";
import { atomicWriteJSON, readJSON } from "../util/io";
import { AblationBase, AblationChoice, AblationRun, ablationMatch, ablationRows, ablationSettings, runAblation } from "./ablation";
import type { ResultRow } from "./results";
import type { ExperimentSpec } from "./run";
import type { RecallOptions } from "../data/datasets";
import { forward } from "../nn/model";
import { Model } from "../nn/params";
import { disposeState, initState, replaceState, tidyWithState } from "../nn/state";
import { batchSegment, makeBatch, segmentCount } from "../data/batches";
import { targetIndices } from "../train/evaluate";
import { RecallEpisode, RecallTask, inWindow, recallChance, recallEpisode } from "../data/recall";

/** One scored query. */
export interface RecallRecord {
  episode: number;
  distance: number;
  /** the pair lies within the block and the previous one (block length L of the model) */
  inWindow: boolean;
  correct: boolean;
  /** log p(value) under the model */
  logProb: number;
}

/**
 * Scores every query of episodes [0, count) of a split.
 * @param model trained on the task; cfg: its config (T = task.T, updateLen, blockLen, batchSize)
 * @param data task, data seed and split index (0 train, 1 validation, 2 test) of the episodes
 */
export function recallAccuracy(model: Model, cfg: Config, data: { task: RecallTask; seed: number; split: number; count: number }): RecallRecord[] {
  const { task, seed, split, count } = data;
  const { sequenceLen: T, updateLen: U, batchSize: B } = cfg.train;
  if (task.T !== T) throw new Error(`the recall task has T = ${task.T} but the model's sequenceLen is ${T}: train and score on the same T`);
  const L = cfg.model.blockLen;
  const V = cfg.model.vocabSize;
  const out: RecallRecord[] = [];
  for (let e0 = 0; e0 < count; e0 += B) {
    const eps: RecallEpisode[] = [];
    for (let r = 0; r < B && e0 + r < count; r++) eps.push(recallEpisode(task, seed, split, e0 + r));
    const rows = eps.length;
    const stream = new Uint16Array(rows * T);
    eps.forEach((ep, r) => stream.set(ep.tokens, r * T));
    const batch = makeBatch(stream, Int32Array.from({ length: rows }, (_, r) => r), T);
    // argmax and log p(y) at every position [rows, T], gathered segment by segment
    const best = new Int32Array(rows * T), lp = new Float32Array(rows * T);
    let state = initState(model, rows);
    try {
      for (let j = 0; j < segmentCount(T, U); j++) {
        const seg = batchSegment(batch, j, U);
        const [next, [am, lpy]] = tidyWithState(() => {
          const o = forward(model, tf.tensor2d(seg.inputs, [rows, U], "int32"), state, { training: false });
          const flat = tf.reshape(o.logProbs, [rows * U, V]);
          const idx = tf.tensor1d(targetIndices(seg.targets, V), "int32");
          return [o.state, [tf.argMax(flat, 1), tf.gather(tf.reshape(flat, [rows * U * V]), idx)]];
        });
        state = replaceState(state, next);
        const a = am.dataSync(), l = lpy.dataSync();
        for (let r = 0; r < rows; r++) {
          for (let t = 0; t < U; t++) {
            best[r * T + j * U + t] = a[r * U + t];
            lp[r * T + j * U + t] = l[r * U + t];
          }
        }
        am.dispose();
        lpy.dispose();
      }
    } finally {
      disposeState(state);
    }
    eps.forEach((ep, r) => {
      for (const q of ep.queries) {
        out.push({ episode: e0 + r, distance: q.distance, inWindow: inWindow(q, L), correct: best[r * T + q.pos] === q.value, logProb: lp[r * T + q.pos] });
      }
    });
  }
  return out;
}

/** Accuracy of records in distance bins [edges[i], edges[i+1]); bins without records are left out. */
export function accuracyByDistance(records: RecallRecord[], edges: number[]): Array<{ from: number; to: number; n: number; accuracy: number }> {
  const bins = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const inBin = records.filter((r) => r.distance >= edges[i] && r.distance < edges[i + 1]);
    if (inBin.length) bins.push({ from: edges[i], to: edges[i + 1], n: inBin.length, accuracy: inBin.filter((r) => r.correct).length / inBin.length });
  }
  return bins;
}

/** Accuracy inside and outside the exact window (NaN where a side has no query). */
export function windowAccuracy(records: RecallRecord[]): { inside: number; outside: number; nInside: number; nOutside: number } {
  const acc = (rs: RecallRecord[]) => (rs.length ? rs.filter((r) => r.correct).length / rs.length : NaN);
  const ins = records.filter((r) => r.inWindow), outs = records.filter((r) => !r.inWindow);
  return { inside: acc(ins), outside: acc(outs), nInside: ins.length, nOutside: outs.length };
}

/** The base of the recall experiment: an ablation base on the `recall` dataset, and how many episodes are scored. */
export interface RecallBase extends AblationBase {
  datasetOptions: { recall: RecallOptions };
  /** validation episodes scored for recall accuracy (each asks `pairs` queries) */
  scoredEpisodes: number;
}

/** The default profile's recall base; the long profile is this one with more updates. */
const DEFAULT_RECALL_BASE: RecallBase = {
  preset: "cpu-small", dataset: "recall", steps: 150, seeds: [0, 1, 2], evalTokens: 16_384, scoredEpisodes: 256,
  datasetOptions: { recall: { task: { T: 256, pairs: 8, keys: 16, values: 8, minGap: 0, maxGap: 176 } } },
  overrides: {
    model: { dModel: 64, dK: 16, dV: 128, nLayer: 2, nCode: 64, blockLen: 16, memLen: 16, pDropSin: 0, pDropRes: 0 },
    train: { batchSize: 16, sequenceLen: 256, updateLen: 256, lrMax: 3e-3, warmupSteps: 10, evalEvery: 0, saveEvery: 50, evalTokens: 8192 },
  },
};

/**
 * The recall experiment per notebook profile.
 * - smoke (CI, seconds): the tiny preset on a 64-token task (4 pairs of 8 keys × 4 values), 3 updates, 1 seed.
 * - default: the ablation notebooks' model (2 layers, d_model 64, d_k 16, d_v 128, S = 64, no dropout) with
 *   L = M = 16, so the exact window is ≤ 31 tokens; T = 256; 8 pairs of 16 keys × 8 values (chance 1/8), gap
 *   0–176 tokens, so ~90 % of the queries lie beyond the window; batch 16, AdamW at 3e-3, 150 updates
 *   (2,400 of the 4,096 training episodes), 3 seeds; 256 validation episodes (2,048 queries) scored.
 * - long (overnight): the default task and model for 1,500 updates (~6 passes over the training episodes), a
 *   checkpoint every 100 updates; ~8 min per run here, 1.5-2 hours for notebook 13. Not run for the recorded results.
 */
export const RECALL_BASES: Readonly<Record<"smoke" | "default" | "long", RecallBase>> = {
  smoke: {
    preset: "tiny", dataset: "recall", steps: 3, seeds: [0], evalTokens: 1024, scoredEpisodes: 16,
    datasetOptions: { recall: { task: { T: 64, pairs: 4, keys: 8, values: 4, minGap: 0, maxGap: 40 }, episodes: { train: 256, validation: 32, test: 32 } } },
    overrides: { train: { sequenceLen: 64, updateLen: 64, warmupSteps: 1, evalEvery: 0, saveEvery: 0, evalTokens: 512 } },
  },
  default: DEFAULT_RECALL_BASE,
  long: { ...DEFAULT_RECALL_BASE, steps: 1500, overrides: mergeOverrides(DEFAULT_RECALL_BASE.overrides, { train: { saveEvery: 100 } }) },
};

/**
 * The recall experiment is one experiment whichever notebook asks for a run: notebook 13 and the recall sections of
 * the ablation notebooks 10–12 share its run folders (runs/13-long-range-recall/) and its results file, so a run
 * (same base, setting and seed, hence the same run id) is trained once and reused by every notebook that needs it.
 */
export const RECALL_EXPERIMENT = "13-long-range-recall";

/**
 * The settings of the recall experiment, as config changes of the recall base (S = 64, L = M = 16, cache on).
 * Notebook 13 compares the first four; notebook 10 adds S = 16, notebook 11 the block lengths 8 and 32.
 */
export const RECALL_VARIANTS: Readonly<Record<string, AblationChoice>> = {
  "cache-on": { label: "cache on (Transformer-VQ, S = 64)", overrides: { model: { attnType: "vq-parallel", aggCache: true } } },
  "cache-off": { label: "cache off (window only)", overrides: { model: { attnType: "vq-parallel", aggCache: false } } },
  "full": { label: "full attention (quadratic)", overrides: { model: { attnType: "full" } } },
  "S4": { label: "cache on, S = 4", overrides: { model: { attnType: "vq-parallel", aggCache: true, nCode: 4 } } },
  "S16": { label: "cache on, S = 16", overrides: { model: { attnType: "vq-parallel", aggCache: true, nCode: 16 } } },
  "L8": { label: "cache on, L = M = 8", overrides: { model: { attnType: "vq-parallel", aggCache: true, blockLen: 8, memLen: 8 } } },
  "L32": { label: "cache on, L = M = 32", overrides: { model: { attnType: "vq-parallel", aggCache: true, blockLen: 32, memLen: 32 } } },
};

/**
 * Updates per run in the recall sections of notebooks 10–12, per profile. 600 is the length at which notebook 13's
 * models use the context beyond the window (there, cache on answered 85 % of the queries beyond it after 600
 * updates and 15 % after 150), so a knob that changes how well the cache serves recall can show.
 */
export const RECALL_SECTION_STEPS: Readonly<Record<"smoke" | "default" | "long", number>> = { smoke: 3, default: 600, long: 1500 };

/** The distance bins (edges, in tokens) of the recall-by-distance figures, per profile (T = 64, 256 and 256). */
export const RECALL_EDGES: Readonly<Record<"smoke" | "default" | "long", number[]>> = {
  smoke: [0, 8, 16, 32, 64],
  default: [0, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256],
  long: [0, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256],
};

/** What runRecallAblation returns: the runs of the asked settings, their latest rows, and the task's numbers. */
export interface RecallAblation {
  runs: AblationRun[];
  /** the latest row of every run of these settings on this base (from results/13-long-range-recall) */
  rows: ResultRow[];
  /** the settings' names in order, and their labels (for figures and tables) */
  order: string[];
  labels: Record<string, string>;
  chance: number;
}

/**
 * Trains (or reuses) every seed of the named recall settings on `base` in the shared recall experiment, scores
 * them (recallMetrics), and returns their runs and rows.
 * @param variants names of RECALL_VARIANTS (an unknown name throws, listing the known ones)
 * @param opts labels: names for figures in this notebook (default: the variants' labels); runs and results
 *   folders (tests) and progress bars as in runAblation
 */
export async function runRecallAblation(base: RecallBase, profile: string, variants: string[],
  opts: Pick<ExperimentSpec, "runsDir" | "resultsDir" | "progress"> & { labels?: Record<string, string> } = {}): Promise<RecallAblation> {
  const { labels: names = {}, ...runOpts } = opts;
  const settings = ablationSettings("variant", variants, RECALL_VARIANTS as Record<string, AblationChoice>)
    .map((s) => ({ ...s, label: names[String(s.params.variant)] ?? s.label }));
  // a notebook running beside this one (CI runs two at a time) may be training a shared run: wait for it, then reuse it
  const runs = await runAblation(RECALL_EXPERIMENT, base, profile, settings, { waitIfLocked: 6 * 3600, ...runOpts, metrics: recallMetrics(base) });
  const rows = ablationRows(RECALL_EXPERIMENT, ablationMatch(base, profile), runOpts.resultsDir)
    .filter((r) => variants.includes(String(r.variant)));
  const labels = Object.fromEntries(settings.map((s) => [String(s.params.variant), s.label ?? String(s.params.variant)]));
  return { runs, rows, order: [...variants], labels, chance: recallChance(base.datasetOptions.recall.task) };
}

/** The file in a run folder that keeps the scored queries (one RecallRecord each). */
export const RECALL_FILE = "recall.json";

/**
 * The `metrics` of runExperiment for the recall task: scores `base.scoredEpisodes` validation episodes, keeps the
 * records in the run folder (recall.json), and returns the row's columns: recall_acc (all queries), recall_acc_in
 * and recall_acc_out (pair inside / beyond the exact window), their query counts, and recall_chance.
 */
export function recallMetrics(base: RecallBase) {
  const { task, seed = 0 } = base.datasetOptions.recall;
  return (run: { model: Model; config: Config; runDir: string }): Record<string, number | null> => {
    const records = recallAccuracy(run.model, run.config, { task, seed, split: 1, count: base.scoredEpisodes });
    atomicWriteJSON(path.join(run.runDir, RECALL_FILE), { task, seed, split: "validation", episodes: base.scoredEpisodes, records });
    const w = windowAccuracy(records);
    const nan = (x: number) => (Number.isFinite(x) ? x : null);
    return {
      recall_acc: records.filter((r) => r.correct).length / records.length,
      recall_acc_in: nan(w.inside), recall_acc_out: nan(w.outside), recall_n_in: w.nInside, recall_n_out: w.nOutside,
      recall_chance: recallChance(task),
    };
  };
}

/** The scored queries of a finished run (recall.json in its folder). */
export function readRecallRecords(runDir: string): RecallRecord[] {
  const file = path.join(runDir, RECALL_FILE);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: the run was scored before recall accuracy was recorded; delete its results row's run folder to rerun it`);
  return readJSON<{ records: RecallRecord[] }>(file).records;
}

/**
 * A Wilson 95 % interval for a pooled accuracy (k correct of n), to say whether a setting is at chance: chance is
 * inside the interval, or not.
 */
export function wilsonInterval(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (!(n > 0 && k >= 0 && k <= n)) throw new Error(`wilsonInterval: need 0 ≤ k ≤ n and n > 0, got k = ${k}, n = ${n}`);
  const p = k / n, d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d, h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

/** Pooled over runs: queries beyond the window, correct ones, the Wilson interval, and whether chance lies in it. */
export function beyondWindowVsChance(runs: AblationRun[], chance: number): { n: number; correct: number; accuracy: number; interval: [number, number]; atChance: boolean } {
  const rs = runs.flatMap((r) => readRecallRecords(r.result.runDir)).filter((r) => !r.inWindow);
  const correct = rs.filter((r) => r.correct).length;
  const interval = wilsonInterval(correct, rs.length);
  return { n: rs.length, correct, accuracy: correct / rs.length, interval, atChance: chance >= interval[0] && chance <= interval[1] };
}
