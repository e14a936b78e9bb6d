/**
 * Ablations at CPU scale (paper v1 Sec. 5.1.x; docs/paper.md §2): vary ONE knob of one base model, the codebook
 * size S, the block length L (= memory length M) or the compressive cache, train every setting with several
 * seeds, and report each metric as mean ± sample std over seeds with n. The paper's claims are directions ("a
 * larger S is more expressive but slower"; "without the compressive cache each step is about 1.1× faster and
 * Enwik8 bpb is clearly worse"), so besides the table we test the direction: the difference between two settings
 * against the spread over seeds. Every setting runs the same seeds, and a seed fixes the data order, the
 * initialization of the shared weights and the dropout masks, so the main test is paired over seeds (t on the
 * per-seed differences); Welch's t (unpaired) and the rank correlation of metric and knob over all runs
 * (Spearman's ρ) are reported beside it (lib/util/stats.ts). `checkTrend` returns the verdict as fields;
 * `trendText` and `trendLine` render it for a notebook's table beside the paper.
 *
 * The base model of every ablation notebook is `ABLATION_BASES[profile]` (picked with pickProfile, which names
 * the fix for an unknown profile), so the three notebooks vary one knob of the same model and their shared
 * setting (S = 64, L = 32, cache on) is comparable.
 */
import * as aq from "arquero";
import { Config, DeepPartial, getPreset, mergeOverrides } from "../config";
import type { LoadOptions } from "../data/datasets";
import { PATHS } from "../util/io";
import type { Table } from "../util/table";
import { PairedResult, WelchResult, mean, pairedT, spearman, std, welchT } from "../util/stats";
import { ResultRow, flattenRow, readResultRows } from "./results";
import { ExperimentResult, ExperimentSpec, runExperiment } from "./run";

/** A value of a table column: what a knob's setting or a metric is in a results row. */
export type Cell = number | string | boolean | null;
type Rows = Array<Record<string, unknown>>;

/** What every ablation setting shares in one profile. */
export interface AblationBase {
  /** config preset (lib/config.ts) */
  preset: string;
  /** deep-merged into the preset for every setting; a setting merges its knob on top (mergeOverrides) */
  overrides: DeepPartial<Config>;
  /** dataset (lib/data/datasets.ts) and its loadDataset options (e.g. the recall task) */
  dataset: string;
  datasetOptions?: LoadOptions;
  /** parameter updates per run */
  steps: number;
  /** seeds per setting */
  seeds: number[];
  /** validation tokens scored after training (the same first tokens of the split for every run) */
  evalTokens: number;
}

/**
 * The base model of the ablation notebooks, per notebook profile.
 * - smoke (CI, seconds): the tiny preset, 3 updates, 1 seed.
 * - default: a 2-layer SHGA Transformer-VQ with d_model = 64, d_k = 16, d_v = 128 (~0.15M parameters), S = 64,
 *   T = 512 = 16 L with L = M = 32 (the cache holds 14 of the 16 blocks a late query can see), batch 8, AdamW
 *   at 3e-3 with 10 warm-up updates, 120 updates (0.5 M bytes), on the FOLDOC stand-in for Enwik8 (bytes).
 *   Measured per update on the native backend (2 threads) while other jobs shared the 2 cores (load 9-15):
 *   0.5-0.8 s at S = 4, 1.1-1.6 s at S = 64, 1.7-2.7 s at S = 128-256; cache off or full attention 0.6-0.8 s.
 * - long (overnight): the default model for 2,000 updates (8 M bytes, ~16× the default), a checkpoint every 100
 *   updates; at the rates above a 12-run notebook takes 6-10 hours on 2 cores. Not run for the recorded results.
 */
const DEFAULT_BASE: AblationBase = {
  preset: "cpu-small", dataset: "foldoc", steps: 120, seeds: [0, 1, 2], evalTokens: 32_768,
  overrides: {
    model: { dModel: 64, dK: 16, dV: 128, nLayer: 2, nCode: 64, blockLen: 32, memLen: 32 },
    train: { batchSize: 8, sequenceLen: 512, updateLen: 512, lrMax: 3e-3, warmupSteps: 10, evalEvery: 0, saveEvery: 50, evalTokens: 8192 },
  },
};

