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
  ABLATION_BASES, AblationBase, ablationConfig, ablationMatch, ablationRows, ablationSettings, ablationSpec, checkTrend, customizeBase,
  latestRows, runAblation, settingRange, summarizeAblation,
} from "../lib/experiments/ablation";
import { ablationCurves, ablationFigure, ablationSetup, formatMeanStd, trendLine, trendText, valuesLine } from "../lib/notebook/figures/ablation";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import * as aq from "arquero";
import { pairedT, spearman, tCritical95, welchT } from "../lib/util/stats";
import { pickProfile } from "../lib/notebook/profiles";
import { RECALL_BASES, RECALL_SECTION_STEPS } from "../lib/experiments/recall";
import { getPreset } from "../lib/config";
import { appendResult } from "../lib/experiments/results";

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test("ABLATION_BASES gives a valid config in both profiles (pickProfile picks it); mergeOverrides merges the knob on top", () => {
  for (const profile of ["smoke", "default", "long"]) {
    const b = pickProfile(profile, ABLATION_BASES);
    const cfg = getPreset(b.preset, mergeOverrides(b.overrides, { model: { nCode: 8 } }));
    assert.equal(cfg.model.nCode, 8);
    assert.ok(b.seeds.length >= (profile === "smoke" ? 1 : 3));
  }
  const d = getPreset(ABLATION_BASES.default.preset, ABLATION_BASES.default.overrides);
  assert.equal(d.train.sequenceLen / d.model.blockLen, 16, "T = 16 L: the compressive cache matters");
  assert.deepEqual(mergeOverrides({ model: { dModel: 64, nCode: 4 }, train: { lrMax: 1 } }, { model: { nCode: 8 } }),
    { model: { dModel: 64, nCode: 8 }, train: { lrMax: 1 } });
  assert.throws(() => pickProfile("fast", ABLATION_BASES), /smoke.*default/);
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
  // The exact t quantile: at a df of the old table it rounds to the tabled value; Welch's fractional df lies between.
  close(tCritical95(2), 4.303, 5e-4);
  assert.ok(tCritical95(2.94) > tCritical95(3) && tCritical95(2.94) < tCritical95(2), "df 2.94 lies between the df-3 and df-2 values");
  assert.equal(w.significant, false, "t = 3.10 < 3.22");
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
  assert.match(trendText(good), /S=4 3\.010 ± 0\.010 \(n=3\) → S=64 2\.810 ± 0\.010 \(n=3\), Δ = -0\.200/);
  assert.match(trendText(good), /Paper: lower for S=64\. Ours: matches\./);
  assert.match(trendText(checkTrend(rows, "S", "bpb", 4, 64, "lower"), { source: "Method" }), /Method: lower for S=64/);
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
  const base = ABLATION_BASES.default;
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
  assert.match(trendText(c), /paired over 3 seeds: mean Δ = -0\.051 ± 0\.001, t = -88\.\d+ \(df 2, 5% critical 4\.30\)/);
  const unpaired = checkTrend(rows.map((r) => ({ ...r, seed: r.S === 4 ? r.seed : r.seed + 10 })), "S", "bpb", 4, 64, "lower");
  assert.equal(unpaired.paired, undefined);
  assert.equal(unpaired.verdict, "within noise");
});

test("p-values and t quantiles: closed forms at df 1 and 2, the conventions without spread", () => {
  // df 2: p = 1 − |t| / sqrt(2 + t²); the paired d = [0.1, 0.2, 0.3] has t = 2√3
  const p = pairedT([1, 2, 3], [1.1, 2.2, 3.3]);
  close(p.p, 1 - p.t / Math.sqrt(2 + p.t * p.t), 1e-9);
  // df 1 (Cauchy): the 97.5% quantile is tan(0.475π)
  close(tCritical95(1), Math.tan(0.475 * Math.PI), 1e-6);
  close(tCritical95(1e7), 1.959964, 1e-5);
  assert.equal(tCritical95(NaN), Infinity);
  const w = welchT([1, 2, 3], [4, 6, 8]);
  assert.ok(w.p > 0.05 && w.p < 0.06, `Welch p ${w.p}`);
  assert.equal(w.significant, w.p < 0.05);
  const flat = pairedT([1, 2, 3], [2, 3, 4]);
  assert.deepEqual([flat.t, flat.p, flat.df, flat.significant], [Infinity, 0, 2, true]);
  assert.deepEqual([pairedT([1, 2], [1, 2]).t, pairedT([1, 2], [1, 2]).p], [0, 1]);
  const same = welchT([1, 1, 1], [2, 2, 2]);
  assert.deepEqual([same.t, same.p, same.df, same.significant], [Infinity, 0, 4, true]);
  assert.ok(Number.isNaN(welchT([1], [2, 3]).p));
});

