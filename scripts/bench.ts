// Training throughput of Transformer-VQ against the same architecture with full quadratic attention (paper §3),
// side by side in one run, on each backend asked for:
//
//   npm run bench [-- --quick] [--backend native,wasm] [--T 1024,2048,...] [--layers 1] [--heads shga,mha,mqa]
//                 [--B 1] [--reps 3] [--warmup 1] [--budget-gb 12] [--out DIR]
//
// Per backend: the matmul peak (lib/bench.ts), then for each head type and T one point per model (VQ: vq-parallel;
// quadratic: full), then the small-model point (the cpu-small preset's step at its own T). Every point runs in
// its own child process (a clean engine, its own peak RSS), which the parent kills if its RSS passes 1.3× the
// memory budget. Points whose estimated memory exceeds the budget are skipped (quadratic) or run with truncated
// backprop (VQ: T / U updates of U tokens), and recorded as such. Writes <out>/throughput.csv (default
// results/) and the figure throughput.{html,png,svg} (default figures/), and prints one line per point.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as aq from "arquero";
import { BackendName, describeBackend, initBackend } from "../lib/backend";
import { matmulPeak, measureMatmulPeak } from "../lib/bench";
import { PATHS, ensureDir } from "../lib/io";
import { closeFigureExporter, exportFigure } from "../lib/plots";
import { gitState } from "../lib/results";
import { saveTable, tableText } from "../lib/tables";
import { Config, getPreset, HeadType } from "../lib/config";
import {
  ThroughputPointSpec, ThroughputRow, flopSpeedup, flopsPerToken, measureTrainStep, planPoint, throughputConfig, throughputFigure, withStepShape,
} from "../lib/throughput";
import { FlagSpec, parseFlags, UsageError, usageLines } from "./args";

const FLAGS: FlagSpec = {
  quick: { kind: "boolean", help: "a small model and short T set (< 3 minutes): checks the pipeline, not the claim" },
  backend: { kind: "string", help: "comma-separated backends (default: native if it loads, else wasm)" },
  T: { kind: "string", help: "comma-separated sequence lengths (default 1024,…,131072; quick: 128,256,512)" },
  layers: { kind: "number", help: "layers (shga: two GAUs each; default 1)" },
  heads: { kind: "string", help: "comma-separated head types shga,mha,mqa (default all three; quick: all three at one T)" },
  B: { kind: "number", help: "sequences per step (default 1)" },
  reps: { kind: "number", help: "timed steps per point, median reported (default 3)" },
  warmup: { kind: "number", help: "untimed steps per point (default 1)" },
  "budget-gb": { kind: "number", help: "memory budget per point in GiB (default 12)" },
  "no-small": { kind: "boolean", help: "skip the cpu-small point" },
  isolate: { kind: "boolean", help: "one child process per point, for a clean peak RSS each (default; quick: one per backend)" },
  "no-figure": { kind: "boolean", help: "write the CSV only" },
  out: { kind: "string", help: "output folder for throughput.csv and the figure (default results/ and figures/)" },
  child: { kind: "string", help: "(internal) run one job given as JSON and print its row" },
  help: { kind: "boolean", help: "print this help" },
};

/** What a child process runs: one measurement (a child gets a list and prints one "@@ROW i {json}" line each). */
type Job =
  | { kind: "matmul"; backend: BackendName; sizes: number[] }
  | { kind: "point"; backend: BackendName; spec: ThroughputPointSpec; U: number; reps: number; warmup: number; small?: { B: number; T: number } };

interface Settings {
  backends: BackendName[];
  Ts: number[];
  heads: HeadType[];
  layers: number;
  B: number;
  reps: number;
  warmup: number;
  budget: number;
  quick: boolean;
  small: boolean;
  /** model overrides for the throughput points */
  model: ThroughputPointSpec["model"];
  /** T of mha/mqa points in quick mode (one T only) */
  headTs?: number[];
  /** one child process per point (clean RSS per point) or one per backend (quick) */
  isolate: boolean;
}

