/**
 * Paper-quality figures for the reproduction: learning curves (bpb vs step), ablation sweeps (bpb mean ± std
 * over seeds vs codebook size S or block length L) and throughput curves (tokens/s vs T).
 *
 * A figure is a plain Plotly object `{data, layout}`. The builders below give every figure one look: white
 * background, 15 px fonts, axis titles with units, optional log axes, the Okabe–Ito colour-blind-safe palette, a
 * legend above the plot, and error bars for mean ± std. Use `paperLayout` for a figure the builders do not cover.
 *
 * `showFigure` puts one output in a notebook with the interactive Plotly JSON, a PNG (for static viewers) and
 * text. `exportFigure` writes figures/<name>.html (self-contained), .png and .svg. PNG and SVG come from
 * plotly.js running in ONE shared headless Chromium per process (playwright-core), started on first use and
 * closed after a short idle time, at kernel shutdown, or by `closeFigureExporter()`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PATHS, ROOT, atomicWrite, checkFileName, ensureDir } from "../util/io";
import { profiledName } from "./profiles";
import { displayBundle, inTslab, onKernelShutdown } from "../util/display";

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
    return { type: "bar", name: s.name, x: s.x, y: s.y, marker: { color, line: { color: "#222", width: 0.5 } }, error_y: errorBars(s, "#222") };
  });
  const layout = paperLayout({ ...opts, legend: opts.legend ?? series.length > 1 });
  addLogTicks(layout, series);
  useCategoryAxis(layout, series);
  return { data, layout: { ...layout, barmode: "group", bargap: 0.25, bargroupgap: 0.05 } };
}

// ---------------------------------------------------------------------------------------------------------
// Rendering: plotly.js in one shared headless Chromium.

/** Default export size in CSS pixels; PNGs are rendered at `scale` × this. */
export const FIGURE_SIZE = { width: 800, height: 500, scale: 2 };

/** The Chromium used for PNG/SVG export (TVQ_CHROMIUM overrides). */
export const CHROMIUM_PATH = process.env.TVQ_CHROMIUM ?? "/usr/bin/chromium";
/** Chromium flags for headless rendering without network side traffic (also used by the JupyterLab browser test). */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
/** Close the browser after this long without a render: quickly in scripts (so they can exit), later in a kernel. */
const IDLE_CLOSE_MS = () => (inTslab() ? 60_000 : 2_000);

// Minimal structural types for the parts of playwright-core we use (keeps this module free of its typings).
interface PwPage {
  goto(url: string): Promise<unknown>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}
interface PwBrowser {
  newPage(): Promise<PwPage>;
  close(): Promise<void>;
}

let renderer: Promise<PwPage | undefined> | undefined;
let browser: PwBrowser | undefined;
let idleTimer: ReturnType<typeof setTimeout> | undefined;
let warned = false;
let queue: Promise<unknown> = Promise.resolve();

function warnOnce(msg: string): void {
  if (warned) return;
  warned = true;
  console.warn(`[plots] ${msg}; writing figure HTML only (no PNG/SVG). Install it with: apt-get install -y chromium`);
}

/**
 * plotly.js source for the self-contained HTML: plotly.js-dist minified once with esbuild (tsx's dependency)
 * into data/cache/plotly/ (4.8 MB instead of 10 MB per HTML file), or the unminified bundle when esbuild is absent.
 */
export function plotlyScriptPath(): string {
  const full = require.resolve("plotly.js-dist/plotly.js");
  const version = (JSON.parse(fs.readFileSync(path.join(path.dirname(full), "package.json"), "utf8")) as { version: string }).version;
  const min = path.join(PATHS.cache, "plotly", `plotly-${version}.min.js`);
  if (fs.existsSync(min)) return min;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const esbuild = require("esbuild") as { transformSync(code: string, o: object): { code: string } };
    atomicWrite(min, esbuild.transformSync(fs.readFileSync(full, "utf8"), { minify: true, loader: "js" }).code);
    return min;
  } catch {
    return full;
  }
}

