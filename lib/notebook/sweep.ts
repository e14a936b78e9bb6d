/**
 * Parameter sweeps over a notebook: the paper's ablations vary one knob (codebook size S, block length L, the
 * compressive cache) over a few values and several seeds, and report mean ± std per value. A sweep reruns one
 * notebook over the cartesian product of parameter lists (e.g. S ∈ {32, 64, 128} × seed ∈ {0, 1, 2}), one
 * combination per notebook run, and skips every combination that already has a results row, so an interrupted
 * sweep resumes where it stopped. The combinations run one after the other here (scripts/sweep.ts), or as the
 * tasks of a Slurm job array (lib/notebook/slurm.ts), which plans with the same `planSweep`.
 *
 * The contract a notebook keeps to be sweepable:
 * - its parameters cell declares each swept name with `let` (the runner injects `S = 32;` after it); a parameter
 *   that the notebook also loops over is declared as `number | number[]` and read through `asList`;
 * - it appends its results rows to results/<experiment>, where <experiment> is the notebook's file stem
 *   (`10-ablation-codebook-size.ipynb` -> "10-ablation-codebook-size") unless its metadata sets
 *   `"tvq": {"experiment": "..."}`;
 * - each row carries `profile` and every swept parameter under its own name with the value the row ran with
 *   (e.g. `S: 32, seed: 0`), so that `resultExists(experiment, {S: 32, seed: 0, profile})` finds it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PATHS } from "../util/io";
import { resultExists } from "../experiments/results";

/** One parameter value, as the notebook runner injects it (JSON). */
export type ParamValue = number | string | boolean | null | ParamValue[];

/** Parameter name -> the values to sweep, e.g. {S: [32, 64, 128], seed: [0, 1, 2]}. */
export type Grid = Record<string, ParamValue[]>;

/** One point of a grid, e.g. {S: 32, seed: 0}. */
export type Combination = Record<string, ParamValue>;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A value as the runner reads it: JSON when it parses (32, 0.1, true, [1,2], "x"), else the plain text. */
export function parseParamValue(text: string): ParamValue {
  try {
    return JSON.parse(text) as ParamValue;
  } catch {
    return text;
  }
}

/**
 * A swept value that looks like JSON (starts with [ { or ", or ends with ] or }) must be JSON: `S=[32,64` is a
 * typo of a list, and read as the string "[32,64" it would run the notebook with a value it never meant.
 */
