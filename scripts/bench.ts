// Training throughput of Transformer-VQ against the same architecture with full quadratic attention (docs/paper.md §3),
// side by side in one run, on each backend asked for:
//
//   npm run bench [-- --quick] [--profile] [--backend native,wasm] [--T 1024,2048,...] [--layers 1] [--heads shga,mha,mqa]
//                 [--head-T 2048,8192] [--B 1] [--reps 3] [--warmup 1] [--budget-gb 12] [--out DIR]
//
// First (unless --quick or --no-profile; only this with --profile) the per-op profile of a training step of tiny, the
// ablation base and cpu-small (lib/experiments/throughput/profile.ts): ops by kind, µs per op by layer (tfjs-core,
// backend JS, binding, TF kernel), host reads; printed and written to <out>/profile.csv.
// Per backend: the matmul peak (lib/experiments/environment.ts), then for each head type and T one point per model
// (lib/experiments/throughput/; VQ: vq-parallel, quadratic: full), then the small-model point (the cpu-small preset's
// step at its own T). Every point runs in its own child process (a clean engine, its own peak RSS), which the
// parent kills if its RSS passes 1.3× the memory budget. Points whose estimated memory exceeds the budget are
// run full attention in query/key chunks (the same function in memory T·C), run with truncated backprop (VQ: T / U
// updates of U tokens) or are skipped, and recorded as such. Writes
// <out>/throughput.csv (default results/) and the figure throughput.{html,png,svg} (default figures/), and prints
// one line per point.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as aq from "arquero";
import { BackendName, describeBackend, initBackend } from "../lib/runtime/backend";
import { matmulPeak, measureMatmulPeak } from "../lib/experiments/environment";
import { PATHS, ensureDir } from "../lib/util/io";
import { closeFigureExporter, exportFigure } from "../lib/notebook/plots";
import { gitState } from "../lib/experiments/results";
import { saveTable, tableText } from "../lib/notebook/tables";
import { Config, getPreset, HeadType } from "../lib/config";
import {
  PlannedPoint, ProfileRow, StepTiming, ThroughputRecord, ThroughputSweepOptions, ThroughputRow, completeRow, describeProfile, describeRow, measureTrainStep,
  planThroughputSweep, profileConfigs, replanAfterMemoryKill, profileRows, profileTrainStep, smallModelConfig, speedupRows, throughputRow, throughputSweepRows,
} from "../lib/experiments/throughput/index";
import { throughputFigure } from "../lib/notebook/figures/throughput";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

