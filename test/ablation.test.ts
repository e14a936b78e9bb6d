// Ablation helpers (lib/experiments/ablation.ts): the shared base config is valid, overrides merge, rows are selected and
// deduplicated per run, mean ± std per setting, Welch's t / Spearman's ρ against hand-computed values, the trend
// verdicts, and the figure's traces.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mergeOverrides } from "../lib/config";
import {
  ablationBase, ablationConfig, ablationFigure, ablationMatch, ablationRows, ablationSpec, checkTrend, formatMeanStd, spearman, summarizeAblation,
  pairedT, tCritical95, welchT,
} from "../lib/experiments/ablation";
import { getPreset } from "../lib/config";
import { appendResult } from "../lib/experiments/results";

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test("ablationBase gives a valid config in both profiles; mergeOverrides merges the knob on top", () => {
  for (const profile of ["smoke", "default"]) {
    const b = ablationBase(profile);
    const cfg = getPreset(b.preset, mergeOverrides(b.overrides, { model: { nCode: 8 } }));
    assert.equal(cfg.model.nCode, 8);
    assert.ok(b.seeds.length >= (profile === "default" ? 3 : 1));
  }
  const d = getPreset(ablationBase("default").preset, ablationBase("default").overrides);
  assert.equal(d.train.sequenceLen / d.model.blockLen, 16, "T = 16 L: the compressive cache matters");
  assert.deepEqual(mergeOverrides({ model: { dModel: 64, nCode: 4 }, train: { lrMax: 1 } }, { model: { nCode: 8 } }),
    { model: { dModel: 64, nCode: 8 }, train: { lrMax: 1 } });
  assert.throws(() => ablationBase("fast"), /smoke.*default/);
});

test("ablationRows keeps the rows matching profile/steps, the latest per run id", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-ablation-"));
  appendResult("abl", { run: "a", profile: "default", steps: 10, S: 4, val_bpb: 3.0 }, { dir });
  appendResult("abl", { run: "a", profile: "default", steps: 10, S: 4, val_bpb: 2.9 }, { dir }); // rerun: latest wins
  appendResult("abl", { run: "b", profile: "default", steps: 10, S: 8, val_bpb: 2.8 }, { dir });
  appendResult("abl", { run: "c", profile: "smoke", steps: 10, S: 8, val_bpb: 9.9 }, { dir });
  appendResult("abl", { run: "d", profile: "default", steps: 20, S: 8, val_bpb: 1.0 }, { dir });
  const rows = ablationRows("abl", { profile: "default", steps: "10" }, dir);
  assert.deepEqual(rows.map((r) => [r.run, r.val_bpb]), [["a", 2.9], ["b", 2.8]]);
});

test("summarizeAblation: mean and sample std per setting, in the given order", () => {
  const rows = [
    { v: "off", bpb: 3.0, t: 1 }, { v: "on", bpb: 2.0, t: 2 }, { v: "on", bpb: 4.0, t: 2 }, { v: "full", bpb: 1.0, t: null },
  ];
  const s = summarizeAblation(rows, "v", ["bpb", "t"], ["on", "off", "full"]).objects() as Array<Record<string, unknown>>;
  assert.deepEqual(s.map((r) => r.v), ["on", "off", "full"]);
  assert.deepEqual(s.map((r) => r.n), [2, 1, 1]);
  close(s[0].bpb_mean as number, 3.0);
  close(s[0].bpb_std as number, Math.SQRT2);
  assert.equal(s[1].bpb_std, 0);
  assert.equal(s[2].t_mean, null, "no value: null, not NaN");
  const num = summarizeAblation([{ S: 64, y: 1 }, { S: 8, y: 2 }], "S", ["y"]).objects() as Array<Record<string, unknown>>;
  assert.deepEqual(num.map((r) => r.S), [8, 64], "numbers ascending");
  assert.equal(formatMeanStd([1, 2, 3]), "2.000 ± 1.000 (n=3)");
  assert.equal(formatMeanStd([]), "—");
});

