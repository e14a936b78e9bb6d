/**
 * Ablations at CPU scale (paper v1 Sec. 5.1.x; ../shared/paper.md section 2): vary ONE knob of one base model,
 * the codebook size S, the block length L (= memory length M) or the compressive cache, train every setting with
 * several seeds, and report each metric as mean ± sample std over seeds with n. The paper's claims are directions
 * ("a larger S is more expressive but slower"; "without the compressive cache each step is about 1.1× faster and
 * Enwik8 bpb is clearly worse"), so besides the table we test the direction: the difference between two settings
 * against the spread over seeds. Every setting runs the same seeds, and a seed fixes the data order, the
 * initialization of the shared weights and the dropout masks, so the main test is paired over seeds (t on the
 * per-seed differences); Welch's t (unpaired) and the rank correlation of metric and knob over all runs
 * (Spearman's ρ) are reported beside it.
 *
 * The base model every ablation notebook starts from is `ablationBase(profile)`, so that the three notebooks
 * vary one knob of the same model and their shared setting (S = 64, L = 32, cache on) is comparable.
 */
import * as aq from "arquero";
import { Config, DeepPartial, getPreset, mergeOverrides } from "../config";
import { PATHS } from "../util/io";
import { ResultRow, flattenRow, readResultRows } from "./results";
import type { ExperimentSpec } from "./run";
import { std } from "../util/stats";
import { PALETTE, PlotlyFigure, Series, lineFigure } from "../notebook/plots";
import type { Table } from "../notebook/tables";

/** What every ablation setting shares in one profile. */
export interface AblationBase {
  /** config preset (lib/config.ts) */
  preset: string;
  /** deep-merged into the preset for every setting; a notebook merges its knob on top (mergeOverrides) */
  overrides: DeepPartial<Config>;
  /** dataset (lib/data/datasets.ts) */
  dataset: string;
  /** parameter updates per run */
  steps: number;
  /** seeds per setting */
  seeds: number[];
  /** validation tokens scored after training (the same first tokens of the split for every run) */
  evalTokens: number;
}

/**
 * The base model of the ablation notebooks.
 * - smoke (CI, seconds): the tiny preset, 3 updates, 1 seed.
 * - default: a 2-layer SHGA Transformer-VQ with d_model = 64, d_k = 16, d_v = 128 (~0.15M parameters), S = 64,
 *   T = 512 = 16 L with L = M = 32 (the cache holds 14 of the 16 blocks a late query can see), batch 8, AdamW
 *   at 3e-3 with 10 warm-up updates, 120 updates (0.5 M bytes), on the FOLDOC stand-in for Enwik8 (bytes).
 *   Measured per update on the native backend (2 threads) while other jobs shared the 2 cores (load 9-15):
 *   0.5-0.8 s at S = 4, 1.1-1.6 s at S = 64, 1.7-2.7 s at S = 128-256; cache off or full attention 0.6-0.8 s.
 * @param profile the notebook's profile, "smoke" or "default"
 */
export function ablationBase(profile: string): AblationBase {
  if (profile === "smoke") {
    return {
      preset: "tiny", dataset: "foldoc", steps: 3, seeds: [0], evalTokens: 1024,
      overrides: { train: { warmupSteps: 1, evalEvery: 0, saveEvery: 0, evalTokens: 512 } },
    };
  }
  if (profile === "default") {
    return {
      preset: "cpu-small", dataset: "foldoc", steps: 120, seeds: [0, 1, 2], evalTokens: 32_768,
      overrides: {
        model: { dModel: 64, dK: 16, dV: 128, nLayer: 2, nCode: 64, blockLen: 32, memLen: 32 },
        train: { batchSize: 8, sequenceLen: 512, updateLen: 512, lrMax: 3e-3, warmupSteps: 10, evalEvery: 0, saveEvery: 50, evalTokens: 8192 },
      },
    };
  }
  throw new Error(`profile ${JSON.stringify(profile)} is not known: set the notebook parameter profile to "smoke" or "default"`);
}

