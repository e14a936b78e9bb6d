/**
 * Paper-quality figures for the reproduction: learning curves (bpb vs step), ablation sweeps (bpb mean ± std
 * over seeds vs codebook size S or block length L) and throughput curves (tokens/s vs T).
 *
 * A figure is a plain Plotly object `{data, layout}`. The builders below give every figure one look: white
 * background, 15 px fonts, axis titles with units, optional log axes, the Okabe–Ito colour-blind-safe palette, a
 * legend above the plot, and error bars for mean ± std. Use `paperLayout` for a figure the builders do not cover.
 * Showing and exporting a figure (headless Chromium, HTML/PNG/SVG) is lib/notebook/render.ts.
 */

// The export API, for importers of this module (scripts, the browser test): it lives in render.ts.
export { CHROMIUM_ARGS, CHROMIUM_PATH, closeFigureExporter, exportFigure } from "./render";

/** A Plotly figure: traces and layout, exactly as plotly.js takes them. */
export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/** Okabe–Ito palette (colour-blind safe), in the order traces take it. */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

/** Fonts Debian's Chromium has (Liberation/DejaVu come with it), then common fallbacks. */
const FONT_FAMILY = "Liberation Sans, Arial, Helvetica, DejaVu Sans, sans-serif";

/** One line / marker set / bar group. */
export interface Series {
  /** legend entry, e.g. "Transformer-VQ (S=512)" */
  name: string;
  /** x values (numbers, or category labels for bars) */
  x: Array<number | string>;
  /** y values, same length as x */
  y: number[];
  /** symmetric error (e.g. std over seeds), same length as y; drawn as error bars */
  error?: number[];
  /** line style */
  dash?: "solid" | "dash" | "dot" | "dashdot";
  /** colour; default: the palette in order */
  color?: string;
  /** plotly mode; lineFigure uses "lines+markers" when there are ≤ 30 points, else "lines" */
  mode?: "lines" | "markers" | "lines+markers";
  /** barFigure: a label above each bar, e.g. the values as text */
  labels?: string[];
}

/** An axis: a title with units, e.g. "validation loss (bits per byte)". */
export interface AxisOptions {
  title: string;
  /** log scale */
  log?: boolean;
  /** [min, max] in data units (for log axes, also data units: converted here) */
  range?: [number, number];
  /** tick positions, e.g. the swept sizes */
  tickvals?: number[];
  /** d3 format for tick labels, e.g. ".2f" or "~s" */
  tickformat?: string;
}

export interface FigureOptions {
  /** figure title (optional; papers often put it in the caption) */
  title?: string;
  /** x axis: a title string or full options */
  x: string | AxisOptions;
  /** y axis: a title string or full options */
  y: string | AxisOptions;
  /** show the legend (default: when there is more than one series) */
  legend?: boolean;
}

function axisOptions(a: string | AxisOptions): AxisOptions {
  return typeof a === "string" ? { title: a } : a;
}

function axisLayout(a: AxisOptions): Record<string, unknown> {
  const axis: Record<string, unknown> = {
    title: { text: a.title, standoff: 10 },
    type: a.log ? "log" : "linear",
    showline: true, linecolor: "#222", linewidth: 1, mirror: true,
    ticks: "outside", ticklen: 5, tickcolor: "#222",
    showgrid: true, gridcolor: "#e6e6e6", zeroline: false, automargin: true,
  };
  if (a.range) axis.range = a.log ? a.range.map((v) => Math.log10(v)) : a.range;
  if (a.tickvals) axis.tickvals = a.tickvals;
  if (a.tickformat) axis.tickformat = a.tickformat;
  return axis;
}

/**
 * The shared layout: white background, readable fonts, framed axes, legend above the plot.
 * @param opts title, axes, legend
 */
export function paperLayout(opts: FigureOptions): Record<string, unknown> {
  const legend = opts.legend ?? true;
  return {
    font: { family: FONT_FAMILY, size: 15, color: "#222" },
    title: opts.title ? { text: opts.title, x: 0.01, xanchor: "left", y: 0.98, yanchor: "top", font: { size: 18 } } : undefined,
    paper_bgcolor: "white",
    plot_bgcolor: "white",
    colorway: PALETTE,
    margin: { l: 80, r: 25, t: (opts.title ? 50 : 15) + (legend ? 35 : 0), b: 70 },
    xaxis: axisLayout(axisOptions(opts.x)),
    yaxis: axisLayout(axisOptions(opts.y)),
    showlegend: legend,
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom", font: { size: 14 } },
    hovermode: "closest",
  };
}

/** Throws when a series is malformed, naming it. */
function checkSeries(series: Series[], where: string): void {
  if (!Array.isArray(series) || series.length === 0) throw new Error(`${where}: expected a non-empty array of series {name, x, y}`);
  for (const s of series) {
    if (s.x.length !== s.y.length) throw new Error(`${where}: series '${s.name}' has ${s.x.length} x values but ${s.y.length} y values; give one y per x`);
    if (s.error && s.error.length !== s.y.length) throw new Error(`${where}: series '${s.name}' has ${s.error.length} error values for ${s.y.length} points; give one per point (or omit error)`);
  }
}