const QUICK_MODEL = { dModel: 64, dK: 16, dV: 128, nCode: 32, blockLen: 32, memLen: 32 };

// ------------------------------------------------------------------------------------------------------------
// Child: one measurement
// ------------------------------------------------------------------------------------------------------------

async function runJob(job: Job): Promise<Record<string, unknown>> {
  const info = await initBackend(job.backend);
  const detail = describeBackend(info).replace(/^backend: /, "");
  if (job.kind === "matmul") {
    const rows = await measureMatmulPeak(job.sizes, 3);
    const peak = matmulPeak(rows);
    return { backend_detail: detail, matmul_peak_gflops: peak.gflops, matmul_peak_n: peak.n, sweep: rows.map((r) => `${r.n}:${r.gflops.toFixed(1)}`).join(" ") };
  }
  const cfg = job.small ? smallConfig(job.small) : withStepShape(throughputConfig(job.spec), { U: job.U });
  const t = measureTrainStep(cfg, { reps: job.reps, warmup: job.warmup });
  return {
    backend_detail: detail, seconds_per_step: t.seconds, seconds_std: t.secondsStd, tokens_per_s: t.tokensPerSec,
    us_per_token: t.secondsPerToken * 1e6, flops_per_token: t.flopsPerToken, achieved_gflops: t.achievedGflops,
    peak_rss_mb: t.peakRssBytes / 2 ** 20, peak_tf_mb: t.peakTensorBytes / 2 ** 20, first_loss: t.firstLoss,
    update_len: t.U, B: t.B, T: t.T,
  };
}

/**
 * Runs jobs in one child process, calling `onRow` as each finishes; kills the child when its RSS passes
 * `rssLimit` bytes. Returns the error of the job that did not finish (undefined when all did).
 */
function runChild(jobs: Job[], rssLimit: number, onRow: (i: number, row: Record<string, unknown>) => void): Promise<string | undefined> {
  return new Promise((resolve) => {
    const args = ["--import", "tsx", __filename, "--child", JSON.stringify(jobs)];
    const child = spawn(process.execPath, args, { env: { ...process.env, TVQ_BACKEND: jobs[0].backend }, stdio: ["ignore", "pipe", "pipe"] });
    let buf = "", err = "", killedForMemory = 0;
    child.stdout.on("data", (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^@@ROW (\d+) (.*)$/.exec(line);
        if (m) onRow(Number(m[1]), JSON.parse(m[2]) as Record<string, unknown>);
      }
    });
    child.stderr.on("data", (d) => (err += d));
    const watch = setInterval(() => {
      const rss = processRss(child.pid);
      if (rss > rssLimit && !killedForMemory) {
        killedForMemory = rss;
        child.kill("SIGKILL");
      }
    }, 500);
    child.on("close", (code, signal) => {
      clearInterval(watch);
      if (code === 0) return resolve(undefined);
      if (killedForMemory) return resolve(`killed: RSS ${(killedForMemory / 2 ** 30).toFixed(1)} GiB passed the limit ${(rssLimit / 2 ** 30).toFixed(1)} GiB (1.3 × budget); the memory estimate was too low`);
      const why = err.split("\n").find((l) => /Error|error/.test(l)) ?? `exit ${code ?? signal}`;
      resolve(why.trim().slice(0, 300));
    });
  });
}