function checkedValue(text: string, pair: string): ParamValue {
  const looksJSON = /^[[{"]/.test(text) || /[\]}]$/.test(text);
  if (looksJSON) {
    try {
      return JSON.parse(text) as ParamValue;
    } catch (e) {
      throw new Error(`--param ${pair}: the value ${text} is not valid JSON (${(e as Error).message}); ` +
        "close the brackets and quotes, e.g. --param 'S=[32,64]' for one list value or --param S=32,64 for two values");
    }
  }
  return parseParamValue(text);
}

/** Splits "32,64,[1,2],\"a,b\"" at the commas that are outside brackets and quotes. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0, quoted = false, cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\" && i + 1 < text.length) { cur += c + text[++i]; continue; }
      if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) { out.push(cur); cur = ""; continue; }
    cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * The grid of `--param name=v1,v2,...` arguments. Repeating a name adds values; commas inside [..] or "..."
 * do not split, so `--param flags=[1,2],[3]` sweeps two arrays.
 * @param pairs e.g. ["S=32,64,128", "seed=0,1,2"]
 */
export function parseGrid(pairs: string[]): Grid {
  const grid: Grid = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`--param ${JSON.stringify(pair)} must look like name=v1,v2,... (e.g. --param S=32,64,128)`);
    const name = pair.slice(0, eq).trim();
    if (!IDENT.test(name)) throw new Error(`--param name ${JSON.stringify(name)} is not a TypeScript identifier (it must name a variable of the notebook's parameters cell)`);
    if (name === "profile") throw new Error("give the profile with --profile smoke|default|long, not --param profile=...");
    const values = splitTopLevel(pair.slice(eq + 1)).map((v) => v.trim());
    if (values.some((v) => v === "")) throw new Error(`--param ${pair}: empty value in the list; write name=v1,v2 without empty entries`);
    grid[name] = [...(grid[name] ?? []), ...values.map((v) => checkedValue(v, pair))];
  }
  return grid;
}

/**
 * The cartesian product of a grid, the first name varying slowest: {S: [32, 64], seed: [0, 1]} ->
 * [{S: 32, seed: 0}, {S: 32, seed: 1}, {S: 64, seed: 0}, {S: 64, seed: 1}]. Duplicate values are dropped.
 * An empty grid gives one empty combination (run the notebook once).
 */
export function expandGrid(grid: Grid): Combination[] {
  let combos: Combination[] = [{}];
  for (const [name, values] of Object.entries(grid)) {
    if (values.length === 0) throw new Error(`grid parameter ${name} has no values; give at least one`);
    const unique = values.filter((v, i) => values.findIndex((w) => JSON.stringify(w) === JSON.stringify(v)) === i);
    combos = combos.flatMap((c) => unique.map((v) => ({ ...c, [name]: v })));
  }
  return combos;
}

/**
 * A notebook parameter that may be one value or a list, as a list: `asList(32)` -> [32], `asList([16, 32])` ->
 * [16, 32], `asList([], [16, 32])` -> [16, 32] (empty means "the profile's values").
 * @param value the parameter as injected
 * @param fallback the values to use when `value` is an empty list
 */
export function asList<T>(value: T | T[], fallback: T[] = []): T[] {
  const list = Array.isArray(value) ? value : [value];
  return list.length ? list : fallback;
}

/** "S=32 seed=0" (for log lines); "(no parameters)" for the empty combination. */
export function describeCombination(c: Combination): string {
  const parts = Object.entries(c).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return parts.length ? parts.join(" ") : "(no parameters)";
}

interface NotebookJson {
  metadata?: { tvq?: { experiment?: string } };
  cells?: Array<{ cell_type: string; source: string | string[]; metadata?: { tags?: string[] } }>;
}

function readNotebook(file: string): NotebookJson {
  if (!fs.existsSync(file)) throw new Error(`notebook ${file} does not exist`);
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as NotebookJson;
  } catch (e) {
    throw new Error(`notebook ${file} is not valid JSON (${(e as Error).message}); is it an .ipynb file?`);
  }
}

/**
 * The results experiment a notebook writes: metadata `tvq.experiment` when set, else the file stem.
 * @param file path of the .ipynb
 */
export function notebookExperiment(file: string): string {
  const nb = readNotebook(file);
  return nb.metadata?.tvq?.experiment ?? path.basename(file).replace(/\.ipynb$/, "");
}

/**
 * Throws unless the notebook's parameters cell declares every name with `let` or `var` (checked before any run,
 * so a typo fails the sweep at once instead of after the first combinations).
 */
export function checkSweepParameters(file: string, names: string[]): void {
  const nb = readNotebook(file);
  const cell = (nb.cells ?? []).find((c) => c.cell_type === "code" && (c.metadata?.tags ?? []).includes("parameters"));
  if (!cell) {
    if (names.length) throw new Error(`${path.basename(file)} has no cell tagged 'parameters', so ${names.join(", ")} cannot be set; tag the cell that declares them`);
    return;
  }
  const src = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
  const missing = names.filter((n) => !new RegExp(`\\b(?:let|var)\\s+${n.replace(/\$/g, "\\$")}\\b`).test(src));
  if (missing.length) {
    throw new Error(`${path.basename(file)}'s parameters cell does not declare ${missing.join(", ")}; known parameters: ` +
      `${[...src.matchAll(/\b(?:let|var)\s+([A-Za-z_$][A-Za-z0-9_$]*)/g)].map((m) => m[1]).join(", ")}`);
  }
}

/** What happened to one combination. */
export interface SweepOutcome {
  combination: Combination;
  status: "ran" | "skipped" | "failed";
  /** seconds the run took (0 when skipped) */
  seconds: number;
  /** why it failed */
  error?: string;
}

export interface SweepOptions {
  /** the .ipynb to rerun */
  notebook: string;
  grid: Grid;
  /** "smoke" | "default" | "long"; part of the match, so smoke rows never stand in for default runs */
  profile: string;
  /**
   * Runs the notebook once for one combination; resolves to an error text when the run failed, undefined when it
   * succeeded (scripts/sweep.ts runs the notebook runner; tests pass a fake).
   */
  run: (combination: Combination, index: number) => Promise<string | undefined>;
  /** results folder (default results/) */
  resultsDir?: string;
  /** one line per combination (default console.log) */
  log?: (line: string) => void;
  /** list the plan without running anything */
  dryRun?: boolean;
}