/** The full config of the base model (preset + base overrides), e.g. to show it. */
export function ablationConfig(base: AblationBase): Config {
  return getPreset(base.preset, base.overrides);
}

/** One setting of the ablated knob: its value(s) as row columns and the config change it makes. */
export interface AblationSetting {
  /** written as top-level columns of the row, e.g. {S: 64} or {variant: "cache off"} */
  params: Record<string, number | string | boolean>;
  /** merged on top of the base overrides, e.g. {model: {nCode: 64}} */
  overrides: DeepPartial<Config>;
}

/**
 * The runExperiment spec of one setting and seed: the base model with the setting's overrides, validation only,
 * run id "<profile>-u<steps>-<setting>-seed<seed>" (e.g. "default-u150-S64-seed0"), so that the profiles and
 * step counts never share a run folder.
 * @param experiment the notebook's experiment, e.g. "10-ablation-codebook-size"
 * @param base ablationBase(profile); setting: the knob's value; seed: the run's seed
 */
export function ablationSpec(experiment: string, base: AblationBase, profile: string, setting: AblationSetting, seed: number): ExperimentSpec {
  const name = Object.entries(setting.params)
    .map(([k, v]) => (typeof v === "number" ? `${k}${v}` : String(v)).replace(/[^A-Za-z0-9.]+/g, "-")).join("-");
  return {
    experiment,
    run: `${profile}-u${base.steps}-${name}-seed${seed}`,
    preset: base.preset,
    overrides: mergeOverrides(base.overrides, setting.overrides),
    dataset: base.dataset,
    steps: base.steps,
    seed,
    evalSplits: ["validation"],
    evalTokens: base.evalTokens,
    profile,
    params: { ...setting.params, seed },
  };
}

/**
 * The columns that identify the base model of an ablation's rows (profile, updates, preset, dataset, width, depth,
 * batch, T, learning rate), so that a notebook aggregates only rows of the model it trains now: rows of an older
 * base (or another steps setting) stay in results/ but do not mix into the means.
 * @param base ablationBase(profile) (with steps possibly overridden)
 * @param profile the notebook's profile
 */
export function ablationMatch(base: AblationBase, profile: string): Record<string, unknown> {
  const cfg = getPreset(base.preset, base.overrides);
  return {
    profile, steps: base.steps, preset: base.preset, dataset: base.dataset,
    "model.dModel": cfg.model.dModel, "model.nLayer": cfg.model.nLayer,
    "train.batchSize": cfg.train.batchSize, "train.sequenceLen": cfg.train.sequenceLen, "train.lrMax": cfg.train.lrMax,
  };
}

function sameCell(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (typeof a === "number" || typeof b === "number") return Number(a) === Number(b);
  return String(a) === String(b);
}

/**
 * The rows of an experiment that match every column of `match` (e.g. {profile: "default", steps: 150}), keeping
 * the latest row per run id: what a notebook aggregates, including rows that a sweep added one run at a time.
 * @param experiment e.g. "10-ablation-codebook-size"
 * @param match column -> value (nested objects are flattened, numbers compare as numbers)
 * @param dir results folder (default results/)
 */
export function ablationRows(experiment: string, match: Record<string, unknown>, dir = PATHS.results): ResultRow[] {
  const want = flattenRow(match);
  const rows = readResultRows(experiment, dir).filter((r) => Object.keys(want).every((k) => sameCell(r[k], want[k])));
  const last = new Map<unknown, number>();
  rows.forEach((r, i) => last.set(r.run ?? i, i));
  const keep = new Set(last.values());
  return rows.filter((_, i) => keep.has(i));
}

type Cell = number | string | boolean | null;

/** Values of column `by`, in `order` when given (others after, sorted), else numbers ascending / text sorted. */
function settingsOf(rows: Array<Record<string, unknown>>, by: string, order?: Cell[]): Cell[] {
  const seen: Cell[] = [];
  for (const r of rows) {
    const v = (r[by] ?? null) as Cell;
    if (!seen.some((s) => sameCell(s, v))) seen.push(v);
  }
  const rank = (v: Cell) => {
    const i = order ? order.findIndex((o) => sameCell(o, v)) : -1;
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return seen.sort((a, b) => rank(a) - rank(b) ||
    (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))));
}

