/**
 * Learning curves, the first figure of every training notebook: train loss (a trailing moving average) solid and
 * the periodic validation loss dashed, per run, against parameter updates, in bits per token (nats / ln 2; = bits
 * per byte on byte-level data, docs/paper.md §1.4), or in nats per token for BPE data (`nats: true`). The y range skips the fast initial drop so the later
 * differences between runs stay visible.
 */
import { PALETTE, PlotlyFigure, Series, lineFigure } from "../plots";
import type { EvalRecord, StepMetrics } from "../../train/index";

/** Trailing moving average over `window` points (window 1 = the values). */
export function movingAverage(ys: number[], window: number): number[] {
  const w = Math.max(1, Math.floor(window));
  const out: number[] = [];
  let acc = 0;
  for (let i = 0; i < ys.length; i++) {
    acc += ys[i];
    if (i >= w) acc -= ys[i - w];
    out.push(acc / Math.min(i + 1, w));
  }
  return out;
}

/** One curve of a learning-curve figure. */
export interface LearningCurve {
  /** legend name, e.g. "Transformer-VQ (S=64)" */
  name: string;
  history: StepMetrics[];
  /** periodic validation evaluations (drawn dashed with markers, loss / ln 2) */
  evals?: EvalRecord[];
  color?: string;
}

/**
 * Train loss (moving average) solid and validation loss dashed, per run, vs parameter update, both in bits per token
 * (nats / ln 2; = bits per byte on byte-level data).
 * @param curves one per run
 * @param opts.smooth moving-average window in updates (default: 5% of the longest run, at least 1);
 *   nats: loss in nats per token instead of bits (the kit's unit for BPE data: nats/token and word ppl; bits per
 *   byte for byte data); unit: the axis unit (default "bits per byte", or "nats per token" with nats); title
 *   optional; logY for a log y axis; zoom (default true): y range without the first 10% of training (see zoomRange)
 */
export function learningCurveFigure(curves: LearningCurve[], opts: { smooth?: number; nats?: boolean; unit?: string; title?: string; logY?: boolean; zoom?: boolean } = {}): PlotlyFigure {
  if (curves.length === 0) throw new Error("learningCurveFigure: pass at least one {name, history}");
  const longest = Math.max(...curves.map((c) => c.history.length));
  const smooth = opts.smooth ?? Math.max(1, Math.round(longest / 20));
  const k = opts.nats ? Math.LN2 : 1; // bits -> nats
  const series: Series[] = [];
  curves.forEach((c, i) => {
    const color = c.color ?? PALETTE[i % PALETTE.length];
    series.push({
      name: `${c.name}: train${smooth > 1 ? ` (mean of ${smooth})` : ""}`, color, mode: "lines",
      x: c.history.map((m) => m.step), y: movingAverage(c.history.map((m) => m.bpb * k), smooth),
    });
    if (c.evals?.length) {
      // per token like the train curve (EvalResult.bpb is per byte of text, which differs for subword tokens)
      series.push({ name: `${c.name}: validation`, color, dash: "dash", mode: "lines+markers", x: c.evals.map((e) => e.step), y: c.evals.map((e) => (e.loss / Math.LN2) * k) });
    }
  });
  const unit = opts.unit ?? (opts.nats ? "nats per token" : "bits per byte");
  const fig = lineFigure(series, { title: opts.title, x: "parameter update", y: { title: `loss (${unit})`, log: opts.logY }, legend: true });
  const range = opts.zoom === false || opts.logY ? undefined : zoomRange(series);
  if (range) (fig.layout.yaxis as Record<string, unknown>).range = range;
  return fig;
}

/**
 * A y range that skips the first 10% of each training curve (the fast initial drop would flatten the rest):
 * from the lowest value to the highest later value or validation point, with a margin. Undefined when flat.
 * series: the learning-curve series (train curves are mode "lines", validation "lines+markers").
 */
export function zoomRange(series: Series[]): [number, number] | undefined {
  const later = series.flatMap((s) => (s.mode === "lines" ? s.y.slice(Math.floor(s.y.length / 10)) : s.y)).filter(Number.isFinite);
  const all = series.flatMap((s) => s.y).filter(Number.isFinite);
  if (later.length === 0) return undefined;
  const lo = Math.min(...all), hi = Math.max(...later);
  if (!(hi > lo)) return undefined;
  return [lo - 0.05 * (hi - lo), hi + 0.08 * (hi - lo)];
}
