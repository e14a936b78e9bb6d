// The output check of the notebook runner (scripts/run_notebook.py output_problems, run with --check-only here; npm
// test runs every smoke notebook with --strict-outputs, so a problem there fails the notebook): raw object dumps,
// the same text twice in one cell, text tables wider than 120 columns. Fixtures are small notebooks written here;
// the tables are the kit's own tableText output, so the width rule and the table renderer are checked together.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as util from "node:util";
import { spawnSync } from "node:child_process";
import * as aq from "arquero";
import { TEXT_TABLE_WIDTH, tableText } from "../lib/notebook/tables";
import { ExportedFigure } from "../lib/notebook/render";

const REPO = path.resolve(__dirname, "..");
const PYTHON = path.join(REPO, ".venv", "bin", "python");
const skip = fs.existsSync(PYTHON) ? false : `needs ${PYTHON} (npm run setup)`;

type Output = Record<string, unknown>;
const stdout = (text: string): Output => ({ output_type: "stream", name: "stdout", text });
const display = (plain: string, html?: string): Output => ({ output_type: "display_data", metadata: {}, data: { "text/plain": plain, ...(html ? { "text/html": html } : {}) } });
const result = (plain: string): Output => ({ output_type: "execute_result", execution_count: 1, metadata: {}, data: { "text/plain": plain } });

/** Runs the checker on a notebook whose code cells have these outputs; returns its exit code and messages. */
function check(cells: Output[][]): { status: number | null; problems: string[] } {
  const nb = {
    nbformat: 4, nbformat_minor: 5, metadata: {},
    cells: cells.map((outputs, i) => ({ cell_type: "code", id: `c${i}`, execution_count: i + 1, metadata: {}, source: `cell ${i}`, outputs })),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-outputs-"));
  const file = path.join(dir, "fixture.ipynb");
  fs.writeFileSync(file, JSON.stringify(nb));
  try {
    const r = spawnSync(PYTHON, [path.join(REPO, "scripts", "run_notebook.py"), file, "--check-only"], { encoding: "utf8" });
    return { status: r.status, problems: r.stderr.split("\n").filter((l) => l.startsWith("notebook fixture.ipynb: ")) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SENTENCE = "val_bpb: cache-on 8.6435 ± 0.0000 (n=1) → cache-off 8.6523 ± 0.0000 (n=1), Δ = +0.0089";

test("clean outputs pass: tables, figure lines, a sentence repeated in another cell", { skip }, () => {
  const table = aq.table({ quantity: ["validation bpb, cache off vs on"], ours: [`${SENTENCE}; no test with fewer than 2 runs`], verdict: ["too few runs"] });
  const r = check([
    [display(tableText(table), "<table></table>"), stdout("figure 10-S-smoke: figures/10-S-smoke.{png,svg,html}\n")],
    [stdout(`${SENTENCE}\n`)],
    [result("42"), stdout("{\"json\": 1}\n")],
  ]);
  assert.deepEqual(r.problems, []);
  assert.equal(r.status, 0);
});

test("[object Object] and raw object dumps are found, naming the cell and the output", { skip }, () => {
  const fig = new ExportedFigure("x", "/repo/figures/x.html");
  const r = check([
    [stdout("result: [object Object]\n")],
    [result("{\n  html: '/repo/figures/x.html',\n  png: '/repo/figures/x.png',\n  svg: '/repo/figures/x.svg'\n}")],
    [stdout("{ html: '/repo/figures/x.html', png: undefined }\n")],
    [stdout(`${util.inspect(fig)}\n`)], // what console.log of exportFigure's result prints: fine
    [result(util.inspect(fig))], // and a cell ending in it
  ]);
  assert.equal(r.status, 1);
  assert.equal(r.problems.length, 3, r.problems.join("\n"));
  assert.match(r.problems[0], /cell 0: its stdout output shows '\[object Object\]'/);
  assert.match(r.problems[1], /cell 1: its displayed value is a raw object dump \("\{ +html:/);
  assert.match(r.problems[2], /cell 2: its stdout output is a raw object dump/);
});

test("the same text twice in one cell's outputs is found; short repeats are not", { skip }, () => {
  const table = aq.table({ quantity: ["validation bpb, cache off vs on"], ours: [SENTENCE], verdict: ["too few runs"] });
  const r = check([
    [display(tableText(table)), stdout(`validation bpb, cache off vs on: ${SENTENCE} -> too few runs\n`)],
    [stdout("backend: native\n"), display("backend: native")],
  ]);
  assert.equal(r.status, 1);
  assert.equal(r.problems.length, 1, r.problems.join("\n"));
  assert.match(r.problems[0], /cell 0: the same text is shown twice, in output 1 \(display\) and output 2 \(stdout output\)/);
});

test(`text tables over ${TEXT_TABLE_WIDTH} columns are found; tableText output never is`, { skip }, () => {
  const wide = aq.table({
    quantity: ["time per training step as S grows"], paper: ["higher (larger S slower); values UNCONFIRMED; S ∈ {256, 512, 1024}"],
    ours: [`${SENTENCE}; no test with fewer than 2 runs per setting; Spearman ρ(S, val_bpb) = 1.00 over 2 runs.`], verdict: ["too few runs"],
  });
  const wrapped = tableText(wide);
  const unwrapped = tableText(wide, { width: 10_000 });
  assert.ok(Math.max(...unwrapped.split("\n").map((l) => l.length)) > TEXT_TABLE_WIDTH, "the fixture is wide");
  const ok = check([[display(`Title\n${wrapped}`)]]);
  assert.deepEqual([ok.status, ok.problems], [0, []]);
  const bad = check([[display(`Title\n${unwrapped}`)]]);
  assert.equal(bad.status, 1);
  assert.match(bad.problems[0], new RegExp(`cell 0: a text table ${unwrapped.split("\n")[1].length} columns wide \\(at most ${TEXT_TABLE_WIDTH}\\)`));
});