/** The finite values of `metric` in the rows whose `by` equals `setting`. */
export function metricValues(rows: Array<Record<string, unknown>>, by: string, setting: Cell, metric: string): number[] {
  return rows.filter((r) => sameCell(r[by] ?? null, setting)).map((r) => r[metric])
    .filter((v): v is number => typeof v === "number" && Number.isFinite(v));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * One row per setting of `by`: the setting, n (runs), and `<metric>_mean`, `<metric>_std` (sample std over seeds,
 * 0 for one run) for each metric.
 * @param rows results rows (ablationRows)
 * @param by the knob's column, e.g. "S"
 * @param metrics e.g. ["val_bpb", "step_time_s"]
 * @param order settings in display order (e.g. ["cache on", "cache off", "full"]); default ascending
 */
export function summarizeAblation(rows: Array<Record<string, unknown>>, by: string, metrics: string[], order?: Cell[]): Table {
  const settings = settingsOf(rows, by, order);
  const cols: Record<string, Cell[]> = { [by]: settings, n: settings.map((s) => rows.filter((r) => sameCell(r[by] ?? null, s)).length) };
  for (const m of metrics) {
    const vals = settings.map((s) => metricValues(rows, by, s, m));
    cols[`${m}_mean`] = vals.map((v) => (v.length ? mean(v) : null));
    cols[`${m}_std`] = vals.map((v) => (v.length ? std(v) : null));
  }
  return aq.table(cols);
}

/** "2.853 ± 0.012 (n=3)" with `digits` decimals; "—" when there is no value. */
export function formatMeanStd(values: number[], digits = 3): string {
  if (values.length === 0) return "—";
  const m = mean(values);
  return `${m.toFixed(digits)} ± ${std(values).toFixed(digits)} (n=${values.length})`;
}

// ------------------------------------------------------------------------------------------------------------
// Is the difference bigger than the seed noise?

/** Two-sided 5% critical values of Student's t by degrees of freedom (df ≥ 1). */
const T_CRIT: Array<[number, number]> = [
  [1, 12.706], [2, 4.303], [3, 3.182], [4, 2.776], [5, 2.571], [6, 2.447], [7, 2.365], [8, 2.306], [9, 2.262],
  [10, 2.228], [12, 2.179], [15, 2.131], [20, 2.086], [30, 2.042], [60, 2.0], [120, 1.98],
];

/** The two-sided 5% critical t for `df` degrees of freedom (conservative: the value at the next lower tabled df). */
export function tCritical95(df: number): number {
  if (!(df >= 1)) return Infinity;
  let c = T_CRIT[0][1];
  for (const [d, v] of T_CRIT) if (df >= d) c = v;
  return df > 1000 ? 1.96 : c;
}

/** Welch's two-sample t test of mean(b) − mean(a). */
export interface WelchResult {
  /** mean(b) − mean(a) */
  diff: number;
  /** standard error of the difference */
  se: number;
  /** diff / se (±Infinity when both samples have no spread and differ) */
  t: number;
  /** Welch–Satterthwaite degrees of freedom */
  df: number;
  /** |t| beyond the two-sided 5% critical value */
  significant: boolean;
}

/**
 * Welch's t for the difference of means of two small samples (e.g. 3 seeds each).
 * @param a values of the first setting (≥ 2 for a test; with fewer, significant is false)
 * @param b values of the second setting
 */
export function welchT(a: number[], b: number[]): WelchResult {
  const diff = (b.length ? mean(b) : NaN) - (a.length ? mean(a) : NaN);
  if (a.length < 2 || b.length < 2) return { diff, se: NaN, t: NaN, df: NaN, significant: false };
  const va = std(a) ** 2 / a.length, vb = std(b) ** 2 / b.length;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { diff, se, t: diff === 0 ? 0 : Math.sign(diff) * Infinity, df: a.length + b.length - 2, significant: diff !== 0 };
  const df = (va + vb) ** 2 / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1));
  const t = diff / se;
  return { diff, se, t, df, significant: Math.abs(t) > tCritical95(df) };
}

