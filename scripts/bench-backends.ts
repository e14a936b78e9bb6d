// Backend comparison in one run: for native (tfjs-node), wasm and cpu, square fp32 matMul GFLOP/s at a few sizes
// and the time of one Adam training step of a small attention + MLP block made of plain tf ops. Each backend runs
// in its own child process (a clean tfjs engine each, and a backend that cannot load only costs its own row).
// Writes results/backends.csv atomically and prints one line per point, naming the backend.
//
//   npm run bench:backends [-- --backends native,wasm,cpu --sizes 256,512,1024 --reps 3 --steps 3]
//
// The training step is independent of the Transformer-VQ model on purpose (it measures the backend, not the
// model); its shape: B sequences of T tokens, width D, MLP width F, one causal softmax attention head.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import * as aq from "arquero";
import * as tf from "../lib/runtime/tf";
import { BackendName, describeBackend, initBackend } from "../lib/runtime/backend";
import { measureMatmulPeak } from "../lib/experiments/environment";
import { median, std } from "../lib/util/stats";
import { PATHS } from "../lib/util/io";
import { gitState } from "../lib/experiments/results";
import { saveTable, tableText } from "../lib/notebook/tables";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

const CLI: CommandSpec = {
  command: "npm run bench:backends",
  args: "[--backends native,wasm,cpu] [--sizes 256,512,1024] [--reps N] [--steps N] [--out FILE]",
  summary: "Compares the backends in one run: square fp32 matMul GFLOP/s at a few sizes and the time of one Adam step of " +
    "a small attention + MLP block, each backend in its own child process. Writes a CSV and prints one line per point.",
  flags: {
    backends: { kind: "string", value: "LIST", help: "comma-separated backends to measure", default: "native,wasm,cpu" },
    sizes: { kind: "string", value: "LIST", help: "comma-separated matMul sizes n (n×n times n×n)", default: "256,512,1024" },
    reps: { kind: "number", integer: true, min: 1, help: "timed repeats per matMul size, median reported", default: "3" },
    steps: { kind: "number", integer: true, min: 1, help: "timed training steps after one warm-up step, median reported", default: "3" },
    out: { kind: "string", value: "FILE", help: "CSV file to write", default: "results/backends.csv" },
    child: { kind: "string", value: "BACKEND", help: "(internal) measure this one backend and print JSON rows", default: "none" },
  },
  examples: ["npm run bench:backends", "npm run bench:backends -- --backends wasm,cpu --sizes 256 --reps 1 --steps 1"],
  notes: ["exit codes: 0 done (a backend that cannot load gets an 'unavailable' row), 1 a failure, 2 a bad command line"],
};

/** The training step's shape: B sequences, T tokens, width D, MLP width F. */
const STEP = { B: 8, T: 128, D: 128, F: 512 };

/** One point of the comparison; the CSV's columns. */
interface BenchRow {
  backend: string;
  backend_detail: string;
  metric: "matmul" | "train_step" | "unavailable";
  size: string;
  value: number | null;
  unit: string;
  spread: number | null;
  reps: number;
  note: string;
}

/** layerNorm without gain/bias over the last axis: (x − mean) / sqrt(var + 1e-5). x: [B, T, D] */
function layerNorm(x: tf.Tensor3D): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))) as tf.Tensor3D;
}

/** [B, T, Din] · [Din, Dout] -> [B, T, Dout] */
function dense(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
  const [B, T, Din] = x.shape;
  return x.reshape([B * T, Din]).matMul(w).reshape([B, T, w.shape[1]]) as tf.Tensor3D;
}

/**
 * A pre-LN block on fixed random inputs x [B, T, D], regressing a random target y [B, T, D] with Adam:
 * out = x2 + relu(LN(x2) W1) W2, x2 = x + softmax(q kᵀ/√D + causal) v Wo, (q, k, v) = LN(x) (Wq, Wk, Wv).
 * Returns a step function (runs one Adam step, returns the loss before the update) and a dispose function.
 */
function makeTrainStep(): { step: () => number; dispose: () => void; gflop: number } {
  const { B, T, D, F } = STEP;
  const param = (shape: [number, number], seed: number) => tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 1 / Math.sqrt(shape[0]), "float32", seed)) as tf.Variable<tf.Rank.R2>);
  const W = { q: param([D, D], 1), k: param([D, D], 2), v: param([D, D], 3), o: param([D, D], 4), up: param([D, F], 5), down: param([F, D], 6) };
  const x = tf.randomNormal([B, T, D], 0, 1, "float32", 7) as tf.Tensor3D; // [B, T, D]
  const y = tf.randomNormal([B, T, D], 0, 1, "float32", 8) as tf.Tensor3D; // [B, T, D]
  const causal = tf.tidy(() => tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)).mul(-1e9)); // [T, T], 0 on/below diagonal
  const opt = tf.train.adam(1e-3);
  const loss = (): tf.Scalar => {
    const h = layerNorm(x);
    const q = dense(h, W.q), k = dense(h, W.k), v = dense(h, W.v);
    const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(D)).add(causal)); // [B, T, T]
    const x2 = x.add(dense(tf.matMul(att, v) as tf.Tensor3D, W.o)) as tf.Tensor3D;
    const out = x2.add(dense(tf.relu(dense(layerNorm(x2), W.up)), W.down));
    return tf.mean(tf.squaredDifference(out, y)) as tf.Scalar;
  };
  // matMul FLOPs of the forward pass (projections, attention, MLP); backward is about twice that.
  const forward = 2 * B * T * (4 * D * D + 2 * D * F) + 2 * 2 * B * T * T * D;
  return {
    gflop: (3 * forward) / 1e9,
    step: () => {
      const l = opt.minimize(loss, true, Object.values(W))!;
      const value = l.dataSync()[0];
      l.dispose();
      return value;
    },
    dispose: () => {
      opt.dispose();
      tf.dispose([x, y, causal, ...Object.values(W)]);
    },
  };
}

