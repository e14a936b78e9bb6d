/**
 * The throughput sweep (paper §3): Transformer-VQ (vq-parallel) and the same architecture with full quadratic
 * attention, side by side per head type and sequence length T, plus the cpu-small preset's step that bounds every
 * other notebook. Each point is planned against a memory budget (memory.ts), timed (measure.ts) and recorded as a
 * `ThroughputRow`, the row type of results/throughput.csv that scripts/bench.ts writes and notebook 20 reads.
 */
import { AttnType, Config, DeepPartial, HeadType, ModelConfig, getPreset } from "../../config";
import type { Table } from "../../util/table";
import { flopsPerToken } from "../cost";
import { estimateStepBytes, fullChunkOf, planPoint } from "./memory";
import { StepTiming, measureTrainStep, withStepShape } from "./measure";

export interface ThroughputPointSpec {
  attnType: AttnType;
  headType: HeadType;
  /** tokens per sequence */
  T: number;
  /** sequences per step */
  B: number;
  /** layers (shga: two GAUs each; mha/mqa: attention + MLP) */
  nLayer: number;
  /** model overrides on top of the preset (e.g. smaller widths for a quick run) */
  model?: Partial<ModelConfig>;
  /** base preset (default "paper-throughput") */
  preset?: string;
}

/**
 * The paper's throughput model (config_throughput.py: d_model 768, d_k 128, S = L = M = 512, AdamW) for one
 * point. SHGA: single-head GAUs with d_v = 2·d_model and no MLP; MHA / MQA: n_heads = d_model / d_k query heads
 * (MHA: as many key heads, MQA: one), d_v = d_k, squared-ReLU MLP of width 4·d_model (MHA) or 5·d_model (MQA).
 * One step covers the whole sequence (updateLen = T).
 */
export function throughputConfig(p: ThroughputPointSpec): Config {
  const base = getPreset(p.preset ?? "paper-throughput").model;
  const merged = { ...base, ...p.model };
  const heads: Partial<ModelConfig> = p.headType === "shga"
    ? { nHead: 1, dFF: 0 }
    : { nHead: Math.max(1, Math.floor(merged.dModel / merged.dK)), dV: merged.dK, dFF: (p.headType === "mha" ? 4 : 5) * merged.dModel };
  const model: DeepPartial<ModelConfig> = { ...p.model, ...heads, attnType: p.attnType, headType: p.headType, nLayer: p.nLayer };
  return getPreset(p.preset ?? "paper-throughput", {
    model,
    train: { batchSize: p.B, sequenceLen: p.T, updateLen: p.T },
  });
}

/** The cpu-small preset's training step at shape B × T (one update over T). */
export function smallModelConfig(shape: { B: number; T: number }): Config {
  return withStepShape(getPreset("cpu-small"), { B: shape.B, T: shape.T, U: shape.T });
}

/** One measured, skipped or failed point: a row of results/throughput.csv. */
export interface ThroughputRow {
  backend: string;
  backend_detail: string;
  /** "vq" (vq-parallel), "full" (quadratic), "small" (the cpu-small preset's step) or "none" (backend unavailable) */
  model: "vq" | "full" | "small" | "none";
  attn_type: AttnType;
  head_type: HeadType;
  /** tokens per sequence */
  T: number;
  /** sequences per step */
  B: number;
  n_layer: number;
  /** tokens per parameter update (T unless truncated backprop was needed to fit memory) */
  update_len: number;
  status: "ok" | "skipped" | "failed";
  /** why skipped / failed, or the truncated-backprop note */
  reason: string;
  reps: number;
  warmup: number;
  /** median seconds per step (B × T tokens) */
  seconds_per_step: number | null;
  seconds_std: number | null;
  tokens_per_s: number | null;
  /** microseconds per token */
  us_per_token: number | null;
  /** analytic training FLOPs per token */
  flops_per_token: number;
  achieved_gflops: number | null;
  matmul_peak_gflops: number | null;
  /** achieved / matmul peak */
  frac_of_peak: number | null;
  /** VQ rows: tokens/s over the quadratic model's at the same T (both measured) */
  speedup: number | null;
  /** VQ rows: the quadratic model's training FLOPs per token over VQ's (the speedup at equal FLOP rates) */
  flop_ratio: number | null;
  peak_rss_mb: number | null;
  peak_tf_mb: number | null;
  /** estimateStepBytes of the planned update, MiB */
  est_mb: number;
  first_loss: number | null;
  /** 1-minute load average of the machine after the point's timed steps */
  load_avg: number | null;
  d_model: number;
  d_k: number;
  d_v: number;
  n_head: number;
  n_code: number;
  block_len: number;
  d_ff: number;
  /** full attention's query/key chunk (0: T×T scores; > 0: the chunked form, the same function in memory T·C) */
  full_chunk: number;
  /** how the timed steps ran: "graph" (native), "eager", or "eager: " and why the graph fell back ("" before measured) */
  execution: string;
}