/** JSON safe to put inside a <script> element. */
function scriptJSON(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/**
 * A self-contained HTML page that shows `fig` interactively (plotly.js inlined, no network access).
 * @param fig the figure
 * @param title the page title
 */
export function figureHtml(fig: PlotlyFigure, title: string, size: { width: number; height: number } = FIGURE_SIZE): string {
  const plotly = fs.readFileSync(plotlyScriptPath(), "utf8").replace(/<\/script/gi, "<\\/script");
  const layout = { ...fig.layout, width: undefined, height: undefined, autosize: true };
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title.replace(/</g, "&lt;")}</title>
<script>${plotly}</script></head>
<body style="margin:0;background:white">
<div id="figure" style="width:100%;max-width:${size.width}px;height:${size.height}px"></div>
<script>Plotly.newPlot("figure", ${scriptJSON(fig.data)}, ${scriptJSON(layout)}, {responsive: true, displaylogo: false});</script>
</body></html>
`;
}

async function launchRenderer(): Promise<PwPage | undefined> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    warnOnce(`${CHROMIUM_PATH} not found`);
    return undefined;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { chromium } = require("playwright-core") as { chromium: { launch(o: object): Promise<PwBrowser> } };
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    onKernelShutdown(closeFigureExporter);
    const page = await browser.newPage();
    const html = path.join(PATHS.cache, "plotly", "renderer.html");
    atomicWrite(html, `<!DOCTYPE html><html><head><meta charset="utf-8"><script src="file://${plotlyScriptPath()}"></script></head><body></body></html>\n`);
    await page.goto(`file://${html}`);
    return page;
  } catch (e) {
    warnOnce(`headless Chromium failed to start (${(e as Error).message.split("\n")[0]})`);
    await closeFigureExporter();
    return undefined;
  }
}

function scheduleIdleClose(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void closeFigureExporter(), IDLE_CLOSE_MS());
  idleTimer.unref();
}

/**
 * Renders `fig` with plotly.js in the shared browser.
 * @param fig the figure
 * @param format "png" (returns the PNG bytes) or "svg" (returns the SVG text as UTF-8 bytes)
 * @param size CSS pixel size and PNG scale
 * @returns the file bytes, or undefined when Chromium is unavailable
 */
export function renderFigure(fig: PlotlyFigure, format: "png" | "svg", size: { width: number; height: number; scale: number } = FIGURE_SIZE): Promise<Buffer | undefined> {
  const job = queue.then(async () => {
    if (idleTimer) clearTimeout(idleTimer);
    renderer ??= launchRenderer();
    const page = await renderer;
    if (!page) return undefined;
    try {
      const url = await page.evaluate(
        (a: { fig: PlotlyFigure; opts: object }) => (globalThis as unknown as { Plotly: { toImage(f: unknown, o: object): Promise<string> } }).Plotly.toImage(a.fig, a.opts),
        { fig: { data: fig.data, layout: { ...fig.layout, width: size.width, height: size.height } }, opts: { format, width: size.width, height: size.height, scale: size.scale } },
      );
      const comma = url.indexOf(",");
      const body = url.slice(comma + 1);
      return url.slice(0, comma).endsWith(";base64") ? Buffer.from(body, "base64") : Buffer.from(decodeURIComponent(body), "utf8");
    } finally {
      scheduleIdleClose();
    }
  });
  queue = job.catch(() => undefined);
  return job;
}

/** Closes the shared headless browser (a later render starts a new one). Safe to call any time. */
export async function closeFigureExporter(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const b = browser;
  browser = undefined;
  renderer = undefined;
  if (b) await b.close().catch(() => undefined);
}

/** A one-line description of a figure, used as its text/plain form. */
export function describeFigure(fig: PlotlyFigure, name?: string): string {
  const title = (fig.layout.title as { text?: string } | undefined)?.text;
  const traces = fig.data.map((t) => `${String(t.name ?? t.type ?? "trace")} (${Array.isArray(t.y) ? t.y.length : "?"} points)`);
  return `<Plotly figure${name ? ` '${name}'` : ""}${title ? `: ${title}` : ""}; ${traces.join(", ")}>`;
}

