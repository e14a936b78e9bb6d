/**
 * Run records: every training/evaluation/benchmark run appends ONE row to results/<experiment>.jsonl and
 * results/<experiment>.csv (config, seed, metrics such as test bpb = nats / ln 2, plus when, which commit, which
 * backend), so reruns and sweeps accumulate rows instead of overwriting. The JSONL file is the source of truth;
 * the CSV mirrors it for spreadsheets, and is rewritten atomically with the union of columns when a row brings a
 * new column. `resultExists` lets a sweep skip runs that already have a row (resumable sweeps).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as aq from "arquero";
import { PATHS, ROOT, appendLine, atomicWrite, checkFileName, ensureDir, readJSONL } from "../util/io";
import { withLockFile } from "../train/lock";
import { backendInfo, describeBackend } from "../runtime/backend";
import type { Table } from "../util/table";

/** A flat record: column name -> number | string | boolean | null. */
export type ResultRow = Record<string, number | string | boolean | null>;

/** results/<experiment>.jsonl and .csv; a relative `dir` is taken from the repository root (a kernel runs in notebooks/) */
export function resultFiles(experiment: string, dir = PATHS.results): { jsonl: string; csv: string } {
  checkFileName("experiment name", experiment, "it names results/<experiment>.csv");
  const d = path.resolve(ROOT, dir);
  return { jsonl: path.join(d, `${experiment}.jsonl`), csv: path.join(d, `${experiment}.csv`) };
}

/**
 * Flattens nested objects into dotted columns ({model: {nCode: 64}} -> {"model.nCode": 64}); arrays become JSON
 * text, Dates ISO text, undefined is dropped, non-finite numbers become null (JSON has no NaN).
 * @param row any JSON-like object, e.g. {config, seed, testBpb}
 */
export function flattenRow(row: Record<string, unknown>, prefix = ""): ResultRow {
  const out: ResultRow = {};
  for (const [k, v] of Object.entries(row)) {
    const key = prefix + k;
    if (v === undefined || typeof v === "function") continue;
    if (v === null) out[key] = null;
    else if (typeof v === "number") out[key] = Number.isFinite(v) ? v : null;
    else if (typeof v === "string" || typeof v === "boolean") out[key] = v;
    else if (typeof v === "bigint") out[key] = Number(v);
    else if (v instanceof Date) out[key] = v.toISOString();
    else if (Array.isArray(v) || ArrayBuffer.isView(v)) out[key] = JSON.stringify(Array.from(v as ArrayLike<unknown>));
    else Object.assign(out, flattenRow(v as Record<string, unknown>, key + "."));
  }
  return out;
}

/**
 * The code version a result came from: short commit hash and whether tracked files had uncommitted changes.
 * Falls back to "unknown" outside a git checkout.
 */
export function gitState(cwd = ROOT): { commit: string; dirty: boolean | null } {
  const git = (args: string[]) => execFileSync("git", args, { cwd, stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 }).toString().trim();
  try {
    const commit = git(["rev-parse", "--short", "HEAD"]);
    let dirty: boolean | null = null;
    try {
      dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
    } catch {
      /* status unavailable: unknown */
    }
    return { commit, dirty };
  } catch {
    return { commit: "unknown", dirty: null };
  }
}

/** CSV field: quoted when it holds a comma, quote or newline. */
function csvField(v: number | string | boolean | null | undefined): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Splits one CSV line (the header) into fields, honouring quotes. */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { out.push(cur); cur = ""; }
    else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * Reads the rows of results/<experiment>.jsonl. A torn last line (a run killed while writing) is skipped with a
 * warning; a corrupt line elsewhere throws, naming the file and line.
 * @param experiment e.g. "10-ablation-codebook-size"
 * @param dir results folder (default results/)
 */
export function readResultRows(experiment: string, dir = PATHS.results): ResultRow[] {
  return readJSONL<ResultRow>(resultFiles(experiment, dir).jsonl);
}

/** Column names in order of first appearance, starting from `start`. */
function unionColumns(rows: ResultRow[], start: string[] = []): string[] {
  const seen = new Set(start);
  const cols = [...start];
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.has(k)) { seen.add(k); cols.push(k); }
  return cols;
}

/**
 * Appends one run's row to results/<experiment>.jsonl and .csv, adding `timestamp`, `git_commit`, `git_dirty`,
 * `backend`, `backend_detail` and `node` (a value the row already has for one of these is kept).
 * @param experiment e.g. "01-enwik8"
 * @param row the run's config and metrics; nested objects become dotted columns (see flattenRow)
 * @param opts.dir results folder (default results/)
 * @returns the flat row as written
 */
