// Tables: readable number formatting, plain-text rendering, and CSV / Arrow files that round-trip.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as aq from "arquero";
import { readTable, saveTable, showTable, tableText } from "../lib/notebook/tables";
import { formatCell } from "../lib/util/format";

test("formatCell: integers with separators, significant digits, exponents, blanks for missing values", () => {
  assert.equal(formatCell(1234567), "1,234,567");
  assert.equal(formatCell(0.987654), "0.9877");
  assert.equal(formatCell(35.0001), "35.00");
  assert.equal(formatCell(0.987654, 2), "0.99");
  assert.equal(formatCell(3.2e-5), "3.200e-5");
  assert.equal(formatCell(123456.7), "123,457");
  assert.equal(formatCell(4900.12), "4,900"); // grouped as the integers beside it
  assert.equal(formatCell(1234.5, 6), "1,234.5");
  assert.equal(formatCell(null), "");
  assert.equal(formatCell(NaN), "");
  assert.equal(formatCell(Infinity), "∞");
  assert.equal(formatCell(true), "true");
  assert.equal(formatCell(new Date(0)), "1970-01-01T00:00:00.000Z");
});

test("tableText aligns columns (numbers right) and says how many rows it left out", () => {
  const t = aq.table({ S: [32, 512], bpb: [1.61234, 1.5], note: ["small", "paper default"] });
  assert.equal(tableText(t), [
    "  S    bpb  note",
    "---  -----  -------------",
    " 32  1.612  small",
    "512  1.500  paper default",
  ].join("\n"));
  assert.match(tableText(t, { limit: 1 }), /… 1 more rows$/);
});

test("showTable outside a notebook prints the title and the text table", () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    showTable(aq.table({ x: [1] }), { title: "T" });
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines, ["T\nx\n-\n1"]);
});

test("saveTable: CSV round trip; .arrow writes Arrow IPC plus a CSV twin; bad extensions throw", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-tables-"));
  const t = aq.table({ n: [64, 128], gflops: [5.123456789, 12.5], name: ["a,b", 'q"uote'], ok: [true, false] });
  const csv = path.join(dir, "t.csv");
  saveTable(t, csv);
  assert.deepEqual(readTable(csv).objects(), t.objects());

  const arrow = path.join(dir, "t.arrow");
  saveTable(t, arrow);
  assert.deepEqual([...fs.readFileSync(arrow).subarray(0, 6)], [...Buffer.from("ARROW1")], "Arrow IPC file magic");
  assert.deepEqual(readTable(arrow).objects(), t.objects());
  assert.deepEqual(readTable(path.join(dir, "t.csv")).objects(), t.objects());
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")), [], "no temp files left");

  assert.throws(() => saveTable(t, path.join(dir, "t.xlsx")), /must end in \.csv or \.arrow/);
  assert.throws(() => readTable(path.join(dir, "missing.csv")), /does not exist/);
});

test("tableText keeps a wide table within the width: text cells wrap at spaces, titles after _ . -, numbers never", () => {
  const long = "val_bpb: cache-on 8.6435 ± 0.0000 (n=1) → cache-off 8.6523 ± 0.0000 (n=1), Δ = +0.0089; no test with fewer than 2 runs";
  const t = aq.table({ quantity: ["validation bpb, cache off vs on"], ours: [long], tokens_per_s_mean: [11034], verdict: ["too few runs"] });
  const text = tableText(t, { width: 60 });
  const lines = text.split("\n");
  assert.ok(Math.max(...lines.map((l) => l.length)) <= 60, `widest line ${Math.max(...lines.map((l) => l.length))} > 60:\n${text}`);
  assert.match(lines[0] + "\n" + lines[1], /tokens_per_s_\n.*\bmean\b/, "the numeric column's title wrapped after an underscore");
  assert.ok(lines.length > 4, "the long cell wrapped onto more lines");
  assert.equal(lines.join(" ").replace(/\s+/g, " ").includes("no test with fewer than 2 runs"), true, "no words lost in the wrap");
  assert.match(text, /\b11,034\b/, "the number is whole on one line");
  // the same table without a width limit is one line per row, 3 lines in all
  assert.equal(tableText(t, { width: 1000 }).split("\n").length, 3);
  // words longer than the width break too, last: after hyphens, else cut; nothing is lost
  const runs = aq.table({ run: ["gutenberg-smoke-bpe512-u6-seed0", "x".repeat(30)], val_bpb: [1.5, 2.5], note: ["a", "b"] });
  const narrow = tableText(runs, { width: 30 }).split("\n");
  assert.ok(Math.max(...narrow.map((l) => l.length)) <= 30, narrow.join("\n"));
  assert.equal(narrow[2].trimEnd().split(/ +/)[0], "gutenberg-", "broken after a hyphen");
  assert.equal(narrow.slice(2).map((l) => l.split(/ +/)[0]).join("").includes("gutenberg-smoke-bpe512-u6-seed0"), true, "no characters lost");
  // one row that cannot fit reads as one line per column
  const setup = aq.table(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`knob_${i}`, [i * 1000]])));
  assert.deepEqual(tableText(setup).split("\n").slice(0, 3), ["column   value", "-------  ------", "knob_0   0"]);
});

test("meanStdTable: each _mean/_std pair becomes one 'mean ± std' column with the mean's decimals", async () => {
  const { meanStdTable } = await import("../lib/notebook/tables");
  const s = aq.table({ S: [4, 8], val_bpb_mean: [8.64941, 8.6], val_bpb_std: [0.01234, 0], n: [3, 3] });
  assert.deepEqual(meanStdTable(s, { labels: { val_bpb: "val bpb" } }).objects(), [
    { S: 4, "val bpb": "8.649 ± 0.012", n: 3 },
    { S: 8, "val bpb": "8.600 ± 0.000", n: 3 },
  ]);
  assert.deepEqual(meanStdTable(aq.table({ x_mean: [NaN], x_std: [NaN] })).objects(), [{ x: "—" }]);
});
