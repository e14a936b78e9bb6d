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
import { FigureOptions, PlotlyFigure, Series, lineFigure } from "../plots";

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
/** Marker symbols that tell the kinds apart even where a series has a single point (one T per head). */
const SYMBOLS = { vq: "circle", full: "square-open", measured: "circle", extrapolated: "circle-open", flop: "diamond-open", paper: "star" };

/**
 * Two panels: tokens/s vs T (log-log) per model and head type (Transformer-VQ: filled circles, solid; quadratic:
 * open squares, dashed); and the speedup of Transformer-VQ over the quadratic model where both ran (solid),
 * against the extrapolated quadratic model (dotted), the FLOP ratio (dashed, open diamonds) and the paper's claims
 * (stars; one star for a claim several head types share). The legend names the left panel's series (colour = head
 * type); the right panel's series are labelled at their last point, with a key of the line styles above it.
 * Every series has a marker, so none draws nothing with a single T.
 * @param rows benchmark rows of one backend (status "ok" rows are drawn)
 */
export function throughputFigure(rows: ThroughputRow[]): PlotlyFigure {
  const ok = rows.filter((r) => r.status === "ok" && r.tokens_per_s !== null && (r.model === "vq" || r.model === "full"));
  if (!ok.length) throw new Error("throughputFigure: no measured points (status ok); run the benchmark first");
  const left: Series[] = [];
  const right: Array<Series & { symbol: string; label: string }> = [];
  const symbols: string[] = [];
  const speedups = speedupPoints(rows);
  const heads = [...new Set(ok.map((r) => r.head_type))];
  for (const head of heads) {
    const H = head.toUpperCase(), color = HEAD_COLORS[head];
    for (const model of ["vq", "full"] as const) {
      const pts = ok.filter((r) => r.head_type === head && r.model === model).sort((a, b) => a.T - b.T);
      if (!pts.length) continue;
      left.push({ name: `${model === "vq" ? "Transformer-VQ" : "quadratic"} (${H})`, x: pts.map((r) => r.T), y: pts.map((r) => r.tokens_per_s!), dash: model === "vq" ? "solid" : "dash", color });
      symbols.push(SYMBOLS[model]);
    }
    const mine = speedups.filter((p) => p.head === head && p.speedup !== null);
    const measured = mine.filter((p) => p.from === "measured");
    const extra = mine.filter((p) => p.from !== "measured");
    if (measured.length) right.push({ name: `measured (${H})`, label: "measured", symbol: SYMBOLS.measured, x: measured.map((p) => p.T), y: measured.map((p) => p.speedup!), color });
    if (extra.length) right.push({ name: `vs extrapolated quadratic (${H})`, label: "vs extrapolated", symbol: SYMBOLS.extrapolated, x: extra.map((p) => p.T), y: extra.map((p) => p.speedup!), color, dash: "dot" });
    const ratio = ok.filter((r) => r.head_type === head && r.model === "vq" && r.flop_ratio !== null).sort((a, b) => a.T - b.T);
    if (ratio.length) right.push({ name: `FLOP ratio (${H})`, label: "FLOP ratio", symbol: SYMBOLS.flop, x: ratio.map((r) => r.T), y: ratio.map((r) => r.flop_ratio!), dash: "dash", color, mode: "lines+markers" });
  }
  // the paper's claims: one star per (T, value), naming every head type drawn here that claims it
  const claims = new Map<string, { T: number; v: number; heads: string[] }>();
  for (const head of heads) {
    for (const [T, v] of paperSpeedups(head)) {
      const c = claims.get(`${T}:${v}`) ?? { T, v, heads: [] };
      c.heads.push(head);
      claims.set(`${T}:${v}`, c);
    }
  }
  for (const group of [...new Set([...claims.values()].map((c) => c.heads.join(",")))]) {
    const pts = [...claims.values()].filter((c) => c.heads.join(",") === group).sort((a, b) => a.T - b.T);
    const hs = group.split(",");
    right.push({ name: `paper, TPU v3 (${hs.map((h) => h.toUpperCase()).join(", ")})`, label: `paper${hs.length > 1 ? ` (${hs.map((h) => h.toUpperCase()).join(", ")})` : ""}`,
      symbol: SYMBOLS.paper, x: pts.map((c) => c.T), y: pts.map((c) => c.v), color: hs.length === 1 ? HEAD_COLORS[hs[0]] : "#444", mode: "markers" });
  }
  const a = lineFigure(left, { x: { title: "sequence length T (tokens)", log: true }, y: { title: "training throughput (tokens/s)", log: true } });
  const b = lineFigure(right, { x: { title: "sequence length T (tokens)", log: true }, y: { title: "speedup of Transformer-VQ (×)", log: true } });
  a.data.forEach((t, i) => (t.marker = { ...(t.marker as object), symbol: symbols[i], size: 9, line: { width: 2, color: (t.line as { color: string }).color } }));
  b.data.forEach((t, i) => {
    const r = right[i];
    Object.assign(t, {
      showlegend: false, mode: `${String(t.mode)}+text`, text: r.x.map((_, j) => (j === r.x.length - 1 ? r.label : "")),
      // measured below its point, the FLOP ratio above: the two often end at the same T
      textposition: r.symbol === SYMBOLS.measured ? "bottom right" : r.symbol === SYMBOLS.flop ? "top right" : "middle right",
      textfont: { size: 12, color: r.color }, cliponaxis: false,
      marker: { ...(t.marker as object), symbol: r.symbol, size: r.symbol === "star" ? 14 : 9, line: { width: 2, color: r.color } },
    });
  });
  const ax = (l: Record<string, unknown>, k: string) => l[k] as Record<string, unknown>;
  const layout: Record<string, unknown> = {
    ...a.layout,
    xaxis: { ...ax(a.layout, "xaxis"), domain: [0, 0.43] },
    yaxis: { ...ax(a.layout, "yaxis") },
    xaxis2: { ...ax(b.layout, "xaxis"), domain: [0.56, 0.9], anchor: "y2" },
    yaxis2: { ...ax(b.layout, "yaxis"), anchor: "x2" },
    showlegend: true,
    legend: { orientation: "h", x: 0, xanchor: "left", y: -0.2, yanchor: "top", font: { size: 13 } },
    margin: { l: 80, r: 25, t: 45, b: 130 },
    annotations: [{
      text: "colour = head type (legend); ● measured · ○ dotted: vs extrapolated quadratic · ◇ dashed: FLOP ratio · ★ paper",
      xref: "paper", yref: "paper", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", showarrow: false, font: { size: 12, color: "#444" },
    }],
  };
  const data: Array<Record<string, unknown>> = [...a.data, ...b.data.map((t) => ({ ...t, xaxis: "x2", yaxis: "y2" }))];
  return { data, layout };
}