/**
 * Tick values 1-2-5 × 10^k from the largest tick ≤ lo to the smallest tick ≥ hi, so log axes get full labels
 * ("20", "50") at both ends rather than Plotly's small digit-only minor labels. Thins to 1-3 or 1 × 10^k when a
 * range would need more than 8 ticks.
 * @param lo smallest positive data value
 * @param hi largest data value
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi >= lo)) return [];
  for (const mantissas of [[1, 2, 5], [1, 3], [1]]) {
    const all: number[] = [];
    for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)) + 1; k++) {
      for (const m of mantissas) all.push(Number((m * Math.pow(10, k)).toPrecision(6)));
    }
    const first = all.filter((v) => v <= lo).pop() ?? all[0];
    const last = all.find((v) => v >= hi) ?? all[all.length - 1];
    const ticks = all.filter((v) => v >= first && v <= last);
    if (ticks.length <= 8 || mantissas.length === 1) return ticks;
  }
  return [];
}

/**
 * Gives log axes without explicit ticks 1-2-5 ticks over the data and error-bar range (error bars that reach ≤ 0
 * are left open at the bottom), and a range that ends on ticks.
 */
function addLogTicks(layout: Record<string, unknown>, series: Series[]): void {
  const values = (axis: "x" | "y") => series.flatMap((s) => axis === "x"
    ? s.x.filter((v): v is number => typeof v === "number")
    : s.y.flatMap((v, i) => (s.error ? [v, v - s.error[i], v + s.error[i]] : [v])));
  for (const axis of ["x", "y"] as const) {
    const a = layout[`${axis}axis`] as Record<string, unknown>;
    if (a.type !== "log" || a.tickvals) continue;
    const v = values(axis).filter((x) => x > 0 && Number.isFinite(x));
    if (!v.length) continue;
    const ticks = logTicks(Math.min(...v), Math.max(...v));
    a.tickvals = ticks;
    if (!a.range && ticks.length > 1) {
      const lo = Math.log10(ticks[0]), hi = Math.log10(ticks[ticks.length - 1]), pad = 0.04 * (hi - lo);
      a.range = [lo - pad, hi + pad];
    }
  }
}

/**
 * Category labels on x (e.g. "cache on", "full attention") need a category axis: paperLayout sets "linear", on
 * which Plotly draws no bars or points for text values.
 */
function useCategoryAxis(layout: Record<string, unknown>, series: Series[]): void {
  if (series.some((s) => s.x.some((v) => typeof v === "string"))) (layout.xaxis as Record<string, unknown>).type = "category";
}

function errorBars(s: Series, color: string): Record<string, unknown> | undefined {
  return s.error ? { type: "data", array: s.error, visible: true, color, thickness: 1.5, width: 5 } : undefined;
}

/**
 * Lines (e.g. loss vs step, bpb vs S), with error bars when a series has `error`.
 * @param series one entry per curve
 * @param opts axes (titles with units), optional title
 */
export function lineFigure(series: Series[], opts: FigureOptions): PlotlyFigure {
  checkSeries(series, "lineFigure");
  const data = series.map((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    return {
      type: "scatter", name: s.name, x: s.x, y: s.y,
      mode: s.mode ?? (s.x.length <= 30 ? "lines+markers" : "lines"),
      line: { color, width: 2.5, dash: s.dash ?? "solid" },
      marker: { color, size: 8 },
      error_y: errorBars(s, color),
    };
  });
  const layout = paperLayout({ ...opts, legend: opts.legend ?? series.length > 1 });
  addLogTicks(layout, series);
  useCategoryAxis(layout, series);
  return { data, layout };
}

/**
 * Markers only (e.g. step time vs bpb per run).
 * @param series one entry per group of points
 * @param opts axes, optional title
 */
export function scatterFigure(series: Series[], opts: FigureOptions): PlotlyFigure {
  return lineFigure(series.map((s) => ({ ...s, mode: s.mode ?? "markers" })), opts);
}

/**
 * Grouped bars (e.g. bpb for cache on / off / full attention, mean ± std over seeds).
 * @param series one entry per bar colour; x are the category labels shared by all series
 * @param opts axes, optional title
 */
export function barFigure(series: Series[], opts: FigureOptions): PlotlyFigure {
  checkSeries(series, "barFigure");
  const data = series.map((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const labels = s.labels ? { text: s.labels, textposition: "outside" } : {};
    return { type: "bar", name: s.name, x: s.x, y: s.y, marker: { color, line: { color: "#222", width: 0.5 } }, error_y: errorBars(s, "#222"), ...labels };
  });
  const layout = paperLayout({ ...opts, legend: opts.legend ?? series.length > 1 });
  addLogTicks(layout, series);
  useCategoryAxis(layout, series);
  return { data, layout: { ...layout, barmode: "group", bargap: 0.25, bargroupgap: 0.05 } };
}