/** The row a combination's results must match: its parameters plus the profile. */
export function combinationMatch(c: Combination, profile: string): Record<string, unknown> {
  return { ...c, profile };
}

/** One combination of a sweep's plan, and whether its results row exists already. */
export interface PlannedCombination {
  combination: Combination;
  /** its position in grid order (0-based) */
  index: number;
  /** the experiment has a row with its parameters and profile */
  done: boolean;
}

/**
 * The plan of a sweep before anything runs: the notebook's experiment, and every grid combination (grid order)
 * marked done when results/<experiment> has its row. Throws when the notebook does not declare a swept name.
 */
export function planSweep(opts: Pick<SweepOptions, "notebook" | "grid" | "profile" | "resultsDir">): { experiment: string; items: PlannedCombination[] } {
  const experiment = notebookExperiment(opts.notebook);
  checkSweepParameters(opts.notebook, Object.keys(opts.grid));
  const dirOpt = { dir: opts.resultsDir ?? PATHS.results };
  const items = expandGrid(opts.grid).map((combination, index) => ({
    combination, index, done: resultExists(experiment, combinationMatch(combination, opts.profile), dirOpt),
  }));
  return { experiment, items };
}

/**
 * Runs `opts.notebook` once per grid combination that has no results row yet, in grid order, continuing after a
 * failure. A run that succeeds but leaves no matching row counts as failed: the notebook does not keep the
 * sweep contract (see the module comment) and the sweep could never resume past it.
 * @returns one outcome per combination
 */
export async function runSweep(opts: SweepOptions): Promise<SweepOutcome[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const { experiment, items } = planSweep(opts);
  const dirOpt = { dir: opts.resultsDir ?? PATHS.results };
  const width = String(items.length).length;
  const out: SweepOutcome[] = [];
  for (const { combination: c, index: i, done } of items) {
    const tag = `[${String(i + 1).padStart(width)}/${items.length}] ${describeCombination(c)}`;
    const match = combinationMatch(c, opts.profile);
    if (done) {
      out.push({ combination: c, status: "skipped", seconds: 0 });
      log(`${tag}: skipped (results/${experiment} has a row)`);
      continue;
    }
    if (opts.dryRun) {
      out.push({ combination: c, status: "skipped", seconds: 0, error: "dry run" });
      log(`${tag}: would run`);
      continue;
    }
    const t0 = Date.now();
    let error: string | undefined;
    try {
      error = await opts.run(c, i);
    } catch (e) {
      error = (e as Error).message;
    }
    if (error === undefined && !resultExists(experiment, match, dirOpt)) {
      error = `the notebook ran but wrote no row of results/${experiment} with ${JSON.stringify(match)}; ` +
        "each results row must carry profile and the swept parameters under their own names";
    }
    const seconds = (Date.now() - t0) / 1000;
    out.push({ combination: c, status: error === undefined ? "ran" : "failed", seconds, error });
    log(error === undefined ? `${tag}: ran in ${seconds.toFixed(1)} s` : `${tag}: FAILED after ${seconds.toFixed(1)} s: ${error}`);
  }
  return out;
}

/** "9 combinations: 3 ran, 6 skipped, 0 failed (412 s)". */
export function sweepSummary(outcomes: SweepOutcome[]): string {
  const n = (s: SweepOutcome["status"]) => outcomes.filter((o) => o.status === s && o.error !== "dry run").length;
  const planned = outcomes.filter((o) => o.error === "dry run").length;
  const secs = outcomes.reduce((a, o) => a + o.seconds, 0);
  return `${outcomes.length} combination${outcomes.length === 1 ? "" : "s"}: ${n("ran")} ran, ${n("skipped")} skipped, ` +
    `${n("failed")} failed${planned ? `, ${planned} to run (dry run)` : ""} (${secs.toFixed(0)} s)`;
}

/** The grid whose only combination is `c` ({S: 32} -> {S: [32]}), to run one combination through runSweep. */
export function combinationGrid(c: Combination): Grid {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, [v]]));
}
