/**
 * `npm run summary [-- --results dir --figures dir --out file]`: writes results/summary.md, the one page that
 * shows what the notebooks reproduced: the paper's numbers beside ours (each notebook's saved comparison,
 * results/<experiment>.paper.csv), then per experiment its figures (figures/*.png, linked relatively, with the SVG
 * and interactive HTML beside) and its results table (the latest row per run of results/<experiment>.jsonl, as a
 * markdown table of the columns that matter), then any other table in results/ (e.g. backends.csv).
 *
 * Smoke-profile outputs (CI) are left out when the default profile produced the same thing, so the page shows the
 * real runs once they exist and the smoke runs before.
 *
 * Units (docs/paper.md §1.4), one system per kind of data, named in every column header: byte-level runs (text
 * bytes, image sub-pixels) show bits per byte only; BPE runs show nats per token and word-level perplexity, and bits
 * per byte of text. A byte-level run's word perplexity (exp(nats / words) of a barely trained model is 1e15 and
 * more) and per-token nats stay in the CSV but are not shown (unitColumns).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PATHS, ROOT, atomicWrite } from "../lib/util/io";
import { ResultRow, gitState, readResultRows } from "../lib/experiments/results";
import type { Table } from "../lib/util/table";
import { readTable } from "../lib/notebook/tables";
import { paperComparisonName } from "../lib/notebook/report";
import { splitProfiledName } from "../lib/notebook/profiles";
import { formatCell } from "../lib/util/format";
import { latestRows } from "../lib/experiments/ablation";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

/** Columns that only identify or stamp a row; never shown. */
const HIDDEN = new Set(["run_uid", "run_dir", "git_dirty", "backend_detail", "node", "experiment", "timestamp"]);
/** Metric-like columns, always shown when present. */
const METRIC = /(bpb|ppl|loss|acc|tokens_per_s|step_time|code_usage|code_entropy|gflops|speedup|ratio|_ms$|_s$|err|diff|peak)/;
/** Which metrics come first when there are too many to show. */
const METRIC_PRIORITY = [/acc_out$/, /bpb$/, /word_ppl$/, /tokens_per_s/, /step_time/, /speedup|ratio|gflops|peak/, /code_usage/, /loss$/];
/** BPE tables: nats per token and word perplexity first (the PG-19 units), then bits per byte of text. */
const BPE_PRIORITY = [/word_ppl$/, /loss$/, /bpb$/, /tokens_per_s/, /step_time/, /code_usage/];
const MAX_COLUMNS = 14;

function metricRank(c: string, priority: RegExp[]): number {
  const i = priority.findIndex((re) => re.test(c));
  return i < 0 ? priority.length : i;
}

/** One markdown cell: numbers as lib/notebook/tables.ts formatCell, but without trailing zeros below 10³ (0.99, not 0.9900),
 *  pipes escaped, newlines flattened. */
export function markdownCell(v: unknown): string {
  const small = typeof v === "number" && !Number.isInteger(v) && Math.abs(v) >= 1e-3 && Math.abs(v) < 1e3;
  const text = small ? String(Number((v as number).toPrecision(4))) : formatCell(v);
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** A markdown table of `rows` over `columns`; `header` names a column in the header row (default: its name). */
export function markdownTable(rows: Array<Record<string, unknown>>, columns: string[], header: (c: string) => string = (c) => c): string {
  const numeric = columns.map((c) => rows.every((r) => r[c] == null || typeof r[c] === "number"));
  const head = `| ${columns.map((c) => markdownCell(header(c))).join(" | ")} |`;
  const rule = `|${numeric.map((n) => (n ? " ---: " : " --- ")).join("|")}|`;
  return [head, rule, ...rows.map((r) => `| ${columns.map((c) => markdownCell(r[c])).join(" | ")} |`)].join("\n");
}

/**
 * The columns worth a summary table, at most MAX_COLUMNS: the run id, the columns that vary between rows (the
 * settings that were swept or compared), the metrics (bpb, word ppl and speed first), then backend and commit.
 * Empty and stamp columns are dropped.
 * @param rows the rows shown
 */
export function summaryColumns(rows: Array<Record<string, unknown>>): string[] {
  const all: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!all.includes(k)) all.push(k);
  const present = all.filter((c) => !HIDDEN.has(c) && rows.some((r) => r[c] !== null && r[c] !== undefined && r[c] !== ""));
  const varies = (c: string) => new Set(rows.map((r) => JSON.stringify(r[c] ?? null))).size > 1;
  const priority = rows.length > 0 && rows.every((r) => r.tokenizer === "bpe") ? BPE_PRIORITY : METRIC_PRIORITY;
  const first: string[] = present.filter((c) => c === "run" || c === "profile");
  const varying = present.filter((c) => !first.includes(c) && !METRIC.test(c) && c !== "backend" && c !== "git_commit" && varies(c));
  const metrics = present.filter((c) => !first.includes(c) && METRIC.test(c))
    .map((c, i) => ({ c, i })).sort((a, b) => metricRank(a.c, priority) - metricRank(b.c, priority) || a.i - b.i).map((x) => x.c);
  const stamps = present.filter((c) => c === "backend" || c === "git_commit");
  const cols = [...first, ...varying, ...metrics];
  return [...cols.slice(0, MAX_COLUMNS - stamps.length), ...stamps];
}