/** The legend name of each attention form in the cost figures. */
const FORM_NAMES: Record<AttnType, string> = {
  "vq-quadratic": "vq-quadratic (the definition)", "vq-recurrent": "vq-recurrent (block recurrence)",
  "vq-parallel": "vq-parallel (blocks in parallel)", full: "full (softmax over all keys)",
};

/** Marker per form: where two forms' counts coincide (vq-recurrent and vq-parallel at M = L), a large open circle
 * around a small filled one shows both. */
const FORM_MARKERS: Record<AttnType, { symbol: string; size: number }> = {
  "vq-quadratic": { symbol: "square-open", size: 10 }, "vq-recurrent": { symbol: "circle-open", size: 14 },
  "vq-parallel": { symbol: "circle", size: 7 }, full: { symbol: "diamond-open", size: 10 },
};

/**
 * The cost of one attention call against T per form, two figures: counted forward multiply-adds, and measured
 * forward + backward time. Quadratic forms dashed, linear forms solid (vq-recurrent dotted); each form has its own
 * marker, so lines that coincide stay visible, and the legend says when two forms' values are equal ("≡ vq-parallel":
 * at M = L vq-recurrent counts what vq-parallel does). Points not timed are left out.
 * @param rows attentionCostSweep's rows
 * @param backend the backend name, for the time figure's title
 */
export function attentionCostFigures(rows: AttentionCostRow[], backend: string): { multiplyAdds: PlotlyFigure; time: PlotlyFigure } {
  const Ts = [...new Set(rows.map((r) => r.T))].sort((a, b) => a - b);
  const forms = [...new Set(rows.map((r) => r.form))];
  const figure = (y: (r: AttentionCostRow) => number | null, opts: FigureOptions): PlotlyFigure => {
    const pts = (form: AttnType) => rows.filter((r) => r.form === form && y(r) !== null).sort((a, b) => a.T - b.T);
    const same = (a: AttnType, b: AttnType) => {
      const pa = pts(a), pb = pts(b);
      return pa.length > 0 && pa.length === pb.length && pa.every((r, i) => r.T === pb[i].T && Math.abs(y(r)! - y(pb[i])!) <= 1e-9 * Math.abs(y(r)!));
    };
    const series: Series[] = forms.map((form) => {
      const twin = forms.find((f) => f !== form && f < form && same(f, form));
      return {
        name: FORM_NAMES[form] + (twin ? ` ≡ ${twin}` : ""), x: pts(form).map((r) => r.T), y: pts(form).map((r) => y(r)!),
        dash: isQuadraticForm(form) ? "dash" : form === "vq-recurrent" ? "dot" : "solid",
      };
    });
    const fig = lineFigure(series, opts);
    fig.layout.margin = { ...(fig.layout.margin as object), t: 110 }; // the title and two legend rows
    fig.data.forEach((t, i) => (t.marker = { ...(t.marker as object), ...FORM_MARKERS[forms[i]], line: { width: 2, color: (t.line as { color: string }).color } }));
    return fig;
  };
  const x = { title: "sequence length T (tokens)", log: true, tickvals: Ts };
  return {
    multiplyAdds: figure((r) => r.multiplyAdds / 1e9, { title: "Attention cost: counted multiply-adds", x, y: { title: "forward multiply-adds (×10⁹)", log: true } }),
    time: figure((r) => r.seconds, { title: `Attention cost: measured time (${backend} backend)`, x, y: { title: "forward + backward time (s)", log: true } }),
  };
}