/** The base per profile, as described above: long is the default design run for 2,000 updates. */
export const ABLATION_BASES: Readonly<Record<"smoke" | "default" | "long", AblationBase>> = {
  smoke: {
    preset: "tiny", dataset: "foldoc", steps: 3, seeds: [0], evalTokens: 1024,
    overrides: { train: { warmupSteps: 1, evalEvery: 0, saveEvery: 0, evalTokens: 512 } },
  },
  default: DEFAULT_BASE,
  long: { ...DEFAULT_BASE, steps: 2000, overrides: mergeOverrides(DEFAULT_BASE.overrides, { train: { saveEvery: 100 } }) },
};

/**
 * A copy of `base` with a notebook's parameters on top.
 * @param params.steps updates per run (0 or unset: the base's); seeds (empty or unset: the base's);
 *   overrides merged on top of the base's (e.g. a longer T for every setting)
 */
export function customizeBase<B extends AblationBase>(base: B, params: { steps?: number; seeds?: number[]; overrides?: DeepPartial<Config> }): B {
  return {
    ...base,
    steps: params.steps || base.steps,
    seeds: params.seeds?.length ? params.seeds : base.seeds,
    overrides: mergeOverrides(base.overrides, params.overrides ?? {}),
  };
}

/** The full config of the base model (preset + base overrides), e.g. to show it. */
export function ablationConfig(base: AblationBase): Config {
  return getPreset(base.preset, base.overrides);
}

/** One setting of the ablated knob: its value(s) as row columns and the config change it makes. */
export interface AblationSetting {
  /** written as top-level columns of the row, e.g. {S: 64} or {variant: "cache-off"} */
  params: Record<string, number | string | boolean>;
  /** merged on top of the base overrides, e.g. {model: {nCode: 64}} */
  overrides: DeepPartial<Config>;
  /** a longer name for figures, e.g. "cache on (Transformer-VQ)" */
  label?: string;
}

/** A named setting of a categorical knob, e.g. "cache-off": {label: "cache off (window of M + L keys)", overrides}. */
export interface AblationChoice {
  label: string;
  overrides: DeepPartial<Config>;
}

/**
 * The settings of knob `knob` for `values`: the config change from a function of the value (numeric knobs, e.g.
 * s => ({model: {nCode: s}})) or from a table of named choices (categorical knobs; an unknown name throws).
 */
export function ablationSettings<V extends number | string>(knob: string, values: V[],
  make: ((value: V) => DeepPartial<Config>) | Record<string, AblationChoice>): AblationSetting[] {
  return values.map((v) => {
    if (typeof make === "function") return { params: { [knob]: v }, overrides: make(v) };
    const choice = make[String(v)];
    if (!choice) throw new Error(`${knob} ${JSON.stringify(v)} is not known; use one of ${Object.keys(make).join(", ")}`);
    return { params: { [knob]: v }, overrides: choice.overrides, label: choice.label };
  });
}

/** The knob the settings vary: the one column of their params. */
export function ablationKnob(settings: AblationSetting[]): string {
  const keys = [...new Set(settings.flatMap((s) => Object.keys(s.params)))];
  if (keys.length !== 1) throw new Error(`ablation settings vary ${keys.length} columns (${keys.join(", ")}); an ablation varies one knob`);
  return keys[0];
}

/**
 * The runExperiment spec of one setting and seed: the base model with the setting's overrides, validation only,
 * run id "<profile>-u<steps>-<setting>-seed<seed>" (e.g. "default-u150-S64-seed0"), so that the profiles and
 * step counts never share a run folder.
 * @param experiment the notebook's experiment, e.g. "10-ablation-codebook-size"
 * @param base the profile's base; setting: the knob's value; seed: the run's seed
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
    datasetOptions: base.datasetOptions,
    steps: base.steps,
    seed,
    evalSplits: ["validation"],
    evalTokens: base.evalTokens,
    profile,
    params: { ...setting.params, seed },
  };
}

/** One run of an ablation: which setting and seed, and what runExperiment returned (its typed row, history). */
export interface AblationRun {
  /** the setting's name in figures: "S=64" for numeric knobs, the value ("cache-on") otherwise */
  name: string;
  setting: AblationSetting;
  seed: number;
  result: ExperimentResult;
}