/** The unit of a metric column, from its name: *_bpb, *_loss, *_word_ppl, *_ppl. */
export function columnUnit(c: string): string | undefined {
  if (/_bpb$/.test(c)) return "bits/byte";
  if (/_loss$/.test(c)) return "nats/token";
  if (/word_ppl$/.test(c)) return "per word";
  if (/_ppl$/.test(c)) return "per token";
  return undefined; // the others name their unit (tokens_per_s, step_time_s, code_entropy_bits)
}

/** A column's header with its unit: "val_bpb (bits/byte)". */
export function unitHeader(c: string): string {
  const u = columnUnit(c);
  return u ? `${c} (${u})` : c;
}

/** Per-token columns a byte-level row does not show (bits per byte says the same in the paper's unit). */
const PER_TOKEN = /(_loss|_ppl)$/;

/**
 * The rows with only the units of their data: a byte-level row ("tokenizer": "bytes") loses its nats-per-token
 * loss and perplexities (word ppl included); a BPE row keeps them and its bits per byte of text. Rows without a
 * tokenizer column (benchmarks) are unchanged.
 */
export function unitColumns(rows: ResultRow[]): ResultRow[] {
  return rows.map((r) => {
    if (r.tokenizer !== "bytes") return r;
    const out: ResultRow = {};
    for (const [k, v] of Object.entries(r)) out[k] = PER_TOKEN.test(k) ? null : v;
    return out;
  });
}

/** The rows an experiment's table shows: the latest per run id, and only non-smoke rows when there are any. */
export function summaryRows(rows: ResultRow[]): ResultRow[] {
  const real = rows.filter((r) => r.profile !== "smoke");
  const kept = real.length > 0 ? real : rows;
  if (!kept.some((r) => "run" in r)) return kept.slice(-20);
  return latestRows(kept);
}

/** Figure stems (no extension) that belong to `experiment`: same leading number ("01-"), or the same name prefix. */
export function figuresOf(experiment: string, stems: string[]): string[] {
  const num = /^(\d+)-/.exec(experiment)?.[1];
  return stems.filter((s) => (num ? s.startsWith(`${num}-`) : s.startsWith(experiment)));
}

/** Figure stems with a PNG, without the smoke-profile ones whose default-profile twin exists. */
export function listFigures(figuresDir: string): string[] {
  if (!fs.existsSync(figuresDir)) return [];
  const stems = fs.readdirSync(figuresDir).filter((f) => f.endsWith(".png")).map((f) => f.slice(0, -4)).sort();
  return stems.filter((s) => {
    const { name, profile } = splitProfiledName(s);
    return profile === "default" || !stems.includes(name);
  });
}

function figureMarkdown(stem: string, figuresDir: string, outDir: string): string {
  const rel = (ext: string) => path.relative(outDir, path.join(figuresDir, `${stem}.${ext}`)).split(path.sep).join("/");
  const extra = ["svg", "html"].filter((e) => fs.existsSync(path.join(figuresDir, `${stem}.${e}`))).map((e) => `[${e.toUpperCase()}](${rel(e)})`);
  return `![${stem}](${rel("png")})\n\n*${stem}*${extra.length ? ` (${extra.join(", ")})` : ""}`;
}

function tableMarkdown(t: Table): string {
  return markdownTable(t.objects() as Array<Record<string, unknown>>, t.columnNames());
}

/** The saved paper comparisons: default-profile file per experiment, else its smoke file. */
function paperComparisons(resultsDir: string): Array<{ experiment: string; profile: string; table: Table }> {
  if (!fs.existsSync(resultsDir)) return [];
  const found = fs.readdirSync(resultsDir).sort().flatMap((file) => {
    const name = paperComparisonName(file);
    return name ? [{ file, ...name }] : [];
  });
  const hasDefault = (experiment: string) => found.some((c) => c.experiment === experiment && c.profile === "default");
  return found.filter((c) => c.profile === "default" || !hasDefault(c.experiment))
    .map((c) => ({ experiment: c.experiment, profile: c.profile, table: readTable(path.join(resultsDir, c.file)) }));
}

export interface SummaryOptions {
  resultsDir?: string;
  figuresDir?: string;
  /** default results/summary.md */
  out?: string;
  /** the page's title and first paragraph (default: what npm run summary writes, with the time and the code's commit) */
  intro?: string[];
}