/** A row of results/throughput.csv as scripts/bench.ts writes it: the point and the benchmark run's record. */
export interface ThroughputRecord extends ThroughputRow {
  /** a --quick run (small model: checks the pipeline, not the claim) */
  quick: boolean;
  timestamp: string;
  git_commit: string;
}

/** A not-yet-measured row for a config (status "ok" until planned otherwise). */
export function throughputRow(backend: string, cfg: Config, model?: ThroughputRow["model"]): ThroughputRow {
  const m = cfg.model;
  return {
    backend, backend_detail: "", model: model ?? (m.attnType === "full" ? "full" : "vq"), attn_type: m.attnType, head_type: m.headType,
    T: cfg.train.sequenceLen, B: cfg.train.batchSize, n_layer: m.nLayer, update_len: cfg.train.updateLen, status: "ok", reason: "",
    reps: 0, warmup: 0, seconds_per_step: null, seconds_std: null, tokens_per_s: null, us_per_token: null,
    flops_per_token: flopsPerToken(m, cfg.train.updateLen).train, achieved_gflops: null, matmul_peak_gflops: null, frac_of_peak: null,
    speedup: null, flop_ratio: null, peak_rss_mb: null, peak_tf_mb: null, est_mb: estimateStepBytes(cfg) / 2 ** 20, first_loss: null, load_avg: null,
    d_model: m.dModel, d_k: m.dK, d_v: m.dV, n_head: m.nHead, n_code: m.nCode, block_len: m.blockLen, d_ff: m.dFF,
    full_chunk: m.attnType === "full" ? fullChunkOf(m, cfg.train.updateLen) : 0, execution: "",
  };
}

/**
 * The rows of a results/throughput.csv table (readTable) as typed records. Columns an older benchmark did not
 * write read as null ("" for text); a table without the point columns is not a benchmark's and throws.
 */
export function throughputRecords(table: Table): ThroughputRecord[] {
  const have = new Set(table.columnNames());
  const missing = ["backend", "model", "head_type", "T", "status"].filter((c) => !have.has(c));
  if (missing.length) throw new Error(`throughputRecords: no column ${missing.join(", ")}; pass the results/throughput.csv of npm run bench`);
  const template: ThroughputRecord = { ...throughputRow("cpu", smallModelConfig({ B: 1, T: 64 })), quick: false, timestamp: "", git_commit: "" };
  return (table.objects() as Array<Record<string, unknown>>).map((o) => {
    const row: Record<string, unknown> = { ...template };
    for (const [k, like] of Object.entries(template)) {
      row[k] = typeof like === "string" ? String(o[k] ?? "") : typeof like === "boolean" ? String(o[k]) === "true" : o[k] ?? null;
    }
    return row as Partial<ThroughputRecord> as ThroughputRecord;
  });
}

export interface ThroughputSweepOptions {
  /** sequence lengths of the SHGA points (and of mha/mqa unless headTs is given) */
  Ts: number[];
  heads: HeadType[];
  /** sequence lengths of the mha / mqa points (default Ts) */
  headTs?: number[];
  B: number;
  nLayer: number;
  /** overrides of the paper's throughput model (e.g. smaller widths for a smoke run) */
  model?: Partial<ModelConfig>;
  reps: number;
  warmup: number;
  /** memory budget per point, bytes */
  budgetBytes: number;
  /** the cpu-small preset's step at this shape (the preset's own B and T in the benchmark), or none */
  small?: { B: number; T: number };
}

/** One point of a sweep: its row (status "skipped" when it does not fit) and the config to run. */
export interface PlannedPoint {
  row: ThroughputRow;
  /** the config to measure, with the planned update length; undefined when skipped */
  cfg?: Config;
  /** the point as asked for (U = T, no chunking), which the plan shaped into cfg */
  spec: Config;
  /** the budget the point was planned against, bytes */
  budgetBytes: number;
  /** the quadratic row measured beside this VQ row */
  pair?: ThroughputRow;
}

