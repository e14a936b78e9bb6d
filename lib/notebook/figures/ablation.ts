/**
 * What the ablation notebooks (10, 11, 12) show: an ablation's setup as one table row, a metric's mean ± std over
 * seeds per setting as a figure with every run drawn (the runs of one seed joined, so that the paired differences
 * the verdict tests are visible), the learning curves of the first seed, and a trend verdict of
 * lib/experiments/ablation.ts checkTrend as text and as a line of the notebook's table beside the paper.
 */
import * as aq from "arquero";
import { Config, getPreset, mergeOverrides } from "../../config";
import type { Table } from "../../util/table";
import { TTestResult, mean, std, tCritical95 } from "../../util/stats";
import {
  AblationBase, AblationRun, AblationSetting, Cell, TrendCheck, ablationKnob, metricValues, settingName, settingValues,
} from "../../experiments/ablation";
import { PALETTE, PlotlyFigure, Series, lineFigure } from "../plots";
import { learningCurveFigure } from "./curves";

type Rows = Array<Record<string, unknown>>;

/**
 * One row describing an ablation: the knob's values, the base model and the run length. A config column that
 * differs between the settings lists the value per setting ("16, 8, 4, 2"), unless it only repeats the knob's.
 * One seed reads "seed 0" (a bare "0" under "seeds" reads as zero seeds), several "0, 1, 2".
 */
export function ablationSetup(base: AblationBase, settings: AblationSetting[]): Table {
  const knob = ablationKnob(settings);
  const cfgs = settings.map((s) => getPreset(base.preset, mergeOverrides(base.overrides, s.overrides)));
  const values = settings.map((s) => String(s.params[knob])).join(", ");
  const columns: Record<string, (c: Config) => number | string | boolean> = {
    attention: (c) => c.model.attnType, cache: (c) => c.model.aggCache, d_model: (c) => c.model.dModel, layers: (c) => c.model.nLayer,
    d_k: (c) => c.model.dK, d_v: (c) => c.model.dV, S: (c) => c.model.nCode, T: (c) => c.train.sequenceLen, "L = M": (c) => c.model.blockLen,
    "T / L": (c) => c.train.sequenceLen / c.model.blockLen, batch: (c) => c.train.batchSize, lr: (c) => c.train.lrMax,
  };
  const row: Record<string, Cell> = { [knob]: values, preset: base.preset, dataset: base.dataset };
  for (const [name, f] of Object.entries(columns)) {
    const per = cfgs.map(f);
    const list = per.map(String).join(", ");
    if (new Set(per).size === 1) row[name] = per[0];
    else if (list !== values) row[name] = list;
  }
  Object.assign(row, { updates: base.steps, seeds: base.seeds.length === 1 ? `seed ${base.seeds[0]}` : base.seeds.join(", "), "val tokens scored": base.evalTokens });
  return aq.from([row]);
}

