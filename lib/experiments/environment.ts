/**
 * The machine the reproduction runs on: software versions, and the active backend's matmul throughput.
 *
 * Transformer-VQ's speed claim is about FLOPs: per block of L queries it does O(L(S + 2L)(d_k + d_v)) work
 * instead of O(L·T·(d_k + d_v)), and almost all of it is matrix products. So the ceiling for any speed we report
 * is the backend's dense matmul rate, measured here as GFLOP/s = 2n³ / time for square n×n·n×n products
 * (warm-up excluded, median over repeats). Throughput notebooks report "fraction of matmul peak" against it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as tf from "../runtime/tf";
import { CHROMIUM_PATH, ROOT } from "../util/io";
import { backendInfo, describeBackend } from "../runtime/backend";
import { median, std } from "../util/stats";

/** One size of the matmul sweep. */
export interface MatmulRow {
  /** matrix size: C[n,n] = A[n,n] · B[n,n] */
  n: number;
  /** median throughput over repeats, 2n³ / seconds per product / 1e9 */
  gflops: number;
  /** standard deviation of the throughput over repeats */
  gflopsStd: number;
  /** median milliseconds per product */
  ms: number;
  /** timed repeats */
  reps: number;
  /** products per timed repeat (small n runs several so a repeat lasts ≥ minRepeatMs) */
  inner: number;
  /** backend name (native / wasm / cpu) */
  backend: string;
}

/**
 * Measures square fp32 matmul throughput on the active backend (call initBackend first).
 * @param sizes matrix sizes n, e.g. [64, 128, 256, 512, 1024]
 * @param reps timed repeats per size (median reported), ≥ 1
 * @param opts.minRepeatMs each repeat runs enough products to last about this long (default 50 ms)
 * @returns one row per size, in the order given
 */
export async function measureMatmulPeak(sizes: number[], reps = 5, opts: { minRepeatMs?: number } = {}): Promise<MatmulRow[]> {
  if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`measureMatmulPeak: sizes must be positive integers, got ${JSON.stringify(sizes)}`);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`measureMatmulPeak: reps must be an integer ≥ 1, got ${reps}`);
  const minMs = opts.minRepeatMs ?? 50;
  const backend = backendInfo()?.name ?? tf.getBackend();
  const rows: MatmulRow[] = [];
  for (const n of sizes) {
    const a = tf.randomNormal([n, n], 0, 1, "float32", 1); // [n, n]
    const b = tf.randomNormal([n, n], 0, 1, "float32", 2); // [n, n]
    try {
      // One product runs `inner` times and the result is read back once, so async backends are timed fully.
      const timeProducts = async (inner: number): Promise<number> => {
        const t0 = performance.now();
        let c: tf.Tensor | undefined;
        for (let i = 0; i < inner; i++) {
          c?.dispose();
          c = tf.matMul(a, b);
        }
        await c!.data();
        c!.dispose();
        return (performance.now() - t0) / inner;
      };
      await timeProducts(1); // warm-up: kernel setup, memory allocation
      const once = await timeProducts(1);
      const inner = Math.max(1, Math.min(1000, Math.ceil(minMs / Math.max(once, 1e-3))));
      const ms: number[] = [];
      for (let r = 0; r < reps; r++) ms.push(await timeProducts(inner));
      const gflops = ms.map((t) => (2 * n * n * n) / (t / 1000) / 1e9);
      rows.push({ n, gflops: median(gflops), gflopsStd: std(gflops), ms: median(ms), reps, inner, backend });
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  return rows;
}

/** The version field of an installed npm package, or "not installed". */
function npmVersion(name: string): string {
  const file = path.join(ROOT, "node_modules", name, "package.json");
  try {
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

/** The version of a Python distribution in the project venv (.venv), read from its dist-info folder name. */
function venvVersion(dist: string): string {
  const lib = path.join(ROOT, ".venv", "lib");
  try {
    for (const py of fs.readdirSync(lib)) {
      const site = path.join(lib, py, "site-packages");
      const hit = fs.readdirSync(site).find((d) => d.toLowerCase().startsWith(dist.toLowerCase() + "-") && d.endsWith(".dist-info"));
      if (hit) return hit.slice(dist.length + 1, -".dist-info".length);
    }
  } catch {
    /* no venv */
  }
  return "not installed (run npm run setup)";
}

function chromiumVersion(): string {
  try {
    return execFileSync(CHROMIUM_PATH, ["--version"], { stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 }).toString().trim();
  } catch {
    return `not found at ${CHROMIUM_PATH} (PNG/SVG export off)`;
  }
}

/**
 * Versions of everything a result depends on, as rows {component, version}: Node, TF.js and the active backend,
 * tslab and its TypeScript, JupyterLab / nbclient / plotly from .venv, Chromium, plotly.js, arquero, the OS/CPU.
 */
export function environmentVersions(): Array<{ component: string; version: string }> {
  const cpus = os.cpus();
  return [
    { component: "Node.js", version: process.version },
    { component: "TensorFlow.js", version: tf.version.tfjs },
    { component: "backend", version: describeBackend().replace(/^backend: /, "") },
    { component: "tslab", version: npmVersion("tslab") },
    { component: "TypeScript (tslab's compiler)", version: npmVersion("@tslab/typescript-for-tslab") },
    { component: "JupyterLab (.venv)", version: venvVersion("jupyterlab") },
    { component: "nbclient (.venv)", version: venvVersion("nbclient") },
    { component: "plotly (Python, .venv)", version: venvVersion("plotly") },
    { component: "Chromium", version: chromiumVersion() },
    { component: "plotly.js", version: npmVersion("plotly.js-dist") },
    { component: "arquero", version: npmVersion("arquero") },
    { component: "playwright-core", version: npmVersion("playwright-core") },
    { component: "OS", version: `${os.type()} ${os.release()} (${os.arch()})` },
    { component: "CPU", version: `${cpus[0]?.model ?? "?"} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM` },
  ];
}

/**
 * The fastest size of a sweep: the backend's matmul peak, the denominator of "fraction of matmul peak".
 * @param rows rows from measureMatmulPeak
 */
export function matmulPeak(rows: MatmulRow[]): MatmulRow {
  if (!rows.length) throw new Error("matmulPeak: no rows; run measureMatmulPeak first");
  return rows.reduce((best, r) => (r.gflops > best.gflops ? r : best));
}
