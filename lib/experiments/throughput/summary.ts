/**
 * What a throughput sweep says: the speedup of Transformer-VQ over the quadratic model per head type and T
 * (measured where both ran; where the quadratic model was skipped for memory, against its time per token
 * extrapolated with s/token = a + b·T, since its work per token is linear in T), the paper's claims beside it
 * (paper.ts), VQ's time per token across T (the paper: "similar throughput" at 131k as at 8k), and the tables
 * notebook 20 shows.
 */
import { HeadType } from "../../config";
import { flopSpeedup, flopsPerToken } from "../cost";
import { PAPER_REFERENCE, paperSpeedups } from "../paper";
import { PlannedPoint, ThroughputRecord, ThroughputRow, throughputConfig } from "./sweep";

/**
 * The quadratic model's seconds per token at T, extrapolated from its measured points: a least-squares fit of
 * s/token = a + b·T (its work per token is linear in T) over the measured T ≥ minT. Undefined with < 2 points.
 * @param rows the quadratic model's rows of one backend and head type
 */
export function extrapolateQuadratic(rows: ThroughputRow[], T: number, minT = 2048): number | undefined {
  const pts = rows.filter((r) => r.model === "full" && r.status === "ok" && r.T >= minT && r.us_per_token !== null).map((r) => [r.T, r.us_per_token! / 1e6]);
  if (pts.length < 2) return undefined;
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n, my = pts.reduce((a, p) => a + p[1], 0) / n;
  const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0), sxy = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const b = sxy / sxx, a = my - b * mx;
  return a + b * T;
}

/** The speedup of one VQ row over the quadratic model of its backend, head type and T. */
export interface SpeedupPoint {
  backend: string;
  head: HeadType;
  T: number;
  vq: ThroughputRow;
  /** the quadratic row at the same T, when the sweep has one */
  full?: ThroughputRow;
  /** tokens/s(VQ) / tokens/s(quadratic), or against the extrapolated quadratic time; null when neither exists */
  speedup: number | null;
  /** "measured", "quadratic extrapolated (a + bT fit)", "quadratic not measured", or VQ's status */
  from: string;
}

/** Every VQ row's speedup, per backend and head type in order of T (the small model excluded). */
export function speedupPoints(rows: ThroughputRow[]): SpeedupPoint[] {
  const out: SpeedupPoint[] = [];
  for (const backend of [...new Set(rows.map((r) => r.backend))]) {
    const mineAll = rows.filter((r) => r.backend === backend && r.model !== "small" && r.model !== "none");
    for (const head of [...new Set(mineAll.map((r) => r.head_type))]) {
      const mine = mineAll.filter((r) => r.head_type === head);
      for (const vq of mine.filter((r) => r.model === "vq").sort((a, b) => a.T - b.T)) {
        const full = mine.find((r) => r.model === "full" && r.T === vq.T);
        let speedup: number | null = null, from = vq.status === "ok" ? "quadratic not measured" : vq.status;
        if (vq.status === "ok" && full?.status === "ok") {
          speedup = vq.tokens_per_s! / full.tokens_per_s!;
          from = "measured";
        } else if (vq.status === "ok") {
          const s = extrapolateQuadratic(mine, vq.T);
          if (s !== undefined && s > 0 && vq.us_per_token! > 0) {
            speedup = s / (vq.us_per_token! / 1e6);
            from = "quadratic extrapolated (a + bT fit)";
          }
        }
        out.push({ backend, head, T: vq.T, vq, full, speedup, from });
      }
    }
  }
  return out;
}

/** A row of the speedup table. */
export interface SpeedupRow {
  backend: string;
  head: string;
  T: number;
  "VQ tokens/s": number | null;
  "VQ update length": number | null;
  "quadratic tokens/s": number | null;
  speedup: number | null;
  "speedup from": string;
  "FLOP ratio": number | null;
  /** the paper's claim at this head type and T, e.g. "> 3×" */
  paper: string;
}

/**
 * The speedup table: per backend, head type and T, both models' tokens/s, the speedup (measured or against the
 * extrapolated quadratic model, marked), the FLOP ratio and the paper's claim.
 */
export function speedupRows(rows: ThroughputRow[]): SpeedupRow[] {
  return speedupPoints(rows).map((p) => {
    const claim = paperSpeedups(p.head).get(p.T);
    return {
      backend: p.backend, head: p.head.toUpperCase(), T: p.T, "VQ tokens/s": p.vq.tokens_per_s, "VQ update length": p.vq.status === "ok" ? p.vq.update_len : null,
      "quadratic tokens/s": p.full?.status === "ok" ? p.full.tokens_per_s : null, speedup: p.speedup, "speedup from": p.from,
      "FLOP ratio": p.vq.flop_ratio, paper: claim !== undefined ? `> ${claim}×` : "",
    };
  });
}

/** VQ's microseconds per token at T2 over that at T1 (the paper: "similar throughput" at 131k as at 8k). */
export function perTokenRatio(rows: ThroughputRow[], head: string, T1 = 8192, T2 = 131072): number | undefined {
  const at = (T: number) => rows.find((r) => r.model === "vq" && r.head_type === head && r.T === T && r.status === "ok")?.us_per_token ?? undefined;
  const a = at(T1), b = at(T2);
  return a && b ? b / a : undefined;
}

