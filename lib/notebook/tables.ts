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

/** Text tables are at most this many columns wide: long text cells wrap onto more lines (showTable, tableText). */
export const TEXT_TABLE_WIDTH = 120;

/** `text` broken at spaces into lines of at most `width` characters (a longer word is cut). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  // a word longer than the width breaks after its hyphens ("gutenberg-smoke-" / "bpe512-u6-seed0"), else is cut
  const words = text.split(/ +/).flatMap((w) => (w.length > width ? w.match(/[^-]*-*/g)!.filter(Boolean) : [w]));
  for (let i = 0; i < words.length; i++) {
    let word = words[i];
    // hyphen pieces of one word join without a space while they fit
    while (i + 1 < words.length && word.endsWith("-") && word.length + words[i + 1].length <= width && !/ /.test(word)) word += words[++i];
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = "";
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += " " + word;
    else {
      lines.push(line);
      line = word;
    }
  }
  lines.push(line);
  return lines;
}

/** A column title broken after spaces, dots, underscores, slashes or hyphens into lines of at most `width`. */
export function wrapTitle(name: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const piece of name.match(/[^ ._/-]*[ ._/-]*/g)!.filter(Boolean)) {
    if (line && (line + piece).trimEnd().length > width) {
      lines.push(line.trimEnd());
      line = "";
    }
    line += piece;
  }
  lines.push(line.trimEnd());
  return lines.flatMap((l) => wrapText(l, width));
}

/**
 * A plain-text rendering (aligned columns, numbers right-aligned), printed by showTable outside notebooks. When the
 * columns would be wider than `width`, the widest columns wrap onto more lines in turn: text cells at spaces (down
 * to their longest word, then also inside long words, after hyphens), column titles after spaces, dots,
 * underscores and hyphens; numbers never wrap. A single row that still does not fit is shown as one line per column.
 * @param table the table
 * @param opts.digits significant digits; limit: rows shown (default 50); width: the most columns (default 120)
 */
export function tableText(table: Table, opts: { digits?: number; limit?: number; width?: number } = {}): string {
  const names = table.columnNames();
  const limit = opts.limit ?? 50;
  const maxWidth = opts.width ?? TEXT_TABLE_WIDTH;
  const rows = (table.objects({ limit }) as Array<Record<string, unknown>>);
  const cells = rows.map((r) => names.map((n) => formatCell(r[n], opts.digits)));
  const numeric = names.map((n) => rows.every((r) => r[n] == null || typeof r[n] === "number"));
  const widths = names.map((n, j) => Math.max(n.length, ...cells.map((c) => c[j].length)));
  const longest = (words: string[]) => Math.max(0, ...words.map((w) => w.length));
  // a title breaks after spaces, dots, underscores, slashes, hyphens; short ones (d_k, d_model) stay whole
  const titleMin = names.map((n) => Math.max(longest(n.match(/[^ ._/-]*[ ._/-]*/g)!.map((p) => p.trimEnd())), Math.min(n.length, 7)));
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  const shrink = (minWidths: number[]) => {
    while (total() > maxWidth) {
      let j = -1;
      for (let k = 0; k < widths.length; k++) if (widths[k] > minWidths[k] && (j < 0 || widths[k] > widths[j])) j = k;
      if (j < 0) return; // nothing left to wrap
      // shrink the widest column, but not below the next widest: wide columns give up room in turn
      const next = Math.max(0, ...widths.filter((w, k) => k !== j && w > minWidths[k]));
      widths[j] = Math.max(minWidths[j], Math.min(widths[j] - 1, Math.max(next, widths[j] - (total() - maxWidth))));
    }
  };
  // first text cells wrap at spaces only; then, if still too wide, long words break too (after hyphens, or cut)
  shrink(names.map((_, j) => Math.max(titleMin[j], numeric[j] ? longest(cells.map((c) => c[j])) : Math.max(Math.min(8, widths[j]), longest(cells.flatMap((c) => c[j].split(/ +/)))))));
  if (total() > maxWidth && rows.length === 1 && names.length > 2) {
    // one wide row (a setup summary) reads better as one line per column
    return tableText(aq.from(names.map((n, j) => ({ column: n, value: cells[0][j] }))), { ...opts, width: maxWidth });
  }
  shrink(names.map((_, j) => Math.max(titleMin[j], numeric[j] ? longest(cells.map((c) => c[j])) : Math.min(10, widths[j]))));
  const pad = (v: string, j: number) => (numeric[j] ? v.padStart(widths[j]) : v.padEnd(widths[j]));
  const block = (wrapped: string[][], bottom: boolean): string[] => {
    const height = Math.max(...wrapped.map((w) => w.length));
    const at = (w: string[], i: number) => (bottom ? w[i - (height - w.length)] : w[i]) ?? "";
    return Array.from({ length: height }, (_, i) => wrapped.map((w, j) => pad(at(w, i), j)).join("  ").trimEnd());
  };
  const header = block(names.map((n, j) => wrapTitle(n, widths[j])), true);
  const body = cells.flatMap((vals) => block(vals.map((v, j) => (numeric[j] ? [v] : wrapText(v, widths[j]))), false));
  const more = table.numRows() > limit ? [`… ${table.numRows() - limit} more rows`] : [];
  return [...header, widths.map((w) => "-".repeat(w)).join("  "), ...body, ...more].join("\n");
}

