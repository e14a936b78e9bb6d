// The equivalence check's own rules (seed 0 is a seed; shapes named in errors), its verdict table (a difference
// above the tolerance is a FAIL row and a FAIL verdict), and `npm run equivalence`: table by default, JSON behind
// --json, exit codes. The theorem itself is tested in attention.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { EQUIVALENCE_TOLERANCE, EquivalenceResult, equivalenceDefaults, equivalenceVerdict, runEquivalence } from "../lib/experiments/equivalence";

const ROOT = path.resolve(__dirname, "..");
const shape = { T: 12, L: 4, S: 5, dK: 4, dV: 6, aggCache: true };

test("seed 0 is a seed (the CLI's default); sizes must be ≥ 1, named without CLI flags", () => {
  assert.equal(equivalenceDefaults({ ...shape, seed: 0 }).seed, 0);
  assert.throws(() => equivalenceDefaults({ ...shape, seed: -1 }), /^Error: equivalence: seed = -1 must be an integer ≥ 0$/);
  assert.throws(() => equivalenceDefaults({ ...shape, S: 0, seed: 1 }), /^Error: equivalence: S = 0 must be an integer ≥ 1$/);
  assert.throws(() => equivalenceDefaults({ ...shape, L: 5, seed: 1 }), /L = 5 must divide T = 12/);
});

test("the verdict: one row per backend and form with max |Δ|, FAIL above the tolerance, a verdict naming what failed", async () => {
  await initBackend(testBackend());
  const r = runEquivalence({ ...shape, seed: 0 });
  const ok = equivalenceVerdict([{ backend: "cpu", result: r }]);
  assert.equal(ok.rows.length, 2, "vq-recurrent and vq-parallel (M = L)");
  assert.deepEqual(ok.rows.map((x) => x.verdict), ["PASS", "PASS"]);
  for (const row of ok.rows) assert.equal(row["max |Δ|"], Math.max(row.out, row["∂q"], row["∂k"], row["∂v"], row["∂x"]));
  assert.equal(ok.worst, r.maxAbs);
  assert.ok(ok.pass && ok.worst > 0 && ok.worst < 1e-6, `float32 round-off, got ${ok.worst}`);
  assert.match(ok.line, /^verdict: PASS on cpu: .* \(worst max \|Δ\| \d\.\de-\d ≤ 1\.0e-5\)$/);
  // the same result with one gradient of the parallel form off by 3e-5, on a second backend
  const bad: EquivalenceResult = { ...r, parallel: { ...r.parallel!, gradK: { abs: 3e-5, rel: 1e-5 } }, maxAbs: 3e-5 };
  const v = equivalenceVerdict([{ backend: "cpu", result: r }, { backend: "wasm", result: bad }]);
  assert.deepEqual(v.rows.map((x) => `${x.backend} ${x.form} ${x.verdict}`), ["cpu vq-recurrent PASS", "cpu vq-parallel PASS", "wasm vq-recurrent PASS", "wasm vq-parallel FAIL"]);
  assert.equal(v.rows[3]["max |Δ|"], 3e-5);
  assert.equal(v.pass, false);
  assert.equal(v.line, "verdict: FAIL: vq-parallel on wasm differ from vq-quadratic by up to 3.0e-5 > 1.0e-5 (the rows marked FAIL)");
  assert.equal(equivalenceVerdict([{ backend: "cpu", result: bad }], 1e-4).pass, true, "the tolerance decides");
  assert.equal(EQUIVALENCE_TOLERANCE, 1e-5);
});

function cli(args: string[]) {
  const env = { ...process.env, TVQ_BACKEND: "cpu" };
  return spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "equivalence.ts"), ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
}

test("npm run equivalence: with no flags (seed 0) a table and a PASS verdict; --json only the machine line", () => {
  const r = cli(["--T", "24", "--L", "6"]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0], /T=24 L=6 M=6 S=16 d_k=8 d_v=12 B=1 H=1 h_kv=1 cache on, seed 0$/);
  const rows = lines.filter((l) => /^cpu +vq-/.test(l));
  assert.equal(rows.length, 2, r.stdout);
  for (const row of rows) assert.match(row, /\d\.\de-\d +1\.0e-5 +PASS$/);
  assert.match(lines[lines.length - 1], /^verdict: PASS on cpu: /);
  assert.ok(!r.stdout.includes("{"), "no JSON without --json");

  const j = cli(["--T", "24", "--L", "6", "--M", "12", "--seed", "0", "--json"]);
  assert.equal(j.status, 0, j.stderr);
  const out = j.stdout.trim().split("\n");
  assert.equal(out.length, 1, j.stdout);
  const line = JSON.parse(out[0]);
  assert.equal(line.options.seed, 0);
  assert.equal(line.options.M, 12);
  assert.equal(line.parallel, undefined, "vq-parallel needs M = L");
  assert.equal(line.pass, true);
  assert.equal(line.tolerance, 1e-5);
  assert.ok(line.maxAbs === Math.max(...Object.values(line.recurrent as Record<string, { abs: number }>).map((d) => d.abs)));
  assert.match(line.backend, /^backend: cpu/);
});

test("npm run equivalence refuses shapes that do not fit, naming the flags, with exit 2", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--T", "48", "--L", "5"], /--L 5 does not divide --T 48: T is cut into blocks of L; use e.g. --T 50/],
    [["--H", "3", "--hkv", "2"], /--H 3 is not a multiple of --hkv 2/],
    [["--seed", "-1"], /--seed -1: use an integer ≥ 0/],
    [["--backend", "tpu"], /--backend tpu: use native, wasm, cpu(, gpu)? or all/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
