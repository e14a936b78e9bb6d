/**
 * Statistics over repeats and seeds: the central value and spread of a list of numbers, and whether a difference
 * between two settings is bigger than the spread over seeds (Student's t: paired over seeds, or Welch's unpaired
 * t; Spearman's rank correlation of a metric with a knob). The tests and the t quantile come from @stdlib and
 * simple-statistics; this module only fixes their conventions for small samples: fewer than two values give NaN
 * and no test, and two samples without spread that differ give t = ±Infinity (p = 0) instead of NaN.
 */
import ttest from "@stdlib/stats-ttest";
import ttest2 from "@stdlib/stats-ttest2";
import tQuantile from "@stdlib/stats-base-dists-t-quantile";
import { sampleRankCorrelation } from "simple-statistics";

/** Arithmetic mean (NaN for an empty list). */
export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const mu = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - mu) * (b - mu), 0) / (xs.length - 1));
}

/** The two-sided 5% critical value of Student's t with `df` degrees of freedom (fractional df allowed, as
 *  Welch's are); Infinity without a valid df. */
export function tCritical95(df: number): number {
  return df > 0 ? tQuantile(0.975, df) : Infinity;
}

/** The result of a t test of a difference of means. */
export interface TTestResult {
  /** the difference: mean(b) − mean(a) (Welch) or the mean of b_i − a_i (paired) */
  diff: number;
  /** standard error of the difference */
  se: number;
  /** diff / se (±Infinity when there is no spread and the means differ) */
  t: number;
  /** degrees of freedom (Welch–Satterthwaite for Welch, pairs − 1 for paired) */
  df: number;
  /** two-sided p-value */
  p: number;
  /** p < 0.05 (|t| beyond the two-sided 5% critical value) */
  significant: boolean;
}

/** Welch's two-sample t test of mean(b) − mean(a). */
export type WelchResult = TTestResult;

/** A paired t test of b − a over matched runs (same seed: same data order, initialization and dropout). */
export interface PairedResult extends TTestResult {
  /** pairs used */
  n: number;
}

/** No test possible (fewer than 2 values), or no spread: the conventions of the module comment. */
function degenerate(diff: number, se: number, df: number): TTestResult {
  if (Number.isNaN(se)) return { diff, se, t: NaN, df: NaN, p: NaN, significant: false };
  const t = diff === 0 ? 0 : Math.sign(diff) * Infinity;
  return { diff, se, t, df, p: diff === 0 ? 1 : 0, significant: diff !== 0 };
}

/**
 * Welch's t for the difference of means of two small samples (e.g. 3 seeds each), unequal variances.
 * @param a values of the first setting (≥ 2 for a test; with fewer, significant is false)
 * @param b values of the second setting
 */
export function welchT(a: number[], b: number[]): WelchResult {
  const diff = mean(b) - mean(a);
  if (a.length < 2 || b.length < 2) return degenerate(diff, NaN, NaN);
  const se = Math.sqrt(std(a) ** 2 / a.length + std(b) ** 2 / b.length);
  if (se === 0) return degenerate(diff, se, a.length + b.length - 2);
  const r = ttest2(b, a, { variance: "unequal" });
  return { diff, se, t: r.statistic, df: r.df, p: r.pValue, significant: r.pValue < 0.05 };
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
  const diff = mean(d);
  if (n < 2) return { ...degenerate(diff, NaN, NaN), n };
  const se = std(d) / Math.sqrt(n);
  if (se === 0) return { ...degenerate(diff, se, n - 1), n };
  const r = ttest(d);
  return { diff, se, t: r.statistic, df: r.df, p: r.pValue, significant: r.pValue < 0.05, n };
}

/** Spearman's rank correlation ρ of x and y (ties share their mean rank; NaN with fewer than 2 points or a
 *  constant list). */
export function spearman(x: number[], y: number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: x has ${x.length} values but y has ${y.length}; pass one y per x`);
  return x.length < 2 ? NaN : sampleRankCorrelation(x, y);
}
