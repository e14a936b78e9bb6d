// npm run bench -- --quick --out <tmp>: the throughput benchmark end to end on a small model. Checks the CSV's
// structure only (columns, one row per planned point, both models at every T, statuses, units); no timings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readTable } from "../lib/notebook/tables";

const REPO = path.resolve(__dirname, "..");

test("npm run bench -- --quick writes throughput.csv with both models at every T, every head type and the small model", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-bench-"));
  try {
    const r = spawnSync("npm", ["run", "bench", "--", "--quick", "--out", out], { cwd: REPO, encoding: "utf8", timeout: 180_000 });
    assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.split("\n").filter((l) => /^\[bench\] \S+ +(shga|mha|mqa|cpu-small)/.test(l));
    assert.ok(lines.length >= 9, `one stdout line per point expected:\n${r.stdout}`);
    const backend = /^\[bench\] (\S+)/.exec(lines[0])![1];
    assert.ok(["native", "wasm", "cpu"].includes(backend), `lines name the backend: ${lines[0]}`);

    const rows = readTable(path.join(out, "throughput.csv")).objects() as Array<Record<string, unknown>>;
    const need = ["backend", "model", "attn_type", "head_type", "T", "B", "n_layer", "update_len", "status", "reason", "reps", "seconds_per_step",
      "tokens_per_s", "us_per_token", "flops_per_token", "achieved_gflops", "matmul_peak_gflops", "frac_of_peak", "speedup", "flop_ratio",
      "peak_rss_mb", "peak_tf_mb", "est_mb", "load_avg", "timestamp", "git_commit"];
    for (const c of need) assert.ok(c in rows[0], `column ${c} missing; have ${Object.keys(rows[0]).join(", ")}`);
    const points = rows.filter((x) => x.model === "vq" || x.model === "full");
    // SHGA at T = 128 and 256, MHA and MQA at 128, each with both models
    const key = (x: Record<string, unknown>) => `${x.head_type}:${x.T}`;
    const keys = [...new Set(points.map(key))].sort();
    assert.deepEqual(keys, ["mha:128", "mqa:128", "shga:128", "shga:256"]);
    for (const k of keys) {
      assert.deepEqual(points.filter((x) => key(x) === k).map((x) => x.model).sort(), ["full", "vq"], `both models at ${k}`);
    }
    for (const x of rows) {
      assert.ok(["ok", "skipped", "failed"].includes(x.status as string));
      assert.equal(x.backend, backend);
      if (x.status !== "ok") continue;
      assert.equal(x.reps, 3);
      for (const c of ["seconds_per_step", "tokens_per_s", "flops_per_token", "achieved_gflops", "matmul_peak_gflops", "frac_of_peak", "peak_rss_mb"]) {
        assert.ok(typeof x[c] === "number" && (x[c] as number) > 0, `${c} = ${x[c]} in ${JSON.stringify(x)}`);
      }
      assert.ok(Math.abs((x.tokens_per_s as number) * (x.seconds_per_step as number) - (x.B as number) * (x.T as number)) < 1e-3 * (x.B as number) * (x.T as number));
    }
    for (const vq of points.filter((x) => x.model === "vq" && x.status === "ok")) {
      const full = points.find((x) => x.model === "full" && key(x) === key(vq));
      if (full?.status === "ok") assert.ok(Math.abs((vq.speedup as number) - (vq.tokens_per_s as number) / (full.tokens_per_s as number)) < 1e-6);
      assert.ok((vq.flop_ratio as number) > 1);
    }
    assert.equal(rows.filter((x) => x.model === "small").length, 1);
    assert.ok(fs.existsSync(path.join(out, "throughput.html")), "figure written");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test("npm run bench -- --profile --quick writes profile.csv: ops by kind, µs per op by layer and host reads of three models", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-profile-"));
  try {
    const r = spawnSync("npm", ["run", "bench", "--", "--profile", "--quick", "--out", out], { cwd: REPO, encoding: "utf8", timeout: 180_000 });
    assert.equal(r.status, 0, `bench --profile failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\[profile\] \S+ +tiny \(B 2 × T 128\): .* ms\/step, \d+ ops, .* µs\/op = tfjs-core/);
    assert.ok(!/\[bench\] \S+ +shga/.test(r.stdout), "--profile runs no sweep");
    const rows = readTable(path.join(out, "profile.csv")).objects() as Array<Record<string, unknown>>;
    assert.deepEqual([...new Set(rows.map((x) => x.config))], ["tiny", "ablation-base", "cpu-small"]);
    for (const c of ["backend", "kind", "part", "calls", "ms_per_step", "us_per_op", "share", "step_ms", "ops", "load_avg", "git_commit"]) assert.ok(c in rows[0], `column ${c}`);
    for (const name of ["tiny", "ablation-base", "cpu-small"]) {
      const layers = rows.filter((x) => x.config === name && x.kind === "layer");
      const total = (layers[0].step_ms as number) * 1000 / (layers[0].ops as number);
      const sum = layers.reduce((a, x) => a + (x.us_per_op as number), 0);
      assert.ok(Math.abs(sum - total) < 1e-3 * total, `${name}: layers sum to ${sum} µs/op, the step is ${total}`);
      assert.ok(rows.some((x) => x.config === name && x.kind === "host" && (x.calls as number) >= 1));
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