test("checkTrend fields: the deciding test, direction, difference, t, p, n; trendLine and valuesLine", () => {
  const rows = [4, 16, 64].flatMap((S) => [0, 1, 2].map((seed) => ({ S, seed, bpb: 3 - S / 1000 + 0.1 * seed + 0.001 * (seed * S % 7) })));
  const [lo, hi] = settingRange(rows, "S");
  assert.deepEqual([lo, hi], [4, 64]);
  const c = checkTrend(rows, "S", "bpb", lo, hi, "lower");
  assert.equal(c.test, "paired");
  assert.equal(c.direction, "lower");
  assert.equal(c.difference, c.paired!.diff);
  assert.deepEqual([c.t, c.df, c.p, c.n], [c.paired!.t, 2, c.paired!.p, 3]);
  assert.equal(c.significant, c.p < 0.05);
  assert.equal(c.matchesExpectation, c.verdict === "matches");
  close(c.fromMean, 3 - 0.004 + 0.1 + 0.001 * ((0 + 4 + 1) / 3), 1e-12);
  const few = checkTrend(rows.slice(0, 1), "S", "bpb", 4, 64, "lower");
  assert.deepEqual([few.test, few.direction, few.n, few.verdict, few.matchesExpectation], ["none", "none", 0, "too few runs", false]);
  const line = trendLine("loss as S grows", "lower", c, { digits: 4 });
  assert.deepEqual([line.quantity, line.paper, line.verdict], ["loss as S grows", "lower", c.verdict]);
  assert.equal(line.ours, trendText(c, { digits: 4 }));
  assert.match(line.ours, /, p = \d/);
  const sides = { lower: "VQ better", higher: "VQ worse", none: "on par" };
  const par = trendLine("VQ vs full", "on par", c, { sides, note: "Note." });
  assert.equal(par.verdict, c.significant ? "VQ better beyond noise" : "on par within noise");
  assert.doesNotMatch(par.ours, /Paper:|Ours:/);
  assert.match(par.ours, / Note\.$/);
  assert.equal(trendLine("q", "p", few, { sides }).verdict, "too few runs");
  const v = valuesLine("usage", "not reported", [{ S: 8, h: 2 }, { S: 4, h: 1 }, { S: 4, h: 3 }], "S", "h", { digits: 1, map: (h) => 2 ** h, unit: " codes", best: "highest" });
  assert.deepEqual(v, { quantity: "usage", paper: "not reported", ours: "S=4: 5.0 ± 4.2 (n=2) codes; S=8: 4.0 ± 0.0 (n=1) codes; highest at S=4", verdict: "—" });
});

test("ablationSettings, customizeBase, ablationSetup: one knob, the notebook's parameters, the setup row", () => {
  const byL = ablationSettings("L", [32, 64], (l) => ({ model: { blockLen: l, memLen: l } }));
  assert.deepEqual(byL.map((s) => s.params), [{ L: 32 }, { L: 64 }]);
  const choices = { on: { label: "cache on", overrides: { model: { aggCache: true } } }, off: { label: "cache off", overrides: { model: { aggCache: false } } } };
  assert.deepEqual(ablationSettings("variant", ["off"], choices), [{ params: { variant: "off" }, overrides: { model: { aggCache: false } }, label: "cache off" }]);
  assert.throws(() => ablationSettings("variant", ["none"], choices), /variant "none" is not known; use one of on, off/);
  const base = customizeBase(ABLATION_BASES.default, { steps: 0, seeds: [], overrides: { train: { lrMax: 1e-3 } } });
  assert.deepEqual([base.steps, base.seeds], [120, [0, 1, 2]], "0 and [] keep the profile's");
  assert.equal(ablationConfig(base).train.lrMax, 1e-3);
  assert.equal(ablationConfig(base).model.dModel, 64, "base overrides kept");
  assert.deepEqual(customizeBase(base, { steps: 7, seeds: [5] }).seeds, [5]);
  const row = ablationSetup(base, ablationSettings("L", [32, 64, 128], (l) => ({ model: { blockLen: l, memLen: l } }))).objects()[0] as Record<string, unknown>;
  assert.equal(row.L, "32, 64, 128");
  assert.equal(row["T / L"], "16, 8, 4", "a config column that varies lists its values");
  assert.ok(!("L = M" in row), "a column repeating the knob is left out");
  assert.deepEqual([row.S, row.T, row.updates, row.seeds], [64, 512, 120, "0, 1, 2"]);
  assert.throws(() => ablationSetup(base, [{ params: { S: 4, L: 8 }, overrides: {} }]), /vary 2 columns \(S, L\)/);
});