/**
 * Shows a figure in a notebook as ONE output: interactive Plotly JSON, a PNG fallback and text.
 * Outside a tslab kernel it only prints the text line.
 * @param fig the figure
 * @param opts.name a name for the text form; width/height in CSS pixels
 */
export async function showFigure(fig: PlotlyFigure, opts: { name?: string; width?: number; height?: number } = {}): Promise<void> {
  const text = describeFigure(fig, opts.name);
  if (!inTslab()) {
    console.log(text);
    return;
  }
  const size = { width: opts.width ?? FIGURE_SIZE.width, height: opts.height ?? FIGURE_SIZE.height, scale: FIGURE_SIZE.scale };
  const png = await renderFigure(fig, "png", size);
  const bundle: Record<string, unknown> = {
    "application/vnd.plotly.v1+json": { data: fig.data, layout: { ...fig.layout, width: size.width, height: size.height } },
    "text/plain": text,
  };
  if (png) bundle["image/png"] = png.toString("base64");
  displayBundle(bundle, { metadata: png ? { "image/png": { width: size.width, height: size.height } } : {} });
}

/** Files written by exportFigure (png/svg absent when Chromium is unavailable). */
export interface ExportedFigure {
  html: string;
  png?: string;
  svg?: string;
}

/**
 * Writes `<dir>/<name>.html` (self-contained, interactive), `<name>.png` and `<name>.svg`, each atomically.
 * @param fig the figure
 * @param name file stem, e.g. "10-codebook-size-bpb" (letters, digits, . _ - only)
 * @param opts.dir output folder (default figures/); width/height in CSS pixels; scale for the PNG
 */
export async function exportFigure(fig: PlotlyFigure, name: string,
  opts: { dir?: string; width?: number; height?: number; scale?: number } = {}): Promise<ExportedFigure> {
  checkFileName("exportFigure: name", name, "it becomes a file name");
  const dir = ensureDir(opts.dir ?? PATHS.figures);
  const size = { width: opts.width ?? FIGURE_SIZE.width, height: opts.height ?? FIGURE_SIZE.height, scale: opts.scale ?? FIGURE_SIZE.scale };
  const out: ExportedFigure = { html: path.join(dir, `${name}.html`) };
  atomicWrite(out.html, figureHtml(fig, name, size));
  const png = await renderFigure(fig, "png", size);
  if (png) atomicWrite((out.png = path.join(dir, `${name}.png`)), png);
  const svg = await renderFigure(fig, "svg", { ...size, scale: 1 });
  if (svg) atomicWrite((out.svg = path.join(dir, `${name}.svg`)), svg);
  return out;
}

/**
 * A notebook's one call per figure: shows `fig` (interactive in JupyterLab, a one-line description elsewhere) and
 * exports it as `figures/<name>[-<profile>].{html,png,svg}` (the profile suffix only outside the default run, so
 * a smoke run never overwrites the recorded figures), then prints one line naming the files written.
 * @param name file stem without the profile, e.g. "10-codebook-size-bpb"
 * @param profile the notebook's profile parameter
 */
export async function showAndExport(fig: PlotlyFigure, name: string, profile: string,
  opts: { dir?: string; width?: number; height?: number } = {}): Promise<ExportedFigure> {
  const stem = profiledName(name, profile);
  await showFigure(fig, { name: stem, width: opts.width, height: opts.height });
  const out = await exportFigure(fig, stem, opts);
  const kinds = (["png", "svg", "html"] as const).filter((k) => out[k]);
  const where = path.relative(ROOT, path.dirname(out.html)) || ".";
  console.log(`figure ${stem}: ${where}/${stem}.{${kinds.join(",")}}${out.png ? "" : " (no PNG/SVG: Chromium unavailable)"}`);
  return out;
}