const CLI: CommandSpec = {
  command: "npm run bench",
  args: "[--quick] [--backend native,wasm] [--T 1024,2048,...] [--heads shga,mha,mqa] [--layers N] [--budget-gb N] [--out DIR] [flags]",
  summary: "Training throughput of Transformer-VQ against the same architecture with full quadratic attention, per " +
    "backend, head type and sequence length, plus the matmul peak and the cpu-small point. Writes throughput.csv and " +
    "the figure throughput.{html,png,svg}, and prints one line per point.",
  flags: {
    quick: { kind: "boolean", help: "a small model and short T set (< 3 minutes): checks the pipeline, not the claim" },
    backend: { kind: "string", value: "LIST", help: "comma-separated backends: native, wasm, cpu", default: "native if it loads, else wasm" },
    T: { kind: "string", value: "LIST", help: "comma-separated sequence lengths, multiples of the block length", default: "1024,2048,…,131072; quick: 128,256" },
    layers: { kind: "number", integer: true, min: 1, help: "layers (shga: two GAUs each)", default: "1" },
    heads: { kind: "string", value: "LIST", help: "comma-separated head types: shga, mha, mqa", default: "all three" },
    "head-T": { kind: "string", value: "LIST", help: "sequence lengths of the mha / mqa points", default: "2048,8192; quick: 128" },
    B: { kind: "number", integer: true, min: 1, help: "sequences per step", default: "1" },
    reps: { kind: "number", integer: true, min: 1, help: "timed steps per point, median reported", default: "3" },
    warmup: { kind: "number", integer: true, min: 0, help: "untimed steps per point", default: "1" },
    "budget-gb": { kind: "number", above: 0, value: "GIB", help: "memory budget per point; quadratic points above it are skipped, VQ points use truncated backprop", default: "12" },
    "memory-wait": { kind: "number", min: 0, value: "SECONDS", help: "how long to wait for free memory before a point (shared machine), then skip it", default: "600" },
    "no-small": { kind: "boolean", help: "skip the cpu-small point" },
    isolate: { kind: "boolean", help: "one child process per point, for a clean peak RSS each; --isolate=false: one per backend", default: "on; quick: off" },
    "no-figure": { kind: "boolean", help: "write the CSV only" },
    profile: { kind: "boolean", help: "only the per-op profile of a training step of tiny, the ablation base and cpu-small (ops by kind, µs per op by layer, host reads): printed and written to profile.csv; without it the profile runs before the sweep (not with --quick)" },
    "no-profile": { kind: "boolean", help: "skip the profile before the sweep" },
    out: { kind: "string", value: "DIR", help: "output folder for throughput.csv and the figure", default: "results/ and figures/" },
    child: { kind: "string", value: "JSON", help: "(internal) run the jobs given as JSON and print their rows", default: "none" },
  },
  examples: ["npm run bench -- --quick", "npm run bench -- --backend native --T 2048,8192,32768 --heads shga --budget-gb 8"],
  notes: ["exit codes: 0 done (skipped points are recorded as such), 1 a failure, 2 a bad command line"],
};

/** What a child process runs: one measurement (a child gets a list and prints one "@@ROW i {json}" line each). */
type Job =
  | { kind: "matmul"; backend: BackendName; sizes: number[] }
  | { kind: "point"; backend: BackendName; cfg: Config; reps: number; warmup: number }
  | { kind: "profile"; backend: BackendName; reps: number; warmup: number };

interface Settings {
  backends: BackendName[];
  sweep: ThroughputSweepOptions;
  quick: boolean;
  /** one child process per point (clean RSS per point) or one per backend (quick) */
  isolate: boolean;
  /** seconds to wait for other jobs to free memory before skipping a point */
  memoryWaitSec: number;
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
  if (job.kind === "profile") {
    const rows = profileConfigs().flatMap(({ name, cfg }) => {
      const p = profileTrainStep(cfg, { reps: job.reps, warmup: job.warmup });
      return profileRows(job.backend, name, cfg, p, os.loadavg()[0]);
    });
    return { backend_detail: detail, profile: rows };
  }
  return { backend_detail: detail, timing: measureTrainStep(job.cfg, { reps: job.reps, warmup: job.warmup }) };
}

/** The per-op profile of each backend (a child process each): printed, and written to <out>/profile.csv. */
async function profile(s: Settings, outDir: string | undefined): Promise<void> {
  const all: ProfileRow[] = [];
  for (const backend of s.backends) {
    let got: Record<string, unknown> | undefined;
    const reps = s.quick ? 1 : 3;
    const { error: err } = await runChild([{ kind: "profile", backend, reps, warmup: 1 }], 1.3 * s.sweep.budgetBytes, (_, r) => (got = r));
    if (!got) {
      console.log(`[profile] ${backend.padEnd(6)} failed: ${err}`);
      continue;
    }
    const rows = got.profile as ProfileRow[];
    console.log(`[profile] ${backend.padEnd(6)} ${String(got.backend_detail)}; ${reps} profiled step(s) per model after 1 warm-up`);
    for (const name of [...new Set(rows.map((r) => r.config))]) for (const line of describeProfile(rows.filter((r) => r.config === name))) console.log(line);
    all.push(...rows);
  }
  if (!all.length) return;
  const { commit } = gitState();
  const when = new Date().toISOString();
  const csv = path.join(outDir ? ensureDir(outDir) : PATHS.results, "profile.csv");
  saveTable(aq.from(all.map((r) => ({ ...r, quick: s.quick, timestamp: when, git_commit: commit }))), csv);
  console.log(`[profile] wrote ${csv}`);
}