/**
 * Plans one point against a memory budget (planPoint): the row (skipped, with the reason, when nothing fits) and
 * the config to measure (U and full attention's chunk as planned).
 */
export function planThroughputPoint(backend: string, cfg: Config, budgetBytes: number, model?: ThroughputRow["model"]): PlannedPoint {
  const p = planPoint(cfg, budgetBytes);
  const shaped = p.fullChunk ? { ...cfg, model: { ...cfg.model, fullChunk: p.fullChunk } } : cfg;
  const run = p.run ? withStepShape(shaped, { U: p.U }) : undefined;
  const row = throughputRow(backend, run ?? cfg, model);
  Object.assign(row, { reason: p.reason, est_mb: p.estimatedBytes / 2 ** 20, status: p.run ? "ok" : "skipped" });
  return { row, cfg: run, spec: cfg, budgetBytes };
}

/**
 * The plan of a point whose process was killed at `killedRssBytes` although its estimate fit: the memory model
 * (fitted on one machine) is low by the factor killed / estimated on this one, so the point is planned again
 * against the budget shrunk by that factor, which runs full attention in chunks or VQ with a shorter update
 * where they fit. Undefined when the new plan would run the same config again (nothing smaller fits).
 */
export function replanAfterMemoryKill(point: PlannedPoint, killedRssBytes: number): PlannedPoint | undefined {
  if (!point.cfg) return undefined;
  const estimated = point.row.est_mb * 2 ** 20;
  const budget = point.budgetBytes * Math.min(1, estimated / killedRssBytes);
  const next = planThroughputPoint(point.row.backend, point.spec, budget, point.row.model);
  const same = next.cfg && next.cfg.train.updateLen === point.cfg.train.updateLen && (next.cfg.model.fullChunk ?? 0) === (point.cfg.model.fullChunk ?? 0);
  if (!next.cfg || same) return undefined;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  const first = `a first run with ${point.row.update_len !== point.row.T ? `U = ${point.row.update_len}` : point.row.full_chunk ? `C = ${point.row.full_chunk}` : "the whole sequence"} ` +
    `was killed at ${gib(killedRssBytes)} GiB RSS (estimated ${gib(estimated)} GiB)`;
  next.row.reason = next.row.reason ? `${next.row.reason}; ${first}` : first;
  next.row.backend_detail = point.row.backend_detail;
  next.row.matmul_peak_gflops = point.row.matmul_peak_gflops;
  next.pair = point.pair;
  return next;
}

/**
 * Every point of a sweep in the order it runs: per head type and T, VQ (vq-parallel) then the quadratic model
 * (full), then the small model; each planned against the memory budget (planPoint).
 * @param backend backend name for the rows
 */
export function planThroughputSweep(backend: string, o: ThroughputSweepOptions): PlannedPoint[] {
  const out: PlannedPoint[] = [];
  const plan = (cfg: Config, model?: ThroughputRow["model"]): PlannedPoint => {
    const point = planThroughputPoint(backend, cfg, o.budgetBytes, model);
    out.push(point);
    return point;
  };
  for (const headType of o.heads) {
    for (const T of headType !== "shga" && o.headTs ? o.headTs : o.Ts) {
      const spec = (attnType: AttnType): ThroughputPointSpec => ({ attnType, headType, T, B: o.B, nLayer: o.nLayer, model: o.model });
      const vqCfg = throughputConfig(spec("vq-parallel"));
      const fullCfg = throughputConfig(spec("full"));
      const vq = plan(vqCfg);
      vq.pair = plan(fullCfg).row;
      vq.row.flop_ratio = flopRatio(vq.row, vq.pair);
    }
  }
  if (o.small) plan(smallModelConfig(o.small), "small");
  return out;
}