/** Resident bytes of a process (0 when gone). */
function processRss(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ------------------------------------------------------------------------------------------------------------
// Parent: the sweep
// ------------------------------------------------------------------------------------------------------------

function pointName(r: ThroughputRow): string {
  return r.model === "small" ? "cpu-small (vq-parallel)" : `${r.head_type} ${r.attn_type}`;
}

function printRow(r: ThroughputRow): void {
  const head = `[bench] ${r.backend.padEnd(6)} ${pointName(r).padEnd(24)} T=${String(r.T).padEnd(6)} B=${r.B}`;
  if (r.status !== "ok") {
    console.log(`${head}  ${r.status}: ${r.reason}`);
    return;
  }
  const n = (x: unknown, d = 1) => (typeof x === "number" ? x.toFixed(d) : "?");
  const u = r.update_len !== r.T ? ` U=${r.update_len}` : "";
  console.log(`${head}${u}  ${n(r.tokens_per_s, 0)} tok/s, ${n(r.seconds_per_step, 2)} s/step (±${n(r.seconds_std, 2)}, ${r.reps} reps), ` +
    `${n(r.achieved_gflops)} GFLOP/s = ${n(100 * (r.frac_of_peak as number))}% of matmul peak, RSS ${n((r.peak_rss_mb as number) / 1024, 2)} GiB` +
    (typeof r.speedup === "number" ? `, speedup ${r.speedup.toFixed(2)}× (FLOP ratio ${n(r.flop_ratio, 2)}×)` : ""));
}

function baseRow(backend: string, cfg: Config): ThroughputRow {
  const m = cfg.model;
  return {
    backend, backend_detail: "", model: m.attnType === "full" ? "full" : "vq", attn_type: m.attnType, head_type: m.headType,
    T: cfg.train.sequenceLen, B: cfg.train.batchSize, n_layer: m.nLayer, update_len: cfg.train.sequenceLen, status: "ok", reason: "",
    reps: 0, warmup: 0, seconds_per_step: null, seconds_std: null, tokens_per_s: null, us_per_token: null,
    flops_per_token: flopsPerToken(m, cfg.train.sequenceLen).train, achieved_gflops: null, matmul_peak_gflops: null, frac_of_peak: null,
    speedup: null, flop_ratio: null, peak_rss_mb: null, peak_tf_mb: null, est_mb: null, first_loss: null,
    d_model: m.dModel, d_k: m.dK, d_v: m.dV, n_head: m.nHead, n_code: m.nCode, block_len: m.blockLen, d_ff: m.dFF,
  };
}

/** The cpu-small preset's training step (B, T as given: the preset's own in the full run). */
function smallConfig(shape: { B: number; T: number }): Config {
  return withStepShape(getPreset("cpu-small"), { B: shape.B, T: shape.T, U: shape.T });
}

async function sweep(s: Settings): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const backend of s.backends) {
    let mm: Record<string, unknown> | undefined;
    const mmError = await runChild([{ kind: "matmul", backend, sizes: s.quick ? [128, 256, 512] : [256, 512, 1024, 2048] }], 4 * 2 ** 30, (_, r) => (mm = r));
    if (!mm) {
      console.log(`[bench] ${backend.padEnd(6)} unavailable: ${mmError}`);
      rows.push({ ...baseRow(backend, smallConfig({ B: 1, T: 64 })), model: "none", status: "failed", reason: `backend unavailable: ${mmError}` });
      continue;
    }
    const peak = mm.matmul_peak_gflops as number;
    const detail = String(mm.backend_detail);
    console.log(`[bench] ${backend.padEnd(6)} ${detail}; matmul peak ${peak.toFixed(1)} GFLOP/s at n = ${mm.matmul_peak_n} (sweep ${mm.sweep})`);

    // plan every point: VQ and quadratic side by side per head type and T, then the small model
    const planned: Array<{ row: ThroughputRow; job?: Job; pair?: ThroughputRow }> = [];
    const plan = (cfg: Config, job: Job): ThroughputRow => {
      const row = baseRow(backend, cfg);
      Object.assign(row, { backend_detail: detail, matmul_peak_gflops: peak });
      const p = planPoint(cfg, s.budget);
      row.est_mb = p.estimatedBytes / 2 ** 20;
      row.reason = p.reason;
      if (!p.run) row.status = "skipped";
      else if (job.kind === "point") {
        row.update_len = p.U;
        job.U = p.U;
      }
      planned.push({ row, job: p.run ? job : undefined });
      return row;
    };
    for (const head of s.heads) {
      for (const T of head !== "shga" && s.headTs ? s.headTs : s.Ts) {
        const spec = (attnType: "vq-parallel" | "full"): ThroughputPointSpec => ({ attnType, headType: head, T, B: s.B, nLayer: s.layers, model: s.model });
        const point = (attnType: "vq-parallel" | "full"): Job => ({ kind: "point", backend, spec: spec(attnType), U: T, reps: s.reps, warmup: s.warmup });
        const vq = plan(throughputConfig(spec("vq-parallel")), point("vq-parallel"));
        const full = plan(throughputConfig(spec("full")), point("full"));
        vq.flop_ratio = flopSpeedup(throughputConfig(spec("vq-parallel")).model, throughputConfig(spec("full")).model, T);
        planned[planned.length - 2].pair = full;
      }
    }
    if (s.small) {
      const preset = getPreset("cpu-small").train;
      const shape = s.quick ? { B: 1, T: 128 } : { B: preset.batchSize, T: preset.sequenceLen };
      const small = { kind: "point", backend, spec: { attnType: "vq-parallel", headType: "shga", T: shape.T, B: shape.B, nLayer: 0 }, U: shape.T, reps: s.reps, warmup: s.warmup, small: shape } as Job;
      plan(smallConfig(shape), small).model = "small";
    }

    // run them: one child per point (isolated RSS) or one per backend
    const jobs = planned.filter((p) => p.job);
    const finished = new Set<ThroughputRow>(planned.filter((p) => !p.job).map((p) => p.row));
    const finish = (i: number, r: Record<string, unknown> | undefined, error?: string) => {
      const p = jobs[i];
      finished.add(p.row);
      if (r) {
        Object.assign(p.row, r, { reps: s.reps, warmup: s.warmup, status: "ok" });
        p.row.frac_of_peak = (p.row.achieved_gflops as number) / peak;
      } else {
        p.row.status = "failed";
        p.row.reason = error ?? "the child process ended before this point";
      }
      report(planned, finished);
    };
    const done = new Set<number>();
    const onRow = (offset: number) => (i: number, r: Record<string, unknown>) => {
      finish(offset + i, r);
      done.add(offset + i);
    };
    if (s.isolate) {
      for (let i = 0; i < jobs.length; i++) {
        const err = await runChild([jobs[i].job!], 1.3 * s.budget, onRow(i));
        if (!done.has(i)) finish(i, undefined, err);
      }
    } else {
      const err = await runChild(jobs.map((p) => p.job!), 1.3 * s.budget, onRow(0));
      jobs.forEach((_, i) => done.has(i) || finish(i, undefined, err));
    }
    report(planned, finished);
    rows.push(...planned.map((p) => p.row));
  }
  return rows;
}