export function appendResult(experiment: string, row: Record<string, unknown>, opts: { dir?: string } = {}): ResultRow {
  const { jsonl, csv } = resultFiles(experiment, opts.dir);
  const git = gitState();
  const info = backendInfo();
  const flat: ResultRow = {
    timestamp: new Date().toISOString(),
    ...flattenRow(row),
  };
  const meta: ResultRow = {
    git_commit: git.commit, git_dirty: git.dirty,
    backend: info ? info.name : "none", backend_detail: describeBackend(info).replace(/^backend: /, ""),
    node: process.version,
  };
  for (const [k, v] of Object.entries(meta)) if (!(k in flat)) flat[k] = v;
  // One writer at a time per experiment: concurrent sweep tasks (a Slurm array) append to the same files, and the
  // CSV is rewritten from the JSONL when a row brings new columns; unlocked, two rewrites could drop or double a row.
  ensureDir(path.dirname(jsonl));
  withLockFile(`${jsonl}.lock`, () => writeRow(experiment, flat, jsonl, csv, opts.dir));
  return flat;
}

/** appendResult's writes, under the experiment's lock: the JSONL line, then the CSV line or the CSV rewritten. */
function writeRow(experiment: string, flat: ResultRow, jsonl: string, csv: string, dir: string | undefined): void {
  appendLine(jsonl, JSON.stringify(flat));

  // CSV: append when the header already has every column, else rewrite it from the JSONL with the union header.
  const header = fs.existsSync(csv) ? parseCsvLine(fs.readFileSync(csv, "utf8").split("\n")[0].replace(/\r$/, "")) : [];
  const fits = header.length > 0 && Object.keys(flat).every((k) => header.includes(k));
  if (fits) {
    appendLine(csv, header.map((k) => csvField(flat[k])).join(","));
  } else {
    atomicWrite(csv, csvText(readResultRows(experiment, dir), header.filter((h) => h !== "")));
  }
}

/** The CSV mirror of `rows`: the union of their columns (those of `start` first), one line per row. */
function csvText(rows: ResultRow[], start: string[] = []): string {
  const cols = unionColumns(rows, start);
  return [cols.map(csvField).join(","), ...rows.map((r) => cols.map((k) => csvField(r[k])).join(","))].join("\n") + "\n";
}

/**
 * Writes `rows` as a fresh <experiment>.jsonl and .csv in `dir`, each atomically (e.g. a committed copy of some
 * rows, lib/notebook/record.ts); appendResult is the way to add a run's row.
 * @returns the two files written
 */
export function writeResultRows(experiment: string, rows: ResultRow[], dir: string): { jsonl: string; csv: string } {
  const files = resultFiles(experiment, dir);
  ensureDir(dir);
  atomicWrite(files.jsonl, rows.map((r) => JSON.stringify(r) + "\n").join(""));
  atomicWrite(files.csv, csvText(rows));
  return files;
}

/**
 * All runs of an experiment as an arquero table (one row per run; columns are the union over runs, missing
 * values are null). An experiment without results gives an empty table.
 * @param experiment e.g. "10-ablation-codebook-size"
 * @param opts.dir results folder (default results/)
 */
export function loadResults(experiment: string, opts: { dir?: string } = {}): Table {
  const rows = readResultRows(experiment, opts.dir);
  const cols: Record<string, Array<number | string | boolean | null>> = {};
  for (const c of unionColumns(rows)) cols[c] = rows.map((r) => (c in r ? r[c] : null));
  return aq.table(cols);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (typeof a === "number" || typeof b === "number") return Number(a) === Number(b);
  return String(a) === String(b);
}

/**
 * True when some row of the experiment has every key of `match` with an equal value (numbers compare as numbers,
 * so "64" matches 64). Resumable sweeps skip such runs.
 * @param experiment e.g. "10-ablation-codebook-size"
 * @param match the run's parameters, e.g. {"model.nCode": 64, seed: 1, profile: "default"} (nested objects are flattened)
 * @param opts.dir results folder (default results/)
 */
export function resultExists(experiment: string, match: Record<string, unknown>, opts: { dir?: string } = {}): boolean {
  const want = flattenRow(match);
  const keys = Object.keys(want);
  return readResultRows(experiment, opts.dir).some((r) => keys.every((k) => k in r && sameValue(r[k], want[k])));
}

// ---------------------------------------------------------------------------------------------------------