/** Fills a row from a measurement (status ok) against the backend's matmul peak. */
export function completeRow(row: ThroughputRow, t: StepTiming, peakGflops: number, reps: number, warmup: number): ThroughputRow {
  return Object.assign(row, {
    status: "ok", reps, warmup, seconds_per_step: t.seconds, seconds_std: t.secondsStd, tokens_per_s: t.tokensPerSec,
    us_per_token: t.secondsPerToken * 1e6, flops_per_token: t.flopsPerToken, achieved_gflops: t.achievedGflops,
    matmul_peak_gflops: peakGflops, frac_of_peak: t.achievedGflops / peakGflops, peak_rss_mb: t.peakRssBytes / 2 ** 20,
    peak_tf_mb: t.peakTensorBytes / 2 ** 20, first_loss: t.firstLoss, update_len: t.U, load_avg: t.loadAvg, execution: t.execution,
  } as Partial<ThroughputRow>);
}

/**
 * The quadratic row's training FLOPs per token over the VQ row's, each counted as it runs (full attention in chunks:
 * the pairs on or below the diagonal and the backward's recomputation; else the dense T×T products).
 */
function flopRatio(vq: ThroughputRow, full: ThroughputRow): number {
  return full.flops_per_token / vq.flops_per_token;
}

/** Sets each VQ row's speedup over its quadratic pair where both were measured, and the FLOP ratio of the pair as planned; returns the rows in order. */
export function throughputSweepRows(points: PlannedPoint[]): ThroughputRow[] {
  for (const p of points) {
    if (!p.pair) continue;
    p.row.flop_ratio = flopRatio(p.row, p.pair);
    if (p.row.status === "ok" && p.pair.status === "ok") p.row.speedup = p.row.tokens_per_s! / p.pair.tokens_per_s!;
  }
  return points.map((p) => p.row);
}

/** One line naming the backend, the point and its numbers (the benchmark's stdout format). */
export function describeRow(r: ThroughputRow): string {
  const name = r.model === "small" ? "cpu-small (vq-parallel)" : `${r.head_type} ${r.attn_type}`;
  const head = `[bench] ${r.backend.padEnd(6)} ${name.padEnd(24)} T=${String(r.T).padEnd(6)} B=${r.B}`;
  if (r.status !== "ok") return `${head}  ${r.status}: ${r.reason}`;
  const n = (x: number | null, d = 1) => (x === null ? "?" : x.toFixed(d));
  const u = (r.update_len !== r.T ? ` U=${r.update_len}` : "") + (r.full_chunk ? ` C=${r.full_chunk}` : "");
  const how = r.execution && r.execution !== "graph" ? ` [${r.execution}]` : "";
  return `${head}${u}${how}  ${n(r.tokens_per_s, 0)} tok/s, ${n(r.seconds_per_step, 2)} s/step (±${n(r.seconds_std, 2)}, ${r.reps} reps), ` +
    `${n(r.achieved_gflops)} GFLOP/s = ${n(r.frac_of_peak === null ? null : 100 * r.frac_of_peak)}% of matmul peak, RSS ${n(r.peak_rss_mb === null ? null : r.peak_rss_mb / 1024, 2)} GiB, load ${n(r.load_avg)}` +
    (r.speedup !== null ? `, speedup ${r.speedup.toFixed(2)}× (FLOP ratio ${n(r.flop_ratio, 2)}×)` : "");
}

/**
 * Runs a planned sweep in this process (the notebook's path; scripts/bench.ts runs each point in a child process
 * instead, for a clean peak RSS per point). Yields to the event loop between points so a notebook can display.
 * @param onRow called after each point (e.g. to print describeRow); a VQ row after its quadratic pair
 */
export async function runThroughputSweep(points: PlannedPoint[], o: { peakGflops: number; reps: number; warmup: number; backendDetail?: string; onRow?: (r: ThroughputRow) => void }): Promise<ThroughputRow[]> {
  for (const p of points) {
    p.row.matmul_peak_gflops = o.peakGflops;
    if (o.backendDetail) p.row.backend_detail = o.backendDetail;
    if (p.cfg) {
      try {
        completeRow(p.row, measureTrainStep(p.cfg, { reps: o.reps, warmup: o.warmup }), o.peakGflops, o.reps, o.warmup);
      } catch (e) {
        Object.assign(p.row, { status: "failed", reason: (e as Error).message.slice(0, 300) });
      }
    }
    await new Promise((res) => setImmediate(res));
    const pairOf = points.find((q) => q.pair === p.row);
    if (pairOf) {
      throughputSweepRows([pairOf]);
      o.onRow?.(pairOf.row);
      o.onRow?.(p.row);
    } else if (!p.pair) o.onRow?.(p.row);
  }
  return throughputSweepRows(points);
}
