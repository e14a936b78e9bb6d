/**
 * Recorded results: a committed copy of a notebook's default run, so that the numbers its "What we found" section
 * quotes exist for every reader, not only on the machine that ran it (results/ and figures/ are git-ignored).
 *
 *   docs/results/results/<experiment>.{jsonl,csv}  the default-profile rows (smoke rows left out), as written
 *   docs/results/results/<experiment>*.paper.csv   the notebook's verdicts beside the paper (default profile)
 *   docs/results/figures/<NN>-*.{png,svg}          the notebook's default-profile figures (the 5 MB HTML left out)
 *   docs/results/records/<experiment>.json         when, on which machine and backend, at which commit
 *   docs/results/summary.md                        the records, then scripts/summary.ts's page over the copies
 *
 * `recordResults` copies one experiment (atomically, file by file) and returns its record; `npm run record` is
 * the command line (scripts/record-results.ts), which also rewrites summary.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PATHS, ROOT, atomicWrite, atomicWriteJSON, ensureDir, readJSON } from "../util/io";
import { readResultRows, resultFiles, writeResultRows } from "../experiments/results";
import { splitProfiledName } from "./profiles";

/** Where the recorded results live. */
export const RECORDED_DIR = path.join(ROOT, "docs", "results");

/** What a recorded copy says about the run it copies. */
export interface ResultRecord {
  experiment: string;
  /** when the copy was made (ISO 8601) */
  recorded: string;
  /** the rows' git commits (and whether the tree was dirty when a row was written) */
  commits: string[];
  dirty: boolean;
  /** the rows' backends (backend_detail) */
  backends: string[];
  /** first and last row timestamps */
  ran: [string, string];
  rows: number;
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string; loadAverage: number[] };
  files: string[];
  note?: string;
}

export interface RecordOptions {
  /** folders read (default results/ and figures/) and written (default docs/results/) */
  resultsDir?: string;
  figuresDir?: string;
  outDir?: string;
  /** a sentence kept with the record, e.g. "machine shared with a test run" */
  note?: string;
}

/**
 * Copies the default-profile rows, verdicts and figures of `experiment` into the recorded folder and writes its
 * record. Throws, naming the command that makes them, when there are no default-profile rows.
 */
export function recordResults(experiment: string, opts: RecordOptions = {}): ResultRecord {
  const resultsDir = opts.resultsDir ?? PATHS.results, figuresDir = opts.figuresDir ?? PATHS.figures, outDir = opts.outDir ?? RECORDED_DIR;
  const files = resultFiles(experiment, resultsDir);
  if (!fs.existsSync(files.jsonl)) {
    throw new Error(`${files.jsonl} does not exist: run the notebook's default profile first (npm run main -- notebooks/${experiment}.ipynb)`);
  }
  const rows = readResultRows(experiment, resultsDir).filter((r) => r.profile === "default");
  if (rows.length === 0) {
    throw new Error(`${files.jsonl} has no default-profile rows (only smoke runs): run npm run main -- notebooks/${experiment}.ipynb, then record`);
  }
  const written: string[] = [];
  const put = (rel: string, data: string | Uint8Array) => {
    const file = path.join(outDir, rel);
    ensureDir(path.dirname(file));
    atomicWrite(file, data);
    written.push(rel);
  };
  const copies = writeResultRows(experiment, rows, path.join(outDir, "results"));
  written.push(...[copies.jsonl, copies.csv].map((f) => path.relative(outDir, f)));
  // the verdicts: <experiment>.paper.csv, and those of runs of another length (<experiment>-u600.paper.csv), not smoke's
  for (const f of fs.readdirSync(resultsDir).sort()) {
    const stem = f.endsWith(".paper.csv") ? f.slice(0, -".paper.csv".length) : "";
    if ((stem === experiment || stem.startsWith(`${experiment}-`)) && splitProfiledName(stem).profile === "default") put(`results/${f}`, fs.readFileSync(path.join(resultsDir, f)));
  }
  // the notebook's figures are named after its number ("13-recall-by-distance"); smoke-profile ones are left out
  const prefix = `${experiment.split("-")[0]}-`;
  if (fs.existsSync(figuresDir)) {
    for (const f of fs.readdirSync(figuresDir).sort()) {
      const ext = path.extname(f);
      if (!f.startsWith(prefix) || (ext !== ".png" && ext !== ".svg")) continue;
      if (splitProfiledName(path.basename(f, ext)).profile !== "default") continue;
      put(`figures/${f}`, fs.readFileSync(path.join(figuresDir, f)));
    }
  }
  const stamps = rows.map((r) => String(r.timestamp ?? "")).filter(Boolean).sort();
  const record: ResultRecord = {
    experiment,
    recorded: new Date().toISOString(),
    commits: [...new Set(rows.map((r) => String(r.git_commit ?? "unknown")))],
    dirty: rows.some((r) => r.git_dirty === true),
    backends: [...new Set(rows.map((r) => String(r.backend_detail ?? r.backend ?? "unknown")))],
    ran: [stamps[0] ?? "", stamps[stamps.length - 1] ?? ""],
    rows: rows.length,
    machine: {
      cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`, node: process.version, loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    },
    files: written,
    ...(opts.note ? { note: opts.note } : {}),
  };
  ensureDir(path.join(outDir, "records"));
  atomicWriteJSON(path.join(outDir, "records", `${experiment}.json`), record);
  return record;
}

/** Every record of the recorded folder, by experiment name. */
export function readRecords(outDir = RECORDED_DIR): ResultRecord[] {
  const dir = path.join(outDir, "records");
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => readJSON<ResultRecord>(path.join(dir, f)));
}

/** The backends of a record for a table cell: what computed, without the list of backends not used. */
function backendsCell(backends: string[]): string {
  return [...new Set(backends.map((b) => b.split("; not used:")[0]))].join("; ").replace(/\|/g, "\\|");
}

/** The head of docs/results/summary.md: one line per record (machine, backend, commit, when). */
export function recordsMarkdown(records: ResultRecord[]): string {
  const lines = [
    "# Recorded results",
    "",
    "Committed copies of the notebooks' default runs (`npm run record -- notebooks/<name>.ipynb` makes them from",
    "`results/` and `figures/`; lib/notebook/record.ts). The notebooks' \"What we found\" sections cite these files.",
    "Rerunning a notebook recomputes its numbers on your machine, in `results/` and `figures/`.",
    "",
    "| experiment | rows | ran (UTC) | commit | machine | backend |",
    "|---|---:|---|---|---|---|",
  ];
  for (const r of records) {
    const m = r.machine;
    lines.push(`| ${r.experiment} | ${r.rows} | ${r.ran[0].slice(0, 16)} – ${r.ran[1].slice(0, 16)} | ${r.commits.join(", ")}${r.dirty ? " (+ uncommitted changes)" : ""} | ` +
      `${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, load ${m.loadAverage.join(" / ")} when recorded | ${backendsCell(r.backends)} |`);
  }
  const notes = records.filter((r) => r.note).map((r) => `- ${r.experiment}: ${r.note}`);
  return [...lines, ...(notes.length ? ["", ...notes] : []), ""].join("\n");
}
