// The headless notebook runner (npm run notebook): parameters reach the notebook, and every kind of failure
// (a throwing cell, an unhandled rejection, an error thrown in a timer, a hanging cell) fails the run with the
// cell named and the real error text. Each case starts a real tslab kernel (about 5 s).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");
const FIXTURES = path.join(REPO, "test", "fixtures");
const ARTIFACTS = path.join(REPO, "test", "artifacts", "runner");

interface Run {
  status: number | null;
  stderr: string;
  out: string;
}

/** Runs `npm run notebook` (scripts/notebook.ts) on a fixture; the executed copy goes to test/artifacts/runner/. */
function runNotebook(fixture: string, args: string[], outName: string): Run {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const out = path.join(ARTIFACTS, outName);
  fs.rmSync(out, { force: true });
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(REPO, "scripts", "notebook.ts"), path.join(FIXTURES, fixture), "--out", out, ...args],
    { cwd: REPO, encoding: "utf8", timeout: 180_000 },
  );
  return { status: r.status, stderr: r.stderr, out };
}

interface Cell {
  cell_type: string;
  source: string | string[];
  metadata: { tags?: string[] };
  outputs?: { output_type: string; name?: string; text?: string | string[] }[];
}

function readCells(file: string): Cell[] {
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { cells: Cell[] }).cells;
}

const text = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join("") : (v ?? ""));
const stdoutOf = (cell: Cell): string =>
  (cell.outputs ?? []).filter((o) => o.output_type === "stream" && o.name === "stdout").map((o) => text(o.text)).join("");

test("a failing cell fails the run, names the cell and prints its real error", () => {
  const r = runNotebook("runner-fail.ipynb", [], "fail.ipynb");
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /FAILED/);
  assert.match(r.stderr, /cell 1 of runner-fail\.ipynb failed/);
  assert.match(r.stderr, /throw new Error\(`boom from the failing cell/, "the head of the cell's source");
  assert.match(r.stderr, /Error: boom from the failing cell \(answer 42\)/, "the real error text, not just <Error>:");
  // The executed copy is saved on failure: cell 0 ran, cell 2 did not.
  const cells = readCells(r.out);
  assert.equal(cells.length, 3, "no hidden runner cells in the saved copy");
  assert.match(stdoutOf(cells[0]), /cell 0 ran/);
  assert.equal((cells[2].outputs ?? []).length, 0);
});

test("parameters are injected after the parameters cell and reach the notebook", () => {
  const r = runNotebook(
    "runner-params.ipynb",
    ["--profile", "smoke", "--param", "steps=7", "--param", "label=hello", "--param", "flags=[1,2]"],
    "params.ipynb",
  );
  assert.equal(r.status, 0, r.stderr);
  const cells = readCells(r.out);
  const injected = cells.findIndex((c) => (c.metadata.tags ?? []).includes("injected-parameters"));
  const params = cells.findIndex((c) => (c.metadata.tags ?? []).includes("parameters"));
  assert.equal(injected, params + 1, "the injected cell follows the parameters cell");
  const line = stdoutOf(cells[injected + 1]).split("\n").find((l) => l.startsWith("PARAMS "));
  assert.ok(line, "the notebook printed its parameters");
  const seen = JSON.parse(line.slice("PARAMS ".length)) as Record<string, unknown>;
  assert.deepEqual(
    { profile: seen.profile, steps: seen.steps, label: seen.label, flags: seen.flags, env: seen.env },
    { profile: "smoke", steps: 7, label: "hello", flags: [1, 2], env: "smoke" },
  );
  assert.equal(seen.cwd, FIXTURES, "the kernel runs in the notebook's folder");
});

test("a parameter the notebook does not declare is refused before the kernel starts", () => {
  const r = runNotebook("runner-params.ipynb", ["--param", "nonesuch=1"], "undeclared.ipynb");
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /does not declare \['nonesuch'\] with `let`/);
});

test("an unhandled promise rejection fails the run", () => {
  const r = runNotebook("runner-stray.ipynb", ["--param", "mode=rejection"], "rejection.ipynb");
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /unhandled promise rejection/);
  assert.match(r.stderr, /lost promise nobody awaited/);
});

test("an error thrown in a timer fails the run", () => {
  const r = runNotebook("runner-stray.ipynb", ["--param", "mode=timer"], "timer.ipynb");
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /uncaught exception/);
  assert.match(r.stderr, /thrown inside a timer/);
});

test("a cell that runs past --timeout fails the run", () => {
  const r = runNotebook("runner-stray.ipynb", ["--param", "mode=hang", "--timeout", "3"], "hang.ipynb");
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cell 1 of runner-stray\.ipynb timed out after 3 s/);
});

test("a kernel killed by a signal fails the run, and the failure names the signal", () => {
  const r = runNotebook("runner-stray.ipynb", ["--param", "mode=sigkill"], "sigkill.ipynb");
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cell 1 of runner-stray\.ipynb/);
  assert.match(r.stderr, /the kernel process was killed by SIGKILL \(the out-of-memory killer/);
});

test("the same notebook without stray errors passes", () => {
  const r = runNotebook("runner-stray.ipynb", ["--param", "mode=none"], "none.ipynb");
  assert.equal(r.status, 0, r.stderr);
  assert.match(stdoutOf(readCells(r.out)[3]), /cell 2 ran/);
});