/**
 * Our speedups for the paper's throughput claims (PAPER_REFERENCE entries of 20-throughput), one entry per claim
 * and head type, for paperComparison; the setup names how each speedup was obtained.
 * @param setup e.g. "native, 1 layer, B = 1, fp32"
 */
export function throughputPaperComparison(rows: ThroughputRow[], setup: string): Array<{ id: string; value: number | null; setup: string }> {
  const points = speedupPoints(rows);
  return PAPER_REFERENCE.filter((p) => p.experiment === "20-throughput" && p.T !== undefined).flatMap((p) => (p.heads ?? []).map((head) => {
    const at = points.find((q) => q.head === head && q.T === p.T);
    const how = at ? ` (${at.from}, T = ${at.T}, update length ${at.vq.status === "ok" ? at.vq.update_len : null})` : "";
    return { id: p.id, value: at?.speedup ?? null, setup: `${(p.heads ?? []).length > 1 ? head.toUpperCase() + "; " : ""}${setup}${how}` };
  }));
}

/** A row of the FLOP table: training FLOPs per token of both models at T and their ratio. */
export interface FlopRow {
  head: string;
  T: number;
  "VQ MFLOP/token": number;
  "quadratic MFLOP/token": number;
  "quadratic, causal count": number;
  "FLOP ratio (speedup at equal FLOP/s)": number;
}

/** The FLOP table of one layer of the paper's throughput model (flopsPerToken, dense and causal full attention). */
export function flopRows(heads: HeadType[], Ts: number[]): FlopRow[] {
  return heads.flatMap((headType) => Ts.map((T) => {
    const vq = throughputConfig({ attnType: "vq-parallel", headType, T, B: 1, nLayer: 1 }).model;
    const full = throughputConfig({ attnType: "full", headType, T, B: 1, nLayer: 1 }).model;
    return {
      head: headType.toUpperCase(), T,
      "VQ MFLOP/token": flopsPerToken(vq, T).train / 1e6,
      "quadratic MFLOP/token": flopsPerToken(full, T).train / 1e6,
      "quadratic, causal count": flopsPerToken(full, T, { causal: true }).train / 1e6,
      "FLOP ratio (speedup at equal FLOP/s)": flopSpeedup(vq, full, T),
    };
  }));
}

/** A row of the plan table. */
export interface PlanRow { model: string; head: string; T: number; "update length": number; "estimated GiB": number; plan: string; note: string }

/** The plan of a sweep as a table: per point, its update length, estimated memory and whether it runs. */
export function planRows(points: PlannedPoint[]): PlanRow[] {
  return points.map(({ row: r }) => ({
    model: r.model, head: r.head_type, T: r.T, "update length": r.update_len, "estimated GiB": r.est_mb / 1024,
    plan: r.status === "ok" ? (r.reason ? "truncated backprop" : "run") : "skip", note: r.reason,
  }));
}

/** A row of the efficiency table. */
export interface EfficiencyRow {
  model: string; head: string; T: number; B: number; "update length": number; "tokens/s": number | null; "µs/token": number | null;
  "GFLOP/s": number | null; "of matmul peak": number | null; "peak RSS GiB": number | null;
}

/** The measured points as a table: tokens/s, time per token, achieved GFLOP/s and the fraction of the matmul peak. */
export function efficiencyRows(rows: ThroughputRow[]): EfficiencyRow[] {
  return rows.filter((r) => r.status === "ok").map((r) => ({
    model: r.model === "small" ? "cpu-small" : r.model, head: r.head_type, T: r.T, B: r.B, "update length": r.update_len,
    "tokens/s": r.tokens_per_s, "µs/token": r.us_per_token, "GFLOP/s": r.achieved_gflops, "of matmul peak": r.frac_of_peak,
    "peak RSS GiB": r.peak_rss_mb === null ? null : r.peak_rss_mb / 1024,
  }));
}

/** One line per backend of a benchmark run: VQ's time per token at 131k over 8k, and the cpu-small point's speed. */
export function benchSummaryLines(records: ThroughputRecord[]): string[] {
  return [...new Set(records.map((r) => r.backend))].map((b) => {
    const ratio = perTokenRatio(records.filter((r) => r.backend === b), "shga", 8192, 131072);
    const small = records.find((r) => r.backend === b && r.model === "small" && r.status === "ok");
    const speed = small ? `${small.tokens_per_s?.toFixed(0)} tokens/s = ${(100 * (small.frac_of_peak ?? 0)).toFixed(1)}% of matmul peak` : "n/a";
    return `${b}: VQ µs/token at 131k / 8k = ${ratio?.toFixed(3) ?? "n/a"}; cpu-small ${speed}`;
  });
}

/** The title of a benchmark run's table: when it ran, and whether it was a quick (small-model) run. */
export function benchRunTitle(records: ThroughputRecord[]): string {
  return `npm run bench (${records[0]?.timestamp || "?"}${records.some((r) => r.quick) ? ", QUICK run: small model" : ""})`;
}