const reported = new Set<ThroughputRow>();

/** Prints, in plan order, every row that is finished (and whose quadratic pair is), up to the first that is not. */
function report(planned: Array<{ row: ThroughputRow; pair?: ThroughputRow }>, finished: Set<ThroughputRow>): void {
  for (const p of planned) {
    if (!finished.has(p.row) || (p.pair && !finished.has(p.pair))) return;
    if (reported.has(p.row)) continue;
    if (p.pair && p.row.status === "ok" && p.pair.status === "ok") p.row.speedup = (p.row.tokens_per_s as number) / (p.pair.tokens_per_s as number);
    reported.add(p.row);
    printRow(p.row);
  }
}

function parseList(value: unknown): string[] | undefined {
  return value === undefined ? undefined : String(value).split(",").map((x) => x.trim()).filter(Boolean);
}

async function settings(flags: Record<string, unknown>): Promise<Settings> {
  const quick = Boolean(flags.quick);
  let backends = parseList(flags.backend) as BackendName[] | undefined;
  if (!backends) backends = [(await initBackend()).name];
  for (const b of backends) if (!["native", "wasm", "cpu"].includes(b)) throw new UsageError(`--backend: ${JSON.stringify(b)} is not native, wasm or cpu`);
  const Ts = (parseList(flags.T) ?? (quick ? ["128", "256"] : ["1024", "2048", "4096", "8192", "16384", "32768", "65536", "131072"])).map(Number);
  if (Ts.some((T) => !Number.isInteger(T) || T < 1)) throw new UsageError(`--T must be positive integers, got ${flags.T}`);
  const heads = (parseList(flags.heads) ?? ["shga", "mha", "mqa"]) as HeadType[];
  for (const h of heads) if (!["shga", "mha", "mqa"].includes(h)) throw new UsageError(`--heads: ${JSON.stringify(h)} is not shga, mha or mqa`);
  const num = (k: string, d: number) => (flags[k] === undefined ? d : (flags[k] as number));
  const s: Settings = {
    backends, Ts, heads, quick, layers: num("layers", 1), B: num("B", 1), reps: num("reps", 3), warmup: num("warmup", 1),
    budget: num("budget-gb", 12) * 2 ** 30, small: !flags["no-small"], model: quick ? QUICK_MODEL : undefined,
    headTs: quick && flags.T === undefined ? [128] : undefined,
    isolate: flags.isolate === undefined ? !quick : Boolean(flags.isolate),
  };
  if (!(s.reps >= 1) || !(s.warmup >= 0) || !(s.B >= 1) || !(s.layers >= 1)) throw new UsageError("--reps, --B and --layers must be ≥ 1 and --warmup ≥ 0");
  for (const T of Ts) {
    const L = (s.model?.blockLen ?? getPreset("paper-throughput").model.blockLen);
    if (T % L !== 0) throw new UsageError(`--T ${T} is not a multiple of the block length L = ${L}`);
  }
  return s;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (flags.help) {
    console.log(`usage: npm run bench [-- flags]\n${usageLines(FLAGS)}`);
    return;
  }
  if (flags.child) {
    const jobs = JSON.parse(flags.child as string) as Job[];
    for (let i = 0; i < jobs.length; i++) console.log(`@@ROW ${i} ${JSON.stringify(await runJob(jobs[i]))}`);
    return;
  }
  const s = await settings(flags);
  const t0 = Date.now();
  console.log(`[bench] backends ${s.backends.join(", ")}; T ∈ {${s.Ts.join(", ")}}; heads ${s.heads.join(", ")}; ${s.layers} layer(s), B = ${s.B}, ` +
    `${s.warmup} warm-up + ${s.reps} timed steps per point; memory budget ${(s.budget / 2 ** 30).toFixed(1)} GiB${s.quick ? "; QUICK (small model)" : ""}`);
  const rows = await sweep(s);
  const { commit } = gitState();
  const when = new Date().toISOString();
  const table = aq.from(rows.map((r) => ({ ...r, quick: s.quick, timestamp: when, git_commit: commit })));
  const outDir = flags.out as string | undefined;
  const csv = path.join(outDir ? ensureDir(outDir) : PATHS.results, "throughput.csv");
  saveTable(table, csv);
  console.log("\n" + tableText(table.select("backend", "model", "head_type", "T", "update_len", "status", "tokens_per_s", "speedup", "flop_ratio", "frac_of_peak", "peak_rss_mb")));
  console.log(`[bench] wrote ${csv}`);
  if (!flags["no-figure"] && rows.some((r) => r.status === "ok" && r.model !== "small")) {
    try {
      const files = await exportFigure(throughputFigure(rows), "throughput", { dir: outDir ?? PATHS.figures });
      console.log(`[bench] wrote ${[files.html, files.png, files.svg].filter(Boolean).join(", ")}`);
    } finally {
      await closeFigureExporter();
    }
  }
  console.log(`[bench] done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`bench: ${e.message}\n${usageLines(FLAGS)}`);
    process.exit(2);
  }
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
