/**
 * Results tables (arquero): the per-run rows of an experiment, ablation summaries (bpb mean ± std over seeds per
 * codebook size S) and the paper's numbers beside ours. `showTable` displays a table as HTML in a notebook (plain
 * text elsewhere) with readable numbers; `saveTable` / `readTable` write and read CSV or Arrow IPC atomically.
 */
import * as fs from "node:fs";
import * as aq from "arquero";
import { atomicWrite } from "../util/io";
import { displayHtml, escapeHtml } from "../util/display";
import { formatCell } from "../util/format";
import type { Table } from "../util/table";

export type { Table } from "../util/table";

/**
 * A plain-text rendering (aligned columns, numbers right-aligned), printed by showTable outside notebooks.
 * @param table the table
 * @param opts.digits significant digits; limit: rows shown (default 50)
 */
export function tableText(table: Table, opts: { digits?: number; limit?: number } = {}): string {
  const names = table.columnNames();
  const limit = opts.limit ?? 50;
  const rows = (table.objects({ limit }) as Array<Record<string, unknown>>);
  const cells = rows.map((r) => names.map((n) => formatCell(r[n], opts.digits)));
  const numeric = names.map((n) => rows.every((r) => r[n] == null || typeof r[n] === "number"));
  const widths = names.map((n, j) => Math.max(n.length, ...cells.map((c) => c[j].length)));
  const line = (vals: string[]) => vals.map((v, j) => (numeric[j] ? v.padStart(widths[j]) : v.padEnd(widths[j]))).join("  ").trimEnd();
  const more = table.numRows() > limit ? [`… ${table.numRows() - limit} more rows`] : [];
  return [line(names), line(widths.map((w) => "-".repeat(w))), ...cells.map(line), ...more].join("\n");
}

/**
 * Displays a table: HTML in a notebook (readable numbers, a caption), aligned text elsewhere.
 * @param table the arquero table
 * @param opts.title caption; digits: significant digits (default 4); limit: rows shown (default 100)
 */
export function showTable(table: Table, opts: { title?: string; digits?: number; limit?: number } = {}): void {
  const digits = opts.digits ?? 4;
  const limit = opts.limit ?? 100;
  const names = table.columnNames();
  const format: Record<string, (v: unknown) => string> = {};
  for (const n of names) format[n] = (v) => formatCell(v, digits);
  const body = aq.toHTML(table, {
    limit, format,
    style: {
      table: "border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; margin: 4px 0;",
      th: "border-bottom: 2px solid #444; padding: 3px 10px; font-weight: 600;",
      td: "border-bottom: 1px solid #ddd; padding: 3px 10px;",
    },
  });
  const caption = opts.title ? `<div style="font-weight:600;margin:6px 0 2px">${escapeHtml(opts.title)}</div>` : "";
  const more = table.numRows() > limit ? `<div style="color:#666;font-size:12px">… ${table.numRows() - limit} more rows</div>` : "";
  const text = (opts.title ? opts.title + "\n" : "") + tableText(table, { digits, limit });
  displayHtml(`<div>${caption}${body}${more}</div>`, text);
}

/**
 * Writes a table atomically: `.csv` as CSV; `.arrow` as an Arrow IPC file plus a `.csv` twin beside it (for
 * spreadsheets and diffs).
 * @param table the table
 * @param file path ending in .csv or .arrow
 */
export function saveTable(table: Table, file: string): void {
  if (file.endsWith(".csv")) {
    atomicWrite(file, aq.toCSV(table) + "\n");
  } else if (file.endsWith(".arrow")) {
    atomicWrite(file, aq.toArrowIPC(table, { format: "file" }));
    atomicWrite(file.slice(0, -".arrow".length) + ".csv", aq.toCSV(table) + "\n");
  } else {
    throw new Error(`saveTable: ${file} must end in .csv or .arrow`);
  }
}

/**
 * Reads a table written by saveTable (CSV types are inferred: numbers, booleans, ISO dates).
 * @param file a .csv or .arrow path
 */
export function readTable(file: string): Table {
  if (!fs.existsSync(file)) throw new Error(`readTable: ${file} does not exist`);
  if (file.endsWith(".arrow")) return aq.fromArrow(fs.readFileSync(file));
  if (file.endsWith(".csv")) return aq.fromCSV(fs.readFileSync(file, "utf8").replace(/\n+$/, ""));
  throw new Error(`readTable: ${file} must end in .csv or .arrow`);
}
