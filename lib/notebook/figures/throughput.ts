/**
 * The speed figures: the backend's dense matmul rate (notebook 00, the ceiling of every speed), the training
 * throughput of Transformer-VQ against the quadratic model with the speedups and the paper's claims (notebook 20,
 * scripts/bench.ts), and the cost of one attention call per form against T, counted and timed (notebook 21).
 */
import { AttnType, isQuadraticForm } from "../../config";
import { AttentionCostRow } from "../../experiments/cost";
import { MatmulRow } from "../../experiments/environment";
import { paperSpeedups } from "../../experiments/paper";
import { ThroughputRow, speedupPoints } from "../../experiments/throughput/index";
import { PlotlyFigure, Series, lineFigure } from "../plots";

/**
 * Dense fp32 matmul throughput against the matrix size n, with the spread over repeats as error bars.
 * @param rows measureMatmulPeak's rows; backend: e.g. { name: "native", detail: "tfjs-node 4.22, 2 threads" }
 */
export function matmulFigure(rows: MatmulRow[], backend: { name: string; detail: string }): PlotlyFigure {
  return lineFigure(
    [{ name: `${backend.name} backend (${backend.detail})`, x: rows.map((r) => r.n), y: rows.map((r) => r.gflops), error: rows.map((r) => r.gflopsStd) }],
    {
      title: "Dense matmul throughput of the active TensorFlow.js backend",
      x: { title: "matrix size n (n×n · n×n, fp32)", log: true, tickvals: rows.map((r) => r.n) },
      y: { title: "throughput (GFLOP/s)", log: true },
      legend: true,
    },
  );
}

const HEAD_COLORS: Record<string, string> = { shga: "#0072B2", mha: "#D55E00", mqa: "#009E73" };

/**
 * Two panels: tokens/s vs T (log-log) per model and head type; and the speedup of Transformer-VQ over the
 * quadratic model where both ran (solid), against the extrapolated quadratic model (dotted), the FLOP ratio
 * (dashed) and the paper's claims (stars).
 * @param rows benchmark rows of one backend (status "ok" rows are drawn)
 */
export function throughputFigure(rows: ThroughputRow[]): PlotlyFigure {
  const ok = rows.filter((r) => r.status === "ok" && r.tokens_per_s !== null && (r.model === "vq" || r.model === "full"));
  if (!ok.length) throw new Error("throughputFigure: no measured points (status ok); run the benchmark first");
  const left: Series[] = [];
  const right: Series[] = [];
  const speedups = speedupPoints(rows);
  for (const head of [...new Set(ok.map((r) => r.head_type))]) {
    const H = head.toUpperCase(), color = HEAD_COLORS[head];
    for (const model of ["vq", "full"] as const) {
      const pts = ok.filter((r) => r.head_type === head && r.model === model).sort((a, b) => a.T - b.T);
      if (pts.length) left.push({ name: `${model === "vq" ? "Transformer-VQ" : "quadratic"} (${H})`, x: pts.map((r) => r.T), y: pts.map((r) => r.tokens_per_s!), dash: model === "vq" ? "solid" : "dash", color });
    }
    const mine = speedups.filter((p) => p.head === head && p.speedup !== null);
    const measured = mine.filter((p) => p.from === "measured");
    const extra = mine.filter((p) => p.from !== "measured");
    if (measured.length) right.push({ name: `measured (${H})`, x: measured.map((p) => p.T), y: measured.map((p) => p.speedup!), color });
    if (extra.length) right.push({ name: `vs extrapolated quadratic (${H})`, x: extra.map((p) => p.T), y: extra.map((p) => p.speedup!), color, dash: "dot" });
    const ratio = ok.filter((r) => r.head_type === head && r.model === "vq" && r.flop_ratio !== null).sort((a, b) => a.T - b.T);
    if (ratio.length) right.push({ name: `FLOP ratio (${H})`, x: ratio.map((r) => r.T), y: ratio.map((r) => r.flop_ratio!), dash: "dash", color, mode: "lines" });
    const paper = [...paperSpeedups(head)].sort(([a], [b]) => a - b);
    if (paper.length) right.push({ name: `paper, TPU v3 (${H})`, x: paper.map(([T]) => T), y: paper.map(([, v]) => v), color, mode: "markers" });
  }
  const a = lineFigure(left, { x: { title: "sequence length T (tokens)", log: true }, y: { title: "training throughput (tokens/s)", log: true } });
  const b = lineFigure(right, { x: { title: "sequence length T (tokens)", log: true }, y: { title: "speedup of Transformer-VQ (×)", log: true } });
  const ax = (l: Record<string, unknown>, k: string) => l[k] as Record<string, unknown>;
  const layout: Record<string, unknown> = {
    ...a.layout,
    xaxis: { ...ax(a.layout, "xaxis"), domain: [0, 0.45] },
    yaxis: { ...ax(a.layout, "yaxis") },
    xaxis2: { ...ax(b.layout, "xaxis"), domain: [0.58, 1], anchor: "y2" },
    yaxis2: { ...ax(b.layout, "yaxis"), anchor: "x2" },
    showlegend: true,
    legend: { orientation: "h", x: 0, xanchor: "left", y: -0.22, yanchor: "top", font: { size: 12 } },
    margin: { l: 80, r: 25, t: 20, b: 170 },
  };
  const data: Array<Record<string, unknown>> = [...a.data, ...b.data.map((t) => ({ ...t, xaxis: "x2", yaxis: "y2" }))];
  for (const t of data) if (t.name && String(t.name).startsWith("paper")) t.marker = { ...(t.marker as object), symbol: "star", size: 13 };
  return { data, layout };
}

/** The legend name of each attention form in the cost figures. */
const FORM_NAMES: Record<AttnType, string> = {
  "vq-quadratic": "vq-quadratic (the definition)", "vq-recurrent": "vq-recurrent (block recurrence)",
  "vq-parallel": "vq-parallel (blocks in parallel)", full: "full (softmax over all keys)",
};

/**
 * The cost of one attention call against T per form, two figures: counted forward multiply-adds, and measured
 * forward + backward time. Quadratic forms dashed, linear forms solid (vq-recurrent dotted: at M = L its count
 * equals vq-parallel's); points not timed are left out.
 * @param rows attentionCostSweep's rows
 * @param backend the backend name, for the time figure's title
 */
export function attentionCostFigures(rows: AttentionCostRow[], backend: string): { multiplyAdds: PlotlyFigure; time: PlotlyFigure } {
  const Ts = [...new Set(rows.map((r) => r.T))].sort((a, b) => a - b);
  const forms = [...new Set(rows.map((r) => r.form))];
  const series = (y: (r: AttentionCostRow) => number | null): Series[] => forms.map((form) => {
    const pts = rows.filter((r) => r.form === form && y(r) !== null).sort((a, b) => a.T - b.T);
    return { name: FORM_NAMES[form], x: pts.map((r) => r.T), y: pts.map((r) => y(r)!), dash: isQuadraticForm(form) ? "dash" : form === "vq-recurrent" ? "dot" : "solid" };
  });
  const x = { title: "sequence length T (tokens)", log: true, tickvals: Ts };
  return {
    multiplyAdds: lineFigure(series((r) => r.multiplyAdds / 1e9), { title: "Attention cost: counted multiply-adds", x, y: { title: "forward multiply-adds (×10⁹)", log: true } }),
    time: lineFigure(series((r) => r.seconds), { title: `Attention cost: measured time (${backend} backend)`, x, y: { title: "forward + backward time (s)", log: true } }),
  };
}