/** A paired t test of b − a over matched runs (same seed: same data order, initialization and dropout). */
export interface PairedResult {
  /** mean of the per-pair differences b_i − a_i */
  diff: number;
  /** standard error of that mean */
  se: number;
  t: number;
  /** pairs − 1 */
  df: number;
  /** pairs used */
  n: number;
  significant: boolean;
}

/**
 * Paired t for two settings run with the same seeds: the seed's share of the variance (data order, initialization)
 * cancels in the per-seed differences, so this is far more sensitive than Welch's t when seeds dominate the spread.
 * @param a values of the first setting, b of the second, aligned by pair (same length)
 */
export function pairedT(a: number[], b: number[]): PairedResult {
  if (a.length !== b.length) throw new Error(`pairedT: ${a.length} values vs ${b.length}; pass one value per pair in each list`);
  const d = a.map((x, i) => b[i] - x);
  const n = d.length;
  const diff = n ? mean(d) : NaN;
  if (n < 2) return { diff, se: NaN, t: NaN, df: NaN, n, significant: false };
  const se = std(d) / Math.sqrt(n);
  const t = se === 0 ? (diff === 0 ? 0 : Math.sign(diff) * Infinity) : diff / se;
  return { diff, se, t, df: n - 1, n, significant: Math.abs(t) > tCritical95(n - 1) };
}