test("latestRows: arrays and tables, rows without a run id all kept", () => {
  const rows = [{ run: "a", v: 1 }, { v: 9 }, { run: "b", v: 2 }, { v: 8 }, { run: "a", v: 3 }];
  assert.deepEqual(latestRows(rows), [{ v: 9 }, { run: "b", v: 2 }, { v: 8 }, { run: "a", v: 3 }]);
  const t = aq.from([{ x: 1 }, { x: 2 }]);
  assert.equal(latestRows(t), t, "no run column: the table itself");
  assert.deepEqual(latestRows(aq.from([{ id: 1, v: 1 }, { id: 1, v: 2 }]), "id").objects(), [{ id: 1, v: 2 }]);
});

test("runAblation trains every setting x seed once; a rerun reuses the runs; ablationCurves draws the first seed", async () => {
  await initBackend(testBackend());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-ablation-run-"));
  const corpus = path.join(dir, "corpus.txt");
  fs.writeFileSync(corpus, Array.from({ length: 400 }, (_, i) => `line ${i % 37} of the ablation test corpus.`).join("\n"));
  const base: AblationBase = { ...ABLATION_BASES.smoke, dataset: `file:${corpus}`, steps: 2, seeds: [0, 1], evalTokens: 128 };
  const settings = ablationSettings("S", [4, 8], (s) => ({ model: { nCode: s } }));
  const opts = { runsDir: path.join(dir, "runs"), resultsDir: path.join(dir, "results"), progress: false };
  const runs = await runAblation("abl-run", base, "smoke", settings, opts);
  assert.deepEqual(runs.map((r) => [r.name, r.seed, r.result.training]), [["S=4", 0, "fresh"], ["S=4", 1, "fresh"], ["S=8", 0, "fresh"], ["S=8", 1, "fresh"]]);
  assert.equal(runs[2].result.row["model.nCode"], 8);
  const again = await runAblation("abl-run", base, "smoke", settings, opts);
  assert.deepEqual(again.map((r) => r.result.training), ["reused", "reused", "reused", "reused"]);
  const rows = ablationRows("abl-run", ablationMatch(base, "smoke"), opts.resultsDir);
  assert.equal(rows.length, 4, "one row per run, none added by the rerun");
  const fig = ablationCurves(runs);
  assert.deepEqual(fig.data.map((t) => t.name), ["S=4: train", "S=8: train"]);
  assert.match(String((fig.layout.title as { text: string }).text), /seed 0/);
});

test("the long profiles are the default designs run longer (more updates, checkpoints every 100), nothing else", () => {
  for (const [bases, name] of [[ABLATION_BASES, "ABLATION_BASES"], [RECALL_BASES, "RECALL_BASES"]] as const) {
    const { steps: ds, overrides: dov, ...drest } = bases.default;
    const { steps: ls, overrides: lov, ...lrest } = bases.long;
    assert.deepEqual(lrest, drest, `${name}.long differs from default beyond steps`);
    assert.ok(ls >= 2.5 * ds, `${name}.long: ${ls} updates against ${ds}`);
    assert.equal(lov.train?.saveEvery, 100);
    assert.deepEqual(mergeOverrides(lov, { train: { saveEvery: dov.train?.saveEvery } }), dov);
  }
  assert.ok(RECALL_SECTION_STEPS.long > RECALL_SECTION_STEPS.default);
});
