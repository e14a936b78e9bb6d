/**
 * Showing and exporting figures (lib/notebook/plots.ts builds them). `showFigure` puts one output in a notebook
 * with the interactive Plotly JSON, a PNG shown at the layout's size by static viewers (figureBundle) and text.
 * `exportFigure` writes figures/<name>.html (self-contained), .png and .svg and returns them as an object that
 * prints as one line; `showAndExport` does both with the profile in the file name
 * and prints one line. PNG and SVG come from plotly.js running in ONE shared headless Chromium per process
 * (playwright-core), started on first use and closed after a short idle time, at kernel shutdown, or by
 * `closeFigureExporter()`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as util from "node:util";
import { CHROMIUM_PATH, PATHS, ROOT, atomicWrite, checkFileName, ensureDir } from "../util/io";
import { profiledName } from "./profiles";
import { displayBundle, escapeHtml, inTslab, onKernelShutdown } from "../util/display";
import type { PlotlyFigure } from "./plots";

// ---------------------------------------------------------------------------------------------------------
// Rendering: plotly.js in one shared headless Chromium.

/** Default export size in CSS pixels; PNGs are rendered at `scale` × this. */
export const FIGURE_SIZE = { width: 800, height: 500, scale: 2 };

export { CHROMIUM_PATH };
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
 * The display bundle of a figure. JupyterLab (jupyterlab-plotly) draws the Plotly JSON at the layout's size at
 * once. Static viewers (nbconvert HTML, GitHub) do not know that mime type and show the `text/html` form: the PNG,
 * rendered at `scale` × the layout size for sharp text, in an <img> whose width and height are the layout size.
 * The PNG is deliberately NOT an `image/png` entry: jupyterlab-plotly shows an `image/png` of the bundle at its
 * pixel size (2× too large, ignoring the output metadata) until the mouse enters it.
 * @param png the rendered PNG, or undefined when Chromium is unavailable (then text is the static form)
 */
export function figureBundle(fig: PlotlyFigure, text: string, size: { width: number; height: number }, png?: Buffer): Record<string, unknown> {
  const bundle: Record<string, unknown> = {
    "application/vnd.plotly.v1+json": { data: fig.data, layout: { ...fig.layout, width: size.width, height: size.height } },
    "text/plain": text,
  };
  if (png) {
    bundle["text/html"] = `<img src="data:image/png;base64,${png.toString("base64")}" width="${size.width}" height="${size.height}" ` +
      `style="max-width:100%;height:auto" alt="${escapeHtml(text)}">`;
  }
  return bundle;
}

/**
 * Shows a figure in a notebook as ONE output (figureBundle): interactive Plotly JSON, a PNG for static viewers
 * and text. Outside a tslab kernel it only prints the text line.
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
  displayBundle(figureBundle(fig, text, size, png));
}

/**
 * Files written by exportFigure (png/svg absent when Chromium is unavailable). Prints as its one line
 * ("figure <stem>: figures/<stem>.{png,svg,html}"), also through console.log or as a cell's last value.
 */
export class ExportedFigure {
  png?: string;
  svg?: string;
  constructor(readonly stem: string, readonly html: string) {}

  /** The extensions written, in the order of the line. */
  kinds(): string[] {
    return (["png", "svg", "html"] as const).filter((k) => this[k] !== undefined);
  }

  toString(): string {
    return exportLine(this.stem, path.dirname(this.html), this.kinds()) + (this.png ? "" : " (no PNG/SVG: Chromium unavailable)");
  }

  [util.inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Writes `<dir>/<name>.html` (self-contained, interactive), `<name>.png` and `<name>.svg`, each atomically.
 * @param fig the figure
 * @param name file stem, e.g. "10-codebook-size-bpb" (letters, digits, . _ - only)
 * @param opts.dir output folder (default figures/); width/height in CSS pixels; scale for the PNG
 * @returns the files; it prints as one line naming them
 */
export async function exportFigure(fig: PlotlyFigure, name: string,
  opts: { dir?: string; width?: number; height?: number; scale?: number } = {}): Promise<ExportedFigure> {
  checkFileName("exportFigure: name", name, "it becomes a file name");
  const dir = ensureDir(opts.dir ?? PATHS.figures);
  const size = { width: opts.width ?? FIGURE_SIZE.width, height: opts.height ?? FIGURE_SIZE.height, scale: opts.scale ?? FIGURE_SIZE.scale };
  const out = new ExportedFigure(name, path.join(dir, `${name}.html`));
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
 * a smoke run never overwrites the recorded figures), then prints one line naming the files written. Returns
 * nothing, so a cell ending in it shows no echoed value (exportFigure returns the files, printed as the same line).
 * @param name file stem without the profile, e.g. "10-codebook-size-bpb"
 * @param profile the notebook's profile parameter
 */
export async function showAndExport(fig: PlotlyFigure, name: string, profile: string,
  opts: { dir?: string; width?: number; height?: number } = {}): Promise<void> {
  const stem = profiledName(name, profile);
  await showFigure(fig, { name: stem, width: opts.width, height: opts.height });
  console.log(String(await exportFigure(fig, stem, opts)));
}

/**
 * The one line a notebook prints per file it writes: "figure <stem>: figures/<stem>.{png,svg,html}".
 * @param what e.g. "figure"; dir: the folder written; kinds: the extensions written
 */
export function exportLine(stem: string, dir: string, kinds: readonly string[], what = "figure"): string {
  const where = path.relative(ROOT, dir) || ".";
  return `${what} ${stem}: ${where}/${stem}.${kinds.length === 1 ? kinds[0] : `{${kinds.join(",")}}`}`;
}