/**
 * A summary table (summarizeAblation's `<metric>_mean` / `<metric>_std` pairs) with each pair as ONE column
 * `<metric>` holding "mean ± std", so that it fits the output width. Other columns stay as they are.
 * @param table the summary; opts.digits: significant digits of the mean (the std gets the same decimals)
 * @param opts.labels column titles by metric, e.g. { val_bpb: "val bpb" }
 */
export function meanStdTable(table: Table, opts: { digits?: number; labels?: Record<string, string> } = {}): Table {
  const names = table.columnNames();
  const rows = table.objects() as Array<Record<string, unknown>>;
  const digits = opts.digits ?? 4;
  const out = rows.map((r) => {
    const row: Record<string, unknown> = {};
    for (const n of names) {
      if (n.endsWith("_std") && names.includes(n.slice(0, -4) + "_mean")) continue;
      if (!n.endsWith("_mean") || !names.includes(n.slice(0, -5) + "_std")) {
        row[n] = r[n];
        continue;
      }
      const metric = n.slice(0, -5);
      const m = r[n], sd = r[`${metric}_std`];
      const label = opts.labels?.[metric] ?? metric;
      if (typeof m !== "number" || !Number.isFinite(m)) row[label] = "—";
      else {
        const text = formatCell(m, digits);
        const decimals = /e/.test(text) ? digits : (text.split(".")[1] ?? "").length;
        row[label] = typeof sd === "number" && Number.isFinite(sd) ? `${text} ± ${sd.toFixed(decimals)}` : text;
      }
    }
    return row;
  });
  return aq.from(out);
}

/**
 * Displays a table: HTML in a notebook (readable numbers, a caption, text cells wrap to the output width), aligned
 * text at most 120 columns wide elsewhere (tableText).
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
      table: "border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; margin: 4px 0; max-width: 100%;",
      th: "border-bottom: 2px solid #444; padding: 3px 10px; font-weight: 600; vertical-align: bottom; overflow-wrap: anywhere;",
      td: "border-bottom: 1px solid #ddd; padding: 3px 10px; vertical-align: top; overflow-wrap: break-word;",
    },
  });
  const caption = opts.title ? `<div style="font-weight:600;margin:6px 0 2px">${escapeHtml(opts.title)}</div>` : "";
  const more = table.numRows() > limit ? `<div style="color:#666;font-size:12px">… ${table.numRows() - limit} more rows</div>` : "";
  const text = (opts.title ? wrapText(opts.title, TEXT_TABLE_WIDTH).join("\n") + "\n" : "") + tableText(table, { digits, limit });
  displayHtml(`<div style="max-width:100%;overflow-x:auto">${caption}${body}${more}</div>`, text);
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