/**
 * Runs every setting × seed of the base through runExperiment, settings in order: interrupted runs resume,
 * finished runs are reused without training, and each new run appends one row to results/<experiment>. Prints one
 * line per run (what happened to the training, validation bpb, speed).
 * @param opts runs and results folders (default runs/ and results/; tests use temporary ones), progress bars, and
 *   task metrics for the rows (ExperimentSpec.metrics)
 */
export async function runAblation(experiment: string, base: AblationBase, profile: string, settings: AblationSetting[],
  opts: Pick<ExperimentSpec, "runsDir" | "resultsDir" | "progress" | "metrics" | "waitIfLocked"> = {}): Promise<AblationRun[]> {
  const knob = ablationKnob(settings);
  const runs: AblationRun[] = [];
  for (const setting of settings) {
    for (const seed of base.seeds) {
      const result = await runExperiment({ ...ablationSpec(experiment, base, profile, setting, seed), ...opts });
      const name = settingName(knob, setting.params[knob]);
      runs.push({ name, setting, seed, result });
      const { val_bpb: bpb, step_time_s: step, tokens_per_s: tps } = result.row;
      console.log(`${name} seed=${seed}: ${result.training}, val ${bpb.toFixed(4)} bpb, ` +
        `${step === null ? "—" : step.toFixed(3)} s/update, ${tps === null ? "—" : tps.toFixed(0)} tokens/s`);
    }
  }
  return runs;
}

// ------------------------------------------------------------------------------------------------------------
// The rows of an ablation and their mean ± std per setting

/**
 * The columns that identify the base model of an ablation's rows (profile, updates, preset, dataset, width, depth,
 * batch, T, learning rate), so that a notebook aggregates only rows of the model it trains now: rows of an older
 * base (or another steps setting) stay in results/ but do not mix into the means.
 */
export function ablationMatch(base: AblationBase, profile: string): Record<string, unknown> {
  const cfg = getPreset(base.preset, base.overrides);
  return {
    profile, steps: base.steps, preset: base.preset, dataset: base.dataset,
    "model.dModel": cfg.model.dModel, "model.nLayer": cfg.model.nLayer,
    "train.batchSize": cfg.train.batchSize, "train.sequenceLen": cfg.train.sequenceLen, "train.lrMax": cfg.train.lrMax,
  };
}

/** Equal as table cells: numbers compare as numbers ("64" = 64), the rest as text; null and undefined match nothing. */
function sameCell(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (typeof a === "number" || typeof b === "number") return Number(a) === Number(b);
  return String(a) === String(b);
}

/**
 * The last row (in file order) of each `key` value, e.g. the latest row per run id, in file order; rows without
 * a key value are all kept. A rerun of a run replaces its row in the aggregates without erasing the old one.
 * @param rows results rows, or a results table (loadResults)
 * @param key column identifying a run (default "run")
 */
export function latestRows(rows: Table, key?: string): Table;
export function latestRows<R extends Record<string, unknown>>(rows: R[], key?: string): R[];
export function latestRows<R extends Record<string, unknown>>(rows: R[] | Table, key = "run"): R[] | Table {
  const list = Array.isArray(rows) ? rows : (rows.objects() as R[]);
  const last = new Map<unknown, number>();
  list.forEach((r, i) => last.set(r[key] ?? `row ${i}`, i));
  const keep = new Set(last.values());
  const kept = list.filter((_, i) => keep.has(i));
  return Array.isArray(rows) ? kept : kept.length === list.length ? rows : aq.from(kept);
}

/**
 * The rows of an experiment that match every column of `match` (e.g. {profile: "default", steps: 150}), the latest
 * row per run id: what a notebook aggregates, including rows that a sweep added one run at a time.
 * @param match column -> value (nested objects are flattened, numbers compare as numbers)
 * @param dir results folder (default results/)
 */
export function ablationRows(experiment: string, match: Record<string, unknown>, dir = PATHS.results): ResultRow[] {
  const want = flattenRow(match);
  return latestRows(readResultRows(experiment, dir).filter((r) => Object.keys(want).every((k) => sameCell(r[k], want[k]))));
}