test("welchT and spearman agree with hand-computed values", () => {
  // a = [1,2,3] (mean 2, var 1), b = [4,6,8] (mean 6, var 4): se = sqrt(1/3 + 4/3), t = 4 / 1.29099 = 3.0984
  const w = welchT([1, 2, 3], [4, 6, 8]);
  close(w.diff, 4);
  close(w.se, Math.sqrt(5 / 3));
  close(w.t, 4 / Math.sqrt(5 / 3));
  // df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2) = 2.7778 / 0.9444 = 2.9412
  close(w.df, (25 / 9) / ((1 / 9) / 2 + (16 / 9) / 2));
  assert.equal(tCritical95(2.94), 4.303, "df 2.94 uses the df-2 critical value (conservative)");
  assert.equal(w.significant, false, "t = 3.10 < 4.30");
  assert.equal(welchT([1, 1.1, 0.9], [5, 5.1, 4.9]).significant, true);
  assert.equal(welchT([1], [2, 3]).significant, false, "one run: no test");
  close(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  close(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // ties: x ranks [1.5, 1.5, 3], y ranks [1, 2, 3] -> rho = 0.866
  close(spearman([5, 5, 9], [1, 2, 3]), Math.sqrt(3) / 2, 1e-12);
  assert.ok(Number.isNaN(spearman([1, 1], [1, 2])));
});

test("checkTrend: matches / opposite / within noise / too few runs, with the numbers in the text", () => {
  const rows = [4, 64].flatMap((S) => [0, 1, 2].map((seed) => ({ S, seed, bpb: (S === 4 ? 3.0 : 2.8) + 0.01 * seed })));
  const good = checkTrend(rows, "S", "bpb", 4, 64, "lower");
  assert.equal(good.verdict, "matches");
  close(good.welch.diff, -0.2);
  assert.ok(good.rho < 0);
  assert.match(good.text, /S=4 3\.010 ± 0\.010 \(n=3\) → S=64 2\.810 ± 0\.010 \(n=3\), Δ = -0\.200/);
  assert.match(good.text, /Paper: lower for S=64\. Ours: matches\./);
  assert.match(checkTrend(rows, "S", "bpb", 4, 64, "lower", { source: "Method" }).text, /Method: lower for S=64/);
  assert.equal(checkTrend(rows, "S", "bpb", 4, 64, "higher").verdict, "opposite");
  const noisy = rows.map((r, i) => ({ ...r, bpb: 3 + (i % 2 ? 0.3 : -0.3) }));
  assert.equal(checkTrend(noisy, "S", "bpb", 4, 64, "lower").verdict, "within noise");
  assert.equal(checkTrend(rows.slice(0, 4), "S", "bpb", 4, 64, "lower").verdict, "too few runs");
  const cat = checkTrend([{ v: "on", y: 1 }, { v: "on", y: 1.1 }, { v: "off", y: 2 }, { v: "off", y: 2.1 }], "v", "y", "on", "off", "higher");
  assert.equal(cat.verdict, "matches");
  assert.ok(Number.isNaN(cat.rho), "no rank correlation for a categorical knob");
});

test("ablationFigure: line with error bars + single runs for numbers, a dot plot on a category axis for categories", () => {
  const rows = [4, 64, 16].flatMap((S) => [0, 1].map((seed) => ({ S, seed, bpb: 3 - S / 100 + seed / 10 })));
  const fig = ablationFigure(rows, "S", "bpb", { x: "codebook size S", y: "bpb", logX: true, pairBy: null });
  assert.equal(fig.data.length, 2);
  assert.deepEqual(fig.data[0].x, [4, 16, 64]);
  assert.equal((fig.data[0].error_y as { array: number[] }).array.length, 3);
  assert.match(String(fig.data[0].name), /n=2/);
  assert.equal((fig.data[1].y as number[]).length, 6, "every run drawn");
  // default: one grey line per seed under the mean, a single legend entry
  const joined = ablationFigure(rows, "S", "bpb", { x: "codebook size S", y: "bpb", logX: true });
  assert.equal(joined.data.length, 4);
  assert.deepEqual(joined.data.slice(0, 2).map((t) => t.showlegend), [true, false]);
  assert.deepEqual(joined.data[1].x, [4, 16, 64]);
  close((joined.data[1].y as number[])[2], 3 - 0.64 + 0.1);
  assert.match(String(joined.data[0].name), /joined by seed/);
  assert.equal((fig.layout.xaxis as { type: string }).type, "log");
  const cat = ablationFigure([{ v: "off", y: 2 }, { v: "on", y: 1 }], "v", "y", { x: "variant", y: "y", order: ["on", "off"] });
  assert.equal(cat.data[0].mode, "markers");
  assert.deepEqual(cat.data[0].x, ["on", "off"]);
  assert.equal((cat.layout.xaxis as { type: string }).type, "category");
  assert.throws(() => ablationFigure(rows, "S", "nope", { x: "S", y: "y" }), /no run has a value of nope/);
});

test("ablationSpec: the base with the setting on top, a run id per profile/steps/setting/seed; ablationMatch", () => {
  const base = ablationBase("default");
  const spec = ablationSpec("10-ablation-codebook-size", base, "default", { params: { S: 16 }, overrides: { model: { nCode: 16 } } }, 2);
  assert.equal(spec.run, "default-u120-S16-seed2");
  assert.deepEqual(spec.params, { S: 16, seed: 2 });
  assert.equal(spec.seed, 2);
  assert.equal(getPreset(spec.preset, spec.overrides).model.nCode, 16);
  assert.equal(getPreset(spec.preset, spec.overrides).model.dModel, 64, "base overrides kept");
  const v = ablationSpec("x", base, "smoke", { params: { variant: "cache off" }, overrides: {} }, 0);
  assert.equal(v.run, "smoke-u120-cache-off-seed0");
  const m = ablationMatch(base, "default");
  assert.equal(m.profile, "default");
  assert.equal(m.steps, 120);
  assert.equal(m["train.sequenceLen"], ablationConfig(base).train.sequenceLen);
});

test("pairedT: the per-seed differences; checkTrend decides by it when the settings share seeds", () => {
  // d = [0.1, 0.2, 0.3]: mean 0.2, sd 0.1, se 0.1/sqrt(3), t = 3.4641, df 2
  const p = pairedT([1, 2, 3], [1.1, 2.2, 3.3]);
  close(p.diff, 0.2);
  close(p.t, 0.2 / (0.1 / Math.sqrt(3)), 1e-9);
  assert.equal(p.df, 2);
  assert.equal(p.significant, false, "3.46 < 4.30");
  assert.throws(() => pairedT([1], [1, 2]), /one value per pair/);
  // Seeds dominate the spread (1.0 apart) but S=64 is 0.05 lower on every seed: Welch sees noise, the pairs do not.
  const rows = [4, 64].flatMap((S) => [0, 1, 2].map((seed) => ({ S, seed, bpb: 3 + seed - (S === 64 ? 0.05 + 0.001 * seed : 0) })));
  const c = checkTrend(rows, "S", "bpb", 4, 64, "lower");
  assert.equal(c.welch.significant, false);
  assert.ok(c.paired && c.paired.significant);
  assert.equal(c.verdict, "matches");
  assert.match(c.text, /paired over 3 seeds: mean Δ = -0\.051 ± 0\.001, t = -88\.\d+ \(df 2, 5% critical 4\.30\)/);
  const unpaired = checkTrend(rows.map((r) => ({ ...r, seed: r.S === 4 ? r.seed : r.seed + 10 })), "S", "bpb", 4, 64, "lower");
  assert.equal(unpaired.paired, undefined);
  assert.equal(unpaired.verdict, "within noise");
});