/** How a child process ended: `error` of the job that did not finish (absent when all did); `killedRssBytes` when killed for memory. */
interface ChildEnd {
  error?: string;
  killedRssBytes?: number;
}

/**
 * Runs jobs in one child process, calling `onRow` as each finishes; kills the child when its RSS passes
 * `rssLimit` bytes.
 */
function runChild(jobs: Job[], rssLimit: number, onRow: (i: number, row: Record<string, unknown>) => void): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const args = ["--import", "tsx", __filename, "--child", JSON.stringify(jobs)];
    const child = spawn(process.execPath, args, { env: { ...process.env, TVQ_BACKEND: jobs[0].backend }, stdio: ["ignore", "pipe", "pipe"] });
    let buf = "", err = "", killedForMemory = 0, maxRss = 0;
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
      maxRss = Math.max(maxRss, rss);
      if (rss > rssLimit && !killedForMemory) {
        killedForMemory = rss;
        child.kill("SIGKILL");
      }
    }, 200);
    child.on("close", (code, signal) => {
      clearInterval(watch);
      if (code === 0) return resolve({});
      if (killedForMemory) {
        const error = `killed: RSS ${(killedForMemory / 2 ** 30).toFixed(1)} GiB passed the limit ${(rssLimit / 2 ** 30).toFixed(1)} GiB (1.3 × budget or the free memory); the memory estimate was too low`;
        return resolve({ error, killedRssBytes: killedForMemory });
      }
      if (signal === "SIGKILL") { // not by us: on Linux, the kernel's out-of-memory killer
        const error = `killed by SIGKILL at ${(maxRss / 2 ** 30).toFixed(1)} GiB RSS or more (the kernel's out-of-memory killer, when dmesg says so), ` +
          `before the RSS watch saw it pass ${(rssLimit / 2 ** 30).toFixed(1)} GiB; lower --budget-gb`;
        return resolve({ error, killedRssBytes: maxRss });
      }
      // TensorFlow's own log lines (I0000 …, W0000 …) are not the error, even when they say "error"
      const lines = err.split("\n").filter((l) => !/^[IW]\d{4} |^WARNING: All log messages/.test(l));
      const why = lines.find((l) => /Error|error/.test(l)) ?? `exit ${code ?? signal}`;
      resolve({ error: why.trim().slice(0, 300) });
    });
  });
}

/** MemAvailable of /proc/meminfo in bytes (Infinity where it cannot be read). */
function memAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) * 1024 : Infinity;
  } catch {
    return Infinity;
  }
}