/** Child mode: measures one backend and prints its rows as one JSON line. */
async function measureOne(name: BackendName, sizes: number[], reps: number, steps: number): Promise<BenchRow[]> {
  const info = await initBackend(name);
  const detail = describeBackend(info).replace(/^backend: /, "");
  const rows: BenchRow[] = [];
  for (const r of await measureMatmulPeak(sizes, reps)) {
    rows.push({ backend: name, backend_detail: detail, metric: "matmul", size: String(r.n), value: r.gflops, unit: "GFLOP/s", spread: r.gflopsStd, reps: r.reps, note: `${r.ms.toFixed(3)} ms per product` });
  }
  const train = makeTrainStep();
  try {
    const loss0 = train.step(); // warm-up: kernel setup, Adam slot creation
    const ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      train.step();
      ms.push(performance.now() - t0);
    }
    const { B, T, D, F } = STEP;
    rows.push({
      backend: name, backend_detail: detail, metric: "train_step", size: `B${B}xT${T}xD${D}xF${F}`, value: median(ms), unit: "ms",
      spread: std(ms), reps: steps, note: `first loss ${loss0.toFixed(6)}; ${(train.gflop / (median(ms) / 1000)).toFixed(1)} GFLOP/s of ${train.gflop.toFixed(2)} GFLOP matmul work`,
    });
  } finally {
    train.dispose();
  }
  return rows;
}

function printRow(r: BenchRow): void {
  const v = r.value === null ? "" : r.unit === "ms" ? `${r.value.toFixed(1)} ms` : `${r.value.toFixed(1)} ${r.unit}`;
  const spread = r.spread === null ? "" : ` (±${r.spread.toFixed(1)}, ${r.reps} reps)`;
  console.log(`[bench-backends] ${r.backend.padEnd(6)} ${r.metric.padEnd(11)} ${r.size.padEnd(20)} ${v}${spread}  ${r.note}`);
}

function parseList(value: unknown, fallback: string): string[] {
  return String(value ?? fallback).split(",").map((s) => s.trim()).filter(Boolean);
}

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI);
  const sizes = parseList(flags.sizes, "256,512,1024").map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`--sizes must be positive integers, got ${flags.sizes}`);
  const reps = (flags.reps as number | undefined) ?? 3;
  const steps = (flags.steps as number | undefined) ?? 3;
  if (flags.child) {
    const rows = await measureOne(flags.child as BackendName, sizes, reps, steps);
    console.log("@@ROWS " + JSON.stringify(rows));
    return;
  }
  const backends = parseList(flags.backends, "native,wasm,cpu");
  for (const b of backends) if (!["native", "wasm", "cpu"].includes(b)) throw new UsageError(`--backends: ${JSON.stringify(b)} is not native, wasm or cpu`);
  const all: BenchRow[] = [];
  for (const b of backends) {
    const args = ["--import", "tsx", __filename, "--child", b, "--sizes", sizes.join(","), "--reps", String(reps), "--steps", String(steps)];
    const env = { ...process.env, TVQ_BACKEND: b };
    const r = spawnSync(process.execPath, args, { env, encoding: "utf8", timeout: 15 * 60_000, maxBuffer: 16 << 20 });
    const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("@@ROWS "));
    let rows: BenchRow[];
    if (r.status === 0 && line) {
      rows = JSON.parse(line.slice("@@ROWS ".length)) as BenchRow[];
    } else {
      const why = `${r.error?.message ?? ""} ${(r.stderr ?? "").trim().split("\n").filter((l) => /Error|error/.test(l))[0] ?? `exit ${r.status}`}`.trim();
      rows = [{ backend: b, backend_detail: "", metric: "unavailable", size: "", value: null, unit: "", spread: null, reps: 0, note: why.slice(0, 400) }];
    }
    for (const row of rows) printRow(row);
    if (rows[0]?.backend_detail) console.log(`[bench-backends] ${b.padEnd(6)} is ${rows[0].backend_detail}`);
    all.push(...rows);
  }
  const { commit } = gitState();
  const when = new Date().toISOString();
  const table = aq.from(all.map((r) => ({ ...r, timestamp: when, git_commit: commit })));
  const out = (flags.out as string | undefined) ?? path.join(PATHS.results, "backends.csv");
  saveTable(table, out);
  console.log("\n" + tableText(table.select("backend", "metric", "size", "value", "unit", "spread")));
  console.log(`[bench-backends] wrote ${out}`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`bench-backends: ${usageErrorText(e, CLI)}`);
    process.exit(2);
  }
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