/** Numbers ascending, the rest as text. */
function compareCells(a: Cell, b: Cell): number {
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}

/** The groups of rows with equal `keys` (sameCell), sorted by the first key's place in `order` (others after),
 *  then by the keys (compareCells). */
function groupRows(rows: Rows, keys: string[], order?: Cell[]): Array<{ key: Cell[]; rows: Rows }> {
  const groups: Array<{ key: Cell[]; rows: Rows }> = [];
  for (const r of rows) {
    const key = keys.map((k) => (r[k] ?? null) as Cell);
    const g = groups.find((x) => x.key.every((v, i) => sameCell(v, key[i])));
    if (g) g.rows.push(r);
    else groups.push({ key, rows: [r] });
  }
  const rank = (v: Cell) => {
    const i = order ? order.findIndex((o) => sameCell(o, v)) : -1;
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return groups.sort((a, b) => rank(a.key[0]) - rank(b.key[0]) || a.key.reduce<number>((c, v, i) => c || compareCells(v, b.key[i]), 0));
}

/** The settings of column `by` in the rows, in `order` when given (others after), else numbers ascending / text sorted. */
export function settingValues(rows: Rows, by: string, order?: Cell[]): Cell[] {
  return groupRows(rows, [by], order).map((g) => g.key[0]);
}

/** The smallest and the largest setting of a numeric knob (first and last in sorted order). */
export function settingRange(rows: Rows, by: string): [Cell, Cell] {
  const all = settingValues(rows, by);
  return [all[0] ?? null, all[all.length - 1] ?? null];
}

/** A setting as text: "S=64" for a numeric knob, the value itself ("cache-on") otherwise. */
export function settingName(by: string, value: Cell): string {
  return typeof value === "number" ? `${by}=${value}` : String(value);
}

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** The finite values of `metric` in the rows whose `by` equals `setting`. */
export function metricValues(rows: Rows, by: string, setting: Cell, metric: string): number[] {
  return rows.filter((r) => sameCell(r[by] ?? null, setting)).map((r) => r[metric]).filter(finite);
}

/**
 * Mean ± sample standard deviation (n − 1; 0 for one run) over seeds per group, one row per group: the key
 * column(s), then per metric its mean and std, then n (runs of the group with a value of some metric; rows with
 * none are skipped). One metric gives the columns `mean` and `std`; a list gives `<metric>_mean`, `<metric>_std`.
 * @param rows results rows (ablationRows) or a results table
 * @param by the knob's column, e.g. "S" (or several, e.g. ["cache", "S"])
 * @param metrics e.g. "val_bpb" or ["val_bpb", "step_time_s"]
 * @param order settings of the first key in display order (e.g. ["cache-on", "cache-off", "full"]); default ascending
 */
export function summarizeAblation(rows: Rows | Table, by: string | string[], metrics: string | string[], order?: Cell[]): Table {
  const list = Array.isArray(rows) ? rows : (rows.objects() as Rows);
  const keys = Array.isArray(by) ? by : [by];
  const names = Array.isArray(metrics) ? metrics : [metrics];
  const groups = groupRows(list.filter((r) => names.some((m) => finite(r[m]))), keys, order);
  const cols: Record<string, Cell[]> = {};
  keys.forEach((k, i) => (cols[k] = groups.map((g) => g.key[i])));
  for (const m of names) {
    const vals = groups.map((g) => g.rows.map((r) => r[m]).filter(finite));
    const [mc, sc] = Array.isArray(metrics) ? [`${m}_mean`, `${m}_std`] : ["mean", "std"];
    cols[mc] = vals.map((v) => (v.length ? mean(v) : null));
    cols[sc] = vals.map((v) => (v.length ? std(v) : null));
  }
  cols.n = groups.map((g) => g.rows.length);
  return aq.table(cols);
}

// ------------------------------------------------------------------------------------------------------------
// Is the difference bigger than the seed noise?

/** Does `metric` go the expected way from setting `from` to setting `to`, beyond the spread over seeds? */
export interface TrendCheck {
  metric: string;
  by: string;
  from: Cell;
  to: Cell;
  /** the expected direction of `to` relative to `from` (the paper's, or the method's where the paper is silent) */
  expected: "lower" | "higher";
  /** the metric's values at `from` and at `to`, one per run, and their means */
  fromValues: number[];
  toValues: number[];
  fromMean: number;
  toMean: number;
  /** the test that decides: paired over the seeds both settings ran (≥ 2), else Welch's; none with < 2 runs per setting */
  test: "paired" | "welch" | "none";
  /** the sign of the deciding test's difference (to − from); "none" for no difference or no test */
  direction: "lower" | "higher" | "none";
  /** the deciding test's difference, t, degrees of freedom, two-sided p and n (pairs, or runs of both settings) */
  difference: number;
  t: number;
  df: number;
  p: number;
  n: number;
  /** p < 0.05 */
  significant: boolean;
  /** "matches" (the expected direction, beyond seed noise), "opposite" (the other one, beyond noise),
   *  "within noise" (p ≥ 0.05), "too few runs" (< 2 per setting) */
  verdict: "matches" | "opposite" | "within noise" | "too few runs";
  matchesExpectation: boolean;
  welch: WelchResult;
  paired?: PairedResult;
  /** Spearman ρ of the metric vs the knob over all `rhoRuns` runs (numeric knobs only; NaN otherwise) */
  rho: number;
  rhoRuns: number;
}

/**
 * Checks the expected direction of `metric` between two settings of the knob `by`.
 * @param rows results rows
 * @param by the knob's column, e.g. "S" or "variant"
 * @param from the reference setting (e.g. the smallest S; "cache-on"); to: the compared one
 * @param expected the direction expected for `to` relative to `from`
 * @param opts.pairBy the column that pairs runs (default "seed")
 */
export function checkTrend(rows: Rows, by: string, metric: string, from: Cell, to: Cell, expected: "lower" | "higher",
  opts: { pairBy?: string } = {}): TrendCheck {
  const a = metricValues(rows, by, from, metric), b = metricValues(rows, by, to, metric);
  const welch = welchT(a, b);
  const paired = pairedByKey(rows, by, metric, from, to, opts.pairBy ?? "seed");
  const numeric = rows.filter((r) => typeof r[by] === "number" && finite(r[metric]));
  const rho = numeric.length >= 2 ? spearman(numeric.map((r) => r[by] as number), numeric.map((r) => r[metric] as number)) : NaN;
  const enough = a.length >= 2 && b.length >= 2;
  const test = enough ? (paired ?? welch) : undefined;
  const diff = test ? test.diff : NaN;
  const direction = !test || !(Math.abs(diff) > 0) ? "none" : diff < 0 ? "lower" : "higher";
  const verdict: TrendCheck["verdict"] = !test ? "too few runs" : !test.significant ? "within noise" : direction === expected ? "matches" : "opposite";
  return {
    metric, by, from, to, expected, fromValues: a, toValues: b, fromMean: mean(a), toMean: mean(b),
    test: !test ? "none" : test === paired ? "paired" : "welch", direction, difference: diff,
    t: test?.t ?? NaN, df: test?.df ?? NaN, p: test?.p ?? NaN, n: !test ? 0 : test === paired ? paired.n : a.length + b.length,
    significant: test?.significant ?? false, verdict, matchesExpectation: verdict === "matches", welch, paired, rho, rhoRuns: numeric.length,
  };
}

/** The paired test of `to` − `from` over the values of `pairBy` (e.g. seeds) both settings have, or undefined. */
function pairedByKey(rows: Rows, by: string, metric: string, from: Cell, to: Cell, pairBy: string): PairedResult | undefined {
  const byKey = (setting: Cell) => {
    const m = new Map<string, number>();
    for (const r of rows) {
      const v = r[metric];
      if (sameCell(r[by] ?? null, setting) && r[pairBy] !== undefined && r[pairBy] !== null && finite(v)) m.set(String(r[pairBy]), v);
    }
    return m;
  };
  const ma = byKey(from), mb = byKey(to);
  const keys = [...ma.keys()].filter((k) => mb.has(k));
  if (keys.length < 2) return undefined;
  return pairedT(keys.map((k) => ma.get(k)!), keys.map((k) => mb.get(k)!));
}