/** Waits up to `seconds` for `bytes` (+10%) of available memory (the machine is shared); returns what is available. */
async function waitForMemory(bytes: number, seconds: number): Promise<number> {
  const t0 = Date.now();
  let free = memAvailable();
  while (free < 1.1 * bytes && Date.now() - t0 < seconds * 1000) {
    await new Promise((res) => setTimeout(res, 10_000));
    free = memAvailable();
  }
  return free >= 1.1 * bytes ? free : Math.min(free, bytes - 1);
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

async function sweep(s: Settings): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const backend of s.backends) {
    let mm: Record<string, unknown> | undefined;
    const { error: mmError } = await runChild([{ kind: "matmul", backend, sizes: s.quick ? [128, 256, 512] : [256, 512, 1024, 2048] }], 4 * 2 ** 30, (_, r) => (mm = r));
    if (!mm) {
      console.log(`[bench] ${backend.padEnd(6)} unavailable: ${mmError}`);
      rows.push({ ...throughputRow(backend, smallModelConfig({ B: 1, T: 64 }), "none"), status: "failed", reason: `backend unavailable: ${mmError}` });
      continue;
    }
    const peak = mm.matmul_peak_gflops as number;
    const detail = String(mm.backend_detail);
    console.log(`[bench] ${backend.padEnd(6)} ${detail}; matmul peak ${peak.toFixed(1)} GFLOP/s at n = ${mm.matmul_peak_n} (sweep ${mm.sweep})`);

    const points = planThroughputSweep(backend, s.sweep);
    for (const p of points) Object.assign(p.row, { backend_detail: detail, matmul_peak_gflops: peak });
    const jobs = points.filter((p) => p.cfg);
    /** puts a replanned point in the place of the killed one (its VQ partner now pairs with the new row) */
    const replace = (old: PlannedPoint, next: PlannedPoint) => {
      points[points.indexOf(old)] = next;
      jobs[jobs.indexOf(old)] = next;
      for (const q of points) if (q.pair === old.row) q.pair = next.row;
    };
    const finished = new Set<ThroughputRow>(points.filter((p) => !p.cfg).map((p) => p.row));
    const printed = new Set<ThroughputRow>();
    const report = () => { // in plan order, each row once its quadratic pair is done too
      for (const p of points) {
        if (!finished.has(p.row) || (p.pair && !finished.has(p.pair))) return;
        if (printed.has(p.row)) continue;
        throughputSweepRows([p]);
        printed.add(p.row);
        console.log(describeRow(p.row));
      }
    };
    const finish = (i: number, r: Record<string, unknown> | undefined, error?: string) => {
      const p = jobs[i];
      if (r) completeRow(p.row, r.timing as StepTiming, peak, s.sweep.reps, s.sweep.warmup);
      else Object.assign(p.row, { status: "failed", reason: error ?? "the child process ended before this point" });
      finished.add(p.row);
      report();
    };
    const point = (p: PlannedPoint): Job => ({ kind: "point", backend, cfg: p.cfg!, reps: s.sweep.reps, warmup: s.sweep.warmup });
    const limit = 1.3 * s.sweep.budgetBytes;
    if (s.isolate) { // one child per point: a clean peak RSS each
      for (let i = 0; i < jobs.length; i++) {
        const need = jobs[i].row.est_mb * 2 ** 20;
        const free = await waitForMemory(need, s.memoryWaitSec);
        if (free < need) {
          Object.assign(jobs[i].row, { status: "skipped", reason: `the machine has ${(free / 2 ** 30).toFixed(1)} GiB available (other jobs), the point needs ~${(need / 2 ** 30).toFixed(1)} GiB; rerun when it is free` });
          finished.add(jobs[i].row);
          report();
          continue;
        }
        let got: Record<string, unknown> | undefined;
        let end = await runChild([point(jobs[i])], Math.min(limit, free + 2 ** 30), (_, r) => (got = r));
        // killed for memory although the estimate fit: once more with the plan for a budget shrunk by the estimate's error
        const next = !got && end.killedRssBytes ? replanAfterMemoryKill(jobs[i], end.killedRssBytes) : undefined;
        if (next) {
          console.log(`[bench] ${backend.padEnd(6)} ${end.error}; rerunning it: ${next.row.reason}`);
          replace(jobs[i], next);
          end = await runChild([point(next)], Math.min(limit, memAvailable() + 2 ** 30), (_, r) => (got = r));
        }
        finish(i, got, end.error);
      }
    } else {
      const done = new Set<number>();
      const { error: err } = await runChild(jobs.map(point), limit, (i, r) => {
        done.add(i);
        finish(i, r);
      });
      jobs.forEach((_, i) => done.has(i) || finish(i, undefined, err));
    }
    rows.push(...throughputSweepRows(points));
  }
  return rows;
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
  const headTs = (parseList(flags["head-T"]) ?? (quick ? ["128"] : ["2048", "8192"])).map(Number);
  if (headTs.some((T) => !Number.isInteger(T) || T < 1)) throw new UsageError(`--head-T must be positive integers, got ${flags["head-T"]}`);
  for (const h of heads) if (!["shga", "mha", "mqa"].includes(h)) throw new UsageError(`--heads: ${JSON.stringify(h)} is not shga, mha or mqa`);
  const num = (k: string, d: number) => (flags[k] === undefined ? d : (flags[k] as number));
  const preset = getPreset("cpu-small").train;
  const sweep: ThroughputSweepOptions = {
    Ts, heads, headTs, B: num("B", 1), nLayer: num("layers", 1),
    model: quick ? QUICK_MODEL : undefined, reps: num("reps", 3), warmup: num("warmup", 1), budgetBytes: num("budget-gb", 12) * 2 ** 30,
    small: flags["no-small"] ? undefined : quick ? { B: 1, T: 128 } : { B: preset.batchSize, T: preset.sequenceLen },
  };
  if (!(sweep.reps >= 1) || !(sweep.warmup >= 0) || !(sweep.B >= 1) || !(sweep.nLayer >= 1)) throw new UsageError("--reps, --B and --layers must be ≥ 1 and --warmup ≥ 0");
  const L = sweep.model?.blockLen ?? getPreset("paper-throughput").model.blockLen;
  for (const T of [...Ts, ...headTs]) if (T % L !== 0) throw new UsageError(`--T / --head-T ${T} is not a multiple of the block length L = ${L}`);
  return { backends, sweep, quick, isolate: flags.isolate === undefined ? !quick : Boolean(flags.isolate), memoryWaitSec: num("memory-wait", 600) };
}

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI);
  if (flags.child) {
    const jobs = JSON.parse(flags.child as string) as Job[];
    for (let i = 0; i < jobs.length; i++) console.log(`@@ROW ${i} ${JSON.stringify(await runJob(jobs[i]))}`);
    return;
  }
  const s = await settings(flags);
  const t0 = Date.now();
  const outDir = flags.out as string | undefined;
  if (flags.profile || (!s.quick && !flags["no-profile"])) await profile(s, outDir);
  if (flags.profile) return;
  const w = s.sweep;
  console.log(`[bench] backends ${s.backends.join(", ")}; T ∈ {${w.Ts.join(", ")}}; heads ${w.heads.join(", ")}; ${w.nLayer} layer(s), B = ${w.B}, ` +
    `${w.warmup} warm-up + ${w.reps} timed steps per point; memory budget ${(w.budgetBytes / 2 ** 30).toFixed(1)} GiB${s.quick ? "; QUICK (small model)" : ""}`);
  const rows = await sweep(s);
  const { commit } = gitState();
  const when = new Date().toISOString();
  const records: ThroughputRecord[] = rows.map((r) => ({ ...r, quick: s.quick, timestamp: when, git_commit: commit }));
  const table = aq.from(records);
  const csv = path.join(outDir ? ensureDir(outDir) : PATHS.results, "throughput.csv");
  saveTable(table, csv);
  console.log("\n" + tableText(table.select("backend", "model", "head_type", "T", "update_len", "status", "tokens_per_s", "speedup", "flop_ratio", "frac_of_peak", "peak_rss_mb")));
  console.log(`[bench] wrote ${csv}`);
  console.log("\n" + tableText(aq.from(speedupRows(rows))));
  // one figure per backend: throughput.* for the first, throughput-<backend>.* for the others
  const drawn = s.backends.filter((b) => rows.some((r) => r.backend === b && r.status === "ok" && r.model !== "small"));
  if (!flags["no-figure"] && drawn.length) {
    try {
      for (const b of drawn) {
        const files = await exportFigure(throughputFigure(rows.filter((r) => r.backend === b)), b === drawn[0] ? "throughput" : `throughput-${b}`, { dir: outDir ?? PATHS.figures });
        console.log(`[bench] wrote ${[files.html, files.png, files.svg].filter(Boolean).join(", ")}`);
      }
    } finally {
      await closeFigureExporter();
    }
  }
  console.log(`[bench] done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`bench: ${usageErrorText(e, CLI)}`);
    process.exit(2);
  }
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