/** Ranks 1..n with ties averaged. */
function ranks(xs: number[]): number[] {
  const idx = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation ρ of x and y (NaN with fewer than 2 points or a constant list). */
export function spearman(x: number[], y: number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: x has ${x.length} values but y has ${y.length}; pass one y per x`);
  if (x.length < 2) return NaN;
  const rx = ranks(x), ry = ranks(y);
  const mx = mean(rx), my = mean(ry);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Does metric go the way the paper says from setting `from` to setting `to`? */
export interface TrendCheck {
  metric: string;
  from: Cell;
  to: Cell;
  /** "lower" or "higher": the paper's direction for `to` relative to `from` */
  expected: "lower" | "higher";
  welch: WelchResult;
  /** the paired test over the seeds both settings ran (undefined with fewer than 2 common seeds) */
  paired?: PairedResult;
  /** Spearman ρ of the metric vs the knob over all runs (numeric knobs only; NaN otherwise) */
  rho: number;
  /** "matches" (the expected direction, beyond seed noise), "opposite" (the other direction, beyond noise),
   *  "within noise" (|t| below the 5% critical value), "too few runs" (< 2 per setting). Decided by the paired
   *  test when both settings ran ≥ 2 common seeds, else by Welch's. */
  verdict: "matches" | "opposite" | "within noise" | "too few runs";
  /** one sentence with the numbers */
  text: string;
}

/**
 * Checks the paper's direction for `metric` between two settings of the knob `by`.
 * @param rows results rows
 * @param by the knob's column, e.g. "S" or "variant"
 * @param metric e.g. "val_bpb"
 * @param from the reference setting (e.g. the smallest S; "cache on")
 * @param to the compared setting (e.g. the largest S; "cache off")
 * @param expected the paper's direction of `to` relative to `from`
 * @param opts.digits decimals in the text (default 3); pairBy: the column that pairs runs (default "seed");
 *   source: who expects the direction, for the text (default "Paper"; e.g. "Method" where the paper is silent)
 */
export function checkTrend(rows: Array<Record<string, unknown>>, by: string, metric: string, from: Cell, to: Cell,
  expected: "lower" | "higher", opts: { digits?: number; pairBy?: string; source?: string } = {}): TrendCheck {
  const digits = opts.digits ?? 3, pairBy = opts.pairBy ?? "seed", source = opts.source ?? "Paper";
  const a = metricValues(rows, by, from, metric), b = metricValues(rows, by, to, metric);
  const welch = welchT(a, b);
  const paired = pairedByKey(rows, by, metric, from, to, pairBy);
  const numeric = rows.filter((r) => typeof r[by] === "number" && typeof r[metric] === "number" && Number.isFinite(r[metric] as number));
  const rho = numeric.length >= 2 ? spearman(numeric.map((r) => r[by] as number), numeric.map((r) => r[metric] as number)) : NaN;
  const test = paired ?? welch;
  let verdict: TrendCheck["verdict"];
  if (a.length < 2 || b.length < 2) verdict = "too few runs";
  else if (!test.significant) verdict = "within noise";
  else verdict = (test.diff < 0) === (expected === "lower") ? "matches" : "opposite";
  const name = (v: Cell) => (typeof v === "number" ? `${by}=${v}` : String(v));
  const f = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
  const tText = (r: { t: number; df: number }) => `t = ${Number.isFinite(r.t) ? r.t.toFixed(2) : String(r.t)} (df ${r.df.toFixed(paired === r ? 0 : 1)}, 5% critical ${tCritical95(r.df).toFixed(2)})`;
  const tests: string[] = [];
  if (paired) tests.push(`paired over ${paired.n} seeds: mean Δ = ${f(paired.diff)} ± ${paired.se.toFixed(digits)}, ${tText(paired)}`);
  if (Number.isFinite(welch.t)) tests.push(`Welch ${tText(welch)}`);
  if (tests.length === 0) tests.push("no test with fewer than 2 runs per setting");
  const text = `${metric}: ${name(from)} ${formatMeanStd(a, digits)} → ${name(to)} ${formatMeanStd(b, digits)}, ` +
    `Δ = ${f(welch.diff)}; ${tests.join("; ")}` +
    `${Number.isFinite(rho) ? `; Spearman ρ(${by}, ${metric}) = ${rho.toFixed(2)} over ${numeric.length} runs` : ""}. ` +
    `${source}: ${expected} for ${name(to)}. Ours: ${verdict}.`;
  return { metric, from, to, expected, welch, paired, rho, verdict, text };
}

/** The paired test of `to` − `from` over the values of `pairBy` (e.g. seeds) both settings have, or undefined. */
function pairedByKey(rows: Array<Record<string, unknown>>, by: string, metric: string, from: Cell, to: Cell, pairBy: string): PairedResult | undefined {
  const byKey = (setting: Cell) => {
    const m = new Map<string, number>();
    for (const r of rows) {
      const v = r[metric];
      if (sameCell(r[by] ?? null, setting) && r[pairBy] !== undefined && r[pairBy] !== null && typeof v === "number" && Number.isFinite(v)) m.set(String(r[pairBy]), v);
    }
    return m;
  };
  const ma = byKey(from), mb = byKey(to);
  const keys = [...ma.keys()].filter((k) => mb.has(k));
  if (keys.length < 2) return undefined;
  return pairedT(keys.map((k) => ma.get(k)!), keys.map((k) => mb.get(k)!));
}

// ------------------------------------------------------------------------------------------------------------
// Figures

export interface AblationFigureOptions {
  /** x axis title, e.g. "codebook size S" */
  x: string;
  /** y axis title with units, e.g. "validation loss (bits per byte)" */
  y: string;
  title?: string;
  /** log x axis (numeric knobs such as S or L) */
  logX?: boolean;
  logY?: boolean;
  /** settings in display order (categorical knobs) */
  order?: Cell[];
  /** legend name of the mean line (default "mean ± std over seeds") */
  name?: string;
  /** reference curves drawn dashed, e.g. the maximum entropy log2 S */
  extra?: Series[];
  /** join the single runs that share this column's value (default "seed", when the rows have it) with thin lines,
   *  so a difference that is consistent across seeds shows even when the seeds spread widely; null: markers only */
  pairBy?: string | null;
}

/**
 * Mean ± std over seeds of `metric` per setting of `by` (a line with error bars for numeric knobs, a dot plot with
 * error bars for categorical ones), with every run drawn as a small grey marker so the reader sees n and the spread.
 * @param rows results rows (ablationRows)
 * @param by the knob's column; metric: the y column
 */
export function ablationFigure(rows: Array<Record<string, unknown>>, by: string, metric: string, opts: AblationFigureOptions): PlotlyFigure {
  const settings = settingsOf(rows, by, opts.order).filter((s) => metricValues(rows, by, s, metric).length > 0);
  if (settings.length === 0) throw new Error(`ablationFigure: no run has a value of ${metric} for ${by}; check the column names (rows have: ${Object.keys(rows[0] ?? {}).slice(0, 12).join(", ")})`);
  const numeric = settings.every((s) => typeof s === "number");
  const vals = settings.map((s) => metricValues(rows, by, s, metric));
  const n = vals.map((v) => v.length);
  const nText = Math.min(...n) === Math.max(...n) ? `n=${n[0]}` : `n=${Math.min(...n)}–${Math.max(...n)}`;
  const main: Series = {
    name: opts.name ?? `mean ± std over seeds (${nText})`,
    x: settings.map((s) => (numeric ? (s as number) : String(s))),
    y: vals.map(mean), error: vals.map((v) => std(v)), color: PALETTE[0],
  };
  const xOf = (s: Cell) => (numeric ? (s as number) : String(s));
  const pairBy = opts.pairBy === undefined ? (rows.some((r) => r.seed !== undefined && r.seed !== null) ? "seed" : null) : opts.pairBy;
  const runs: Series = {
    name: "single runs", mode: "markers", color: "#888888",
    x: settings.flatMap((s, i) => vals[i].map(() => xOf(s))), y: vals.flat(),
  };
  const axisX = { title: opts.x, log: opts.logX, tickvals: numeric ? (settings as number[]) : undefined };
  const axisY = { title: opts.y, log: opts.logY };
  const extra = (opts.extra ?? []).map((e, i) => ({ dash: "dash" as const, color: PALETTE[(i + 1) % PALETTE.length], ...e }));
  // One thin grey line per pair key (seed) through its runs, drawn under the mean; one legend entry for all.
  const pairs: Array<Record<string, unknown>> = [];
  if (pairBy) {
    const keys = [...new Set(rows.map((r) => r[pairBy]).filter((k) => k !== undefined && k !== null).map(String))];
    keys.forEach((k, i) => {
      const pts = settings.map((s) => rows.find((r) => String(r[pairBy]) === k && sameCell(r[by] ?? null, s) && typeof r[metric] === "number" && Number.isFinite(r[metric] as number)))
        .map((r, j) => (r ? { x: xOf(settings[j]), y: r[metric] as number } : undefined)).filter((p): p is { x: number | string; y: number } => p !== undefined);
      if (pts.length < 2) return;
      pairs.push({
        type: "scatter", mode: "lines", name: `single runs, joined by ${pairBy}`, legendgroup: "pairs", showlegend: i === 0,
        x: pts.map((p) => p.x), y: pts.map((p) => p.y), line: { color: "#bbbbbb", width: 1.2 }, hoverinfo: "x+y+name",
      });
    });
  }
  const withPairs = (fig: PlotlyFigure): PlotlyFigure => ({ ...fig, data: [...pairs, ...fig.data] });
  if (numeric) {
    const fig = lineFigure([main, runs, ...extra], { title: opts.title, x: axisX, y: axisY, legend: true });
    (fig.data[1].marker as Record<string, unknown>).size = 6;
    (fig.data[1].marker as Record<string, unknown>).opacity = 0.7;
    return withPairs(fig);
  }
  // Categories: a dot plot (mean ± std as a large marker) rather than bars, whose axis would have to start at zero
  // and hide differences of a few hundredths of a bit.
  const fig = lineFigure([{ ...main, mode: "markers" }, runs, ...extra], { title: opts.title, x: { title: opts.x }, y: axisY, legend: true });
  (fig.data[0].marker as Record<string, unknown>).size = 14;
  (fig.data[0].marker as Record<string, unknown>).symbol = "diamond";
  fig.data[1].marker = { color: "#444444", size: 8, opacity: 0.8, symbol: "circle-open", line: { width: 1.5 } };
  return withPairs(fig);
}