/** Builds the markdown of results/summary.md from the results and figures folders. */
export function buildSummary(opts: SummaryOptions = {}): string {
  const resultsDir = opts.resultsDir ?? PATHS.results;
  const figuresDir = opts.figuresDir ?? PATHS.figures;
  const outDir = path.dirname(opts.out ?? path.join(resultsDir, "summary.md"));
  const files = fs.existsSync(resultsDir) ? fs.readdirSync(resultsDir).sort() : [];
  const experiments = files.filter((f) => f.endsWith(".jsonl")).map((f) => f.slice(0, -".jsonl".length));
  const otherCsv = files.filter((f) => f.endsWith(".csv") && !paperComparisonName(f) && !experiments.includes(f.slice(0, -".csv".length)));
  const figures = listFigures(figuresDir);
  const git = gitState();

  const lines: string[] = [
    ...(opts.intro ?? [
      "# Transformer-VQ at CPU scale: results summary",
      "",
      `Written by \`npm run summary\` on ${new Date().toISOString()} (code at ${git.commit}${git.dirty ? ", with uncommitted changes" : ""}) ` +
        "from `results/` and `figures/`. Every notebook appends one row per run to `results/<notebook>.{csv,jsonl}`; " +
        "the tables below show the latest row per run (smoke-profile rows only when no default-profile run exists yet).",
    ]),
    "",
    "## The paper's numbers beside ours",
    "",
  ];
  const comps = paperComparisons(resultsDir);
  if (comps.length === 0) lines.push("No notebook has saved a comparison yet (run the notebooks: `npm run main`).", "");
  for (const c of comps) {
    lines.push(`**${c.experiment}**${c.profile === "smoke" ? " (smoke profile: CI-sized, not a real result)" : ""}`, "", tableMarkdown(c.table), "");
  }

  const shown = new Set<string>();
  for (const exp of experiments) {
    const rows = unitColumns(summaryRows(readResultRows(exp, resultsDir)));
    const figs = figuresOf(exp, figures);
    figs.forEach((f) => shown.add(f));
    lines.push(`## ${exp}`, "");
    for (const f of figs) lines.push(figureMarkdown(f, figuresDir, outDir), "");
    if (rows.length) {
      const smokeOnly = rows.every((r) => r.profile === "smoke");
      lines.push(`Results (${rows.length} run${rows.length === 1 ? "" : "s"}${smokeOnly ? ", smoke profile only" : ""}; all columns in ` +
        `[results/${exp}.csv](${path.relative(outDir, path.join(resultsDir, `${exp}.csv`)).split(path.sep).join("/")})):`, "");
      lines.push(markdownTable(rows, summaryColumns(rows), unitHeader), "");
      if (rows.some((r) => r.tokenizer === "bytes")) lines.push("Byte-level runs are shown in bits per byte (images: per sub-pixel); their per-token nats and word perplexities are in the CSV.", "");
    }
  }
  const orphans = figures.filter((f) => !shown.has(f));
  if (orphans.length) {
    lines.push("## Other figures", "");
    for (const f of orphans) lines.push(figureMarkdown(f, figuresDir, outDir), "");
  }
  for (const f of otherCsv) {
    const t = readTable(path.join(resultsDir, f));
    const rows = t.objects() as Array<Record<string, unknown>>;
    lines.push(`## ${f}`, "", markdownTable(rows.slice(-30), summaryColumns(rows)), "");
  }
  return lines.join("\n");
}

/** Writes the summary atomically; returns its path. */
export function writeSummary(opts: SummaryOptions = {}): string {
  const out = opts.out ?? path.join(opts.resultsDir ?? PATHS.results, "summary.md");
  atomicWrite(out, buildSummary({ ...opts, out }));
  return out;
}

const CLI: CommandSpec = {
  command: "npm run summary",
  args: "[--results DIR] [--figures DIR] [--out FILE]",
  summary: "Writes the one page that shows what the notebooks reproduced: the paper's numbers beside ours, then per " +
    "experiment its figures and its results table (the latest row per run), then any other table in the results folder.",
  flags: {
    results: { kind: "string", value: "DIR", help: "results folder to read", default: "results/" },
    figures: { kind: "string", value: "DIR", help: "figures folder to link", default: "figures/" },
    out: { kind: "string", value: "FILE", help: "the markdown file to write", default: "<results>/summary.md" },
  },
  examples: ["npm run summary", "npm run summary -- --results /tmp/results --out /tmp/summary.md"],
  notes: ["exit codes: 0 written, 1 it could not be written, 2 a bad command line"],
};

if (require.main === module) {
  try {
    const { flags } = parseCommand(CLI);
    const out = writeSummary({
      resultsDir: flags.results !== undefined ? path.resolve(String(flags.results)) : undefined,
      figuresDir: flags.figures !== undefined ? path.resolve(String(flags.figures)) : undefined,
      out: flags.out !== undefined ? path.resolve(String(flags.out)) : undefined,
    });
    console.log(`summary: ${path.relative(ROOT, out)}`);
  } catch (e) {
    console.error(`summary: ${e instanceof UsageError ? usageErrorText(e, CLI) : (e as Error).message}`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