/** "2.853 ± 0.012 (n=3)" with `digits` decimals; "—" when there is no value. */
export function formatMeanStd(values: number[], digits = 3): string {
  if (values.length === 0) return "—";
  return `${mean(values).toFixed(digits)} ± ${std(values).toFixed(digits)} (n=${values.length})`;
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
  /** axis labels of categorical settings, e.g. {"cache-on": "cache on (Transformer-VQ)"} (default: the value) */
  labels?: Record<string, string>;
  /** legend name of the mean line (default "mean ± std over seeds") */
  name?: string;
  /** a reference curve y = f(setting) drawn dashed at the numeric settings, e.g. the maximum entropy log2 S */
  reference?: { name: string; f: (x: number) => number };
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
export function ablationFigure(rows: Rows, by: string, metric: string, opts: AblationFigureOptions): PlotlyFigure {
  const settings = settingValues(rows, by, opts.order).filter((s) => metricValues(rows, by, s, metric).length > 0);
  if (settings.length === 0) throw new Error(`ablationFigure: no run has a value of ${metric} for ${by}; check the column names (rows have: ${Object.keys(rows[0] ?? {}).slice(0, 12).join(", ")})`);
  const numeric = settings.every((s) => typeof s === "number");
  const vals = settings.map((s) => metricValues(rows, by, s, metric));
  const n = vals.map((v) => v.length);
  const nText = Math.min(...n) === Math.max(...n) ? `n=${n[0]}` : `n=${Math.min(...n)}–${Math.max(...n)}`;
  const xOf = (s: Cell) => (typeof s === "number" && numeric ? s : opts.labels?.[String(s)] ?? String(s));
  const main: Series = {
    name: opts.name ?? `mean ± std over seeds (${nText})`,
    x: settings.map(xOf), y: vals.map(mean), error: vals.map((v) => std(v)), color: PALETTE[0],
  };
  const pairBy = opts.pairBy === undefined ? (rows.some((r) => r.seed !== undefined && r.seed !== null) ? "seed" : null) : opts.pairBy;
  const runs: Series = {
    name: "single runs", mode: "markers", color: "#888888",
    x: settings.flatMap((s, i) => vals[i].map(() => xOf(s))), y: vals.flat(),
  };
  const axisX = { title: opts.x, log: opts.logX, tickvals: numeric ? settings.filter((s): s is number => typeof s === "number") : undefined };
  const axisY = { title: opts.y, log: opts.logY };
  const ref = opts.reference;
  const extra: Series[] = ref && numeric
    ? [{ name: ref.name, x: axisX.tickvals ?? [], y: (axisX.tickvals ?? []).map(ref.f), dash: "dash", color: PALETTE[1] }] : [];
  // One thin grey line per pair key (seed) through its runs, drawn under the mean; one legend entry for all.
  const pairs: Array<Record<string, unknown>> = [];
  if (pairBy) {
    const keys = [...new Set(rows.map((r) => r[pairBy]).filter((k) => k !== undefined && k !== null).map(String))];
    keys.forEach((k, i) => {
      const pts = settings.flatMap((s) => {
        const y = metricValues(rows.filter((r) => String(r[pairBy]) === k), by, s, metric)[0];
        return y === undefined ? [] : [{ x: xOf(s), y }];
      });
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
    fig.data[1].marker = { ...(fig.data[1].marker as object), size: 6, opacity: 0.7 };
    return withPairs(fig);
  }
  // Categories: a dot plot (mean ± std as a large marker) rather than bars, whose axis would have to start at zero
  // and hide differences of a few hundredths of a bit.
  const fig = lineFigure([{ ...main, mode: "markers" }, runs], { title: opts.title, x: { title: opts.x }, y: axisY, legend: true });
  fig.data[0].marker = { ...(fig.data[0].marker as object), size: 14, symbol: "diamond" };
  fig.data[1].marker = { color: "#444444", size: 8, opacity: 0.8, symbol: "circle-open", line: { width: 1.5 } };
  return withPairs(fig);
}

/** Training loss per update of the runs of the first seed, one curve per setting (named "S=64", "cache-on"). */
export function ablationCurves(runs: AblationRun[]): PlotlyFigure {
  const seed = runs[0]?.seed;
  const curves = runs.filter((r) => r.seed === seed).map((r) => ({ name: r.name, history: r.result.history }));
  return learningCurveFigure(curves, { title: `Training loss per update, seed ${seed}` });
}

// ------------------------------------------------------------------------------------------------------------
// The verdict as text, and as a line of the table beside the paper

/** How trendText writes a verdict. */
export interface TrendTextOptions {
  /** decimals of the metric (default 3) */
  digits?: number;
  /** who expects the direction (default "Paper"; e.g. "Method" where the paper is silent) */
  source?: string;
  /** false: leave out the closing "<source>: lower for S=64. Ours: matches." (default true) */
  expectation?: boolean;
  /** a sentence appended at the end, e.g. a speed ratio */
  note?: string;
}

function pText(p: number): string {
  return p === 0 ? "0" : p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

/**
 * One sentence with the numbers of a trend check: both settings' mean ± std (n), the difference, the paired test
 * (mean Δ ± se, t, df, 5% critical t, p) and Welch's, Spearman's ρ, then the expectation and our verdict.
 */
export function trendText(c: TrendCheck, opts: TrendTextOptions = {}): string {
  const digits = opts.digits ?? 3;
  const name = (v: Cell) => settingName(c.by, v);
  const f = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
  const tText = (r: TTestResult, dfDigits: number) =>
    `t = ${Number.isFinite(r.t) ? r.t.toFixed(2) : String(r.t)} (df ${r.df.toFixed(dfDigits)}, 5% critical ${tCritical95(r.df).toFixed(2)}), p = ${pText(r.p)}`;
  const tests: string[] = [];
  if (c.paired) tests.push(`paired over ${c.paired.n} seeds: mean Δ = ${f(c.paired.diff)} ± ${c.paired.se.toFixed(digits)}, ${tText(c.paired, 0)}`);
  if (Number.isFinite(c.welch.t)) tests.push(`Welch ${tText(c.welch, 1)}`);
  if (tests.length === 0) tests.push("no test with fewer than 2 runs per setting");
  const rho = Number.isFinite(c.rho) ? `; Spearman ρ(${c.by}, ${c.metric}) = ${c.rho.toFixed(2)} over ${c.rhoRuns} runs` : "";
  const head = `${c.metric}: ${name(c.from)} ${formatMeanStd(c.fromValues, digits)} → ${name(c.to)} ${formatMeanStd(c.toValues, digits)}, ` +
    `Δ = ${f(c.welch.diff)}; ${tests.join("; ")}${rho}.`;
  const tail = opts.expectation === false ? "" : ` ${opts.source ?? "Paper"}: ${c.expected} for ${name(c.to)}. Ours: ${c.verdict}.`;
  return head + tail + (opts.note ? ` ${opts.note}` : "");
}

/** One line of a notebook's table beside the paper (results/<experiment>.paper.csv). */
export interface ComparisonLine {
  quantity: string;
  /** what the paper says */
  paper: string;
  /** what we measured */
  ours: string;
  verdict: string;
}

/**
 * A trend check as a line beside the paper's statement: ours = trendText, verdict = the check's verdict.
 * @param opts trendText's options; sides: for a claim of no difference (e.g. "on par"), names of the outcomes:
 *   the verdict then says which side won beyond noise ("<sides.higher> beyond noise"), or "<sides.none> within noise"
 */
export function trendLine(quantity: string, paper: string, check: TrendCheck,
  opts: TrendTextOptions & { sides?: { lower: string; higher: string; none: string } } = {}): ComparisonLine {
  const { sides } = opts;
  if (!sides) return { quantity, paper, ours: trendText(check, opts), verdict: check.verdict };
  const verdict = check.test === "none" ? check.verdict
    : check.significant ? `${sides[check.direction]} beyond noise` : `${sides.none} within noise`;
  return { quantity, paper, ours: trendText(check, { ...opts, expectation: false }), verdict };
}

/**
 * A metric per setting as a line beside the paper's statement, e.g. "S=4: 0.76 ± 0.02 (n=3); S=16: …"; no verdict.
 * @param opts.digits decimals; map: applied to each value first (e.g. h => 2 ** h); unit: appended to each value;
 *   best: also name the setting with the highest (lowest) mean
 */
export function valuesLine(quantity: string, paper: string, rows: Rows, by: string, metric: string,
  opts: { digits?: number; map?: (x: number) => number; unit?: string; best?: "highest" | "lowest" } = {}): ComparisonLine {
  const settings = settingValues(rows, by).filter((s) => metricValues(rows, by, s, metric).length > 0);
  const vals = settings.map((s) => metricValues(rows, by, s, metric).map(opts.map ?? ((x) => x)));
  const parts = settings.map((s, i) => `${settingName(by, s)}: ${formatMeanStd(vals[i], opts.digits)}${opts.unit ?? ""}`);
  if (opts.best && settings.length) {
    const means = vals.map(mean);
    parts.push(`${opts.best} at ${settingName(by, settings[means.indexOf((opts.best === "highest" ? Math.max : Math.min)(...means))])}`);
  }
  return { quantity, paper, ours: parts.join("; "), verdict: "—" };
}
