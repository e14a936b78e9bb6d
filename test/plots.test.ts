// Figures: the paper-style builders (pure), and export through ONE headless Chromium launch: a valid PNG of the
// requested size, an SVG with real <text> (axis titles), and a self-contained HTML page (plotly.js inlined).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as util from "node:util";
import { spawnSync } from "node:child_process";
import { barFigure, lineFigure, logTicks, scatterFigure } from "../lib/notebook/plots";
import { CHROMIUM_PATH, closeFigureExporter, describeFigure, exportFigure, figureBundle, showFigure } from "../lib/notebook/render";

const REPO = path.resolve(__dirname, "..");

function sweepFigure() {
  const S = [32, 64, 128, 256, 512];
  return lineFigure(
    [
      { name: "Transformer-VQ", x: S, y: [1.61, 1.55, 1.52, 1.5, 1.49], error: [0.02, 0.01, 0.015, 0.01, 0.02] },
      { name: "full attention", x: S, y: [1.47, 1.47, 1.47, 1.47, 1.47], dash: "dash" },
    ],
    { title: "Codebook size ablation", x: { title: "codebook size S (codes)", log: true, tickvals: S }, y: "validation bits per byte (bpb)" },
  );
}

test("logTicks: 1-2-5 ticks from a tick at or below the minimum to one at or above the maximum", () => {
  assert.deepEqual(logTicks(0.8, 42), [0.5, 1, 2, 5, 10, 20, 50]);
  assert.deepEqual(logTicks(3, 3), [2, 5]);
  const wide = logTicks(1e-3, 1e4);
  assert.ok(wide.length <= 8 && wide[0] <= 1e-3 && wide[wide.length - 1] >= 1e4, `thinned ticks ${wide}`);
  assert.deepEqual(logTicks(0, 10), []);
});

test("builders: one trace per series, palette colours, error bars, log axes with ticks, shape errors name the series", () => {
  const fig = sweepFigure();
  assert.equal(fig.data.length, 2);
  assert.equal((fig.data[0].error_y as { array: number[] }).array.length, 5);
  assert.equal(fig.data[1].error_y, undefined);
  assert.notEqual((fig.data[0].line as { color: string }).color, (fig.data[1].line as { color: string }).color);
  const xaxis = fig.layout.xaxis as Record<string, unknown>;
  assert.equal(xaxis.type, "log");
  assert.deepEqual(xaxis.tickvals, [32, 64, 128, 256, 512]);
  assert.equal((fig.layout.yaxis as Record<string, unknown>).type, "linear");
  assert.equal(fig.layout.paper_bgcolor, "white");
  assert.equal(fig.layout.showlegend, true);

  const bars = barFigure([{ name: "bpb", x: ["cache on", "cache off"], y: [1.5, 1.6], error: [0.01, 0.02] }], { x: "variant", y: "bpb" });
  assert.equal(bars.layout.barmode, "group");
  assert.equal(bars.layout.showlegend, false);
  assert.equal((bars.layout.xaxis as Record<string, unknown>).type, "category", "text labels need a category axis (a linear one draws nothing)");
  assert.equal(scatterFigure([{ name: "runs", x: [1, 2], y: [3, 4] }], { x: "a", y: "b" }).data[0].mode, "markers");

  assert.throws(() => lineFigure([{ name: "bad", x: [1, 2, 3], y: [1, 2] }], { x: "a", y: "b" }), /series 'bad' has 3 x values but 2 y values/);
  assert.throws(() => lineFigure([{ name: "e", x: [1], y: [1], error: [1, 2] }], { x: "a", y: "b" }), /series 'e' has 2 error values/);
  assert.match(describeFigure(fig, "10-S"), /^<Plotly figure '10-S': Codebook size ablation; Transformer-VQ \(5 points\), full attention \(5 points\)>$/);
});

test("showFigure outside a tslab kernel prints its text line and nothing else", async () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await showFigure(sweepFigure(), { name: "x" });
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines, [describeFigure(sweepFigure(), "x")]);
});

test("exportFigure rejects names that are not file stems", async () => {
  await assert.rejects(exportFigure(sweepFigure(), "../evil"), /must use only letters, digits/);
});

test("exportFigure writes a valid PNG, an SVG with text and a self-contained HTML (one Chromium launch)", { skip: !fs.existsSync(CHROMIUM_PATH) && `${CHROMIUM_PATH} missing` }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-plots-"));
  const out = await exportFigure(sweepFigure(), "ablation", { dir, width: 700, height: 450, scale: 2 });
  assert.equal(out.png, path.join(dir, "ablation.png"));
  // it prints as its one line (console.log, or a notebook cell ending in it), not as a raw { html, png, svg } object
  const line = `figure ablation: ${path.relative(REPO, dir)}/ablation.{png,svg,html}`;
  assert.equal(util.inspect(out), line);
  assert.equal(String(out), line);
  assert.equal(util.format("%s", out), line);

  // the notebook bundle: Plotly JSON at the layout size; for static viewers the same 2× PNG in an <img> sized to the
  // layout; no image/png entry (jupyterlab-plotly would show it at its pixel size until the mouse enters it)
  const bundle = figureBundle(sweepFigure(), "text", { width: 700, height: 450 }, fs.readFileSync(out.png!));
  assert.deepEqual(Object.keys(bundle).sort(), ["application/vnd.plotly.v1+json", "text/html", "text/plain"]);
  const layout = (bundle["application/vnd.plotly.v1+json"] as { layout: { width: number; height: number } }).layout;
  assert.deepEqual([layout.width, layout.height], [700, 450]);
  const img = /^<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"/.exec(bundle["text/html"] as string);
  assert.ok(img, `text/html is one <img>: ${(bundle["text/html"] as string).slice(0, 80)}`);
  assert.deepEqual([Number(img[2]), Number(img[3])], [700, 450], "displayed at the layout size");
  const inner = Buffer.from(img[1], "base64");
  assert.deepEqual([inner.readUInt32BE(16), inner.readUInt32BE(20)], [1400, 900], "with 2× pixels");
  assert.deepEqual(Object.keys(figureBundle(sweepFigure(), "text", { width: 700, height: 450 })).sort(), ["application/vnd.plotly.v1+json", "text/plain"], "no PNG: no text/html");

  const png = fs.readFileSync(out.png!);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  assert.equal(png.toString("ascii", 12, 16), "IHDR");
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1400, 900], "PNG pixel size = CSS size × scale");
  assert.ok(png.length > 20_000, `PNG is only ${png.length} bytes: blank?`);

  const svg = fs.readFileSync(out.svg!, "utf8");
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith("</svg>"), "SVG is complete");
  assert.ok((svg.match(/<text/g) ?? []).length >= 10, "SVG keeps text as <text> elements");
  for (const s of ["codebook size S (codes)", "validation bits per byte (bpb)", "Transformer-VQ"]) assert.ok(svg.includes(s), `SVG shows '${s}'`);

  const html = fs.readFileSync(out.html, "utf8");
  assert.ok(html.length > 1_000_000, "plotly.js is inlined");
  assert.match(html, /Plotly\.newPlot\("figure"/);
  assert.doesNotMatch(html, /<script[^>]*\bsrc=/i, "no external scripts");
  assert.doesNotMatch(html, /<link[^>]*\bhref=/i, "no external stylesheets");
  await closeFigureExporter();
});

test("without Chromium exportFigure warns once and writes the HTML only", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-plots-nochrome-"));
  const script = `const p = require(${JSON.stringify(path.join(REPO, "lib", "notebook", "plots.ts"))});
    (async () => {
      const fig = p.lineFigure([{ name: "a", x: [1, 2], y: [1, 2] }], { x: "x", y: "y" });
      const a = await p.exportFigure(fig, "one", { dir: ${JSON.stringify(dir)} });
      const b = await p.exportFigure(fig, "two", { dir: ${JSON.stringify(dir)} });
      console.log(JSON.stringify([a, b, String(a)]));
    })();`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: REPO, encoding: "utf8", env: { ...process.env, TVQ_CHROMIUM: "/nonexistent/chromium" }, timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const [a, b, line] = JSON.parse(r.stdout.trim().split("\n").pop()!) as [Record<string, string>, Record<string, string>, string];
  assert.deepEqual([a.html, a.png, a.svg], [path.join(dir, "one.html"), undefined, undefined]);
  assert.deepEqual([b.html, b.png, b.svg], [path.join(dir, "two.html"), undefined, undefined]);
  assert.equal(line, `figure one: ${path.relative(REPO, dir)}/one.html (no PNG/SVG: Chromium unavailable)`);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["one.html", "two.html"]);
  assert.equal((r.stderr.match(/\/nonexistent\/chromium not found/g) ?? []).length, 1, `warned once:\n${r.stderr}`);
});

after(() => closeFigureExporter());

test("learningCurveFigure with nats: the same curves × ln 2, axis in nats per token (the unit for BPE data)", async () => {
  const { learningCurveFigure } = await import("../lib/notebook/figures/curves");
  const history = [1, 2, 3].map((step) => ({ step, loss: 0, bpb: 2 * step, commit: 0, lr: 0, gradNorm: 0, codeUsage: 1, codeEntropy: 1, tokensPerSec: 1, elapsed: step }));
  const evals = [{ step: 3, split: "validation", loss: 4.2, bpb: 0, ppl: 0, tokens: 1, windows: 1, nats: 1 }];
  const bits = learningCurveFigure([{ name: "VQ", history, evals }], { smooth: 1 });
  const nats = learningCurveFigure([{ name: "VQ", history, evals }], { smooth: 1, nats: true });
  (nats.data[0].y as number[]).forEach((v, i) => assert.ok(Math.abs(v - (bits.data[0].y as number[])[i] * Math.LN2) < 1e-12));
  assert.ok(Math.abs((nats.data[1].y as number[])[0] - 4.2) < 1e-12, "validation loss is already in nats");
  assert.equal(((nats.layout.yaxis as { title: { text: string } }).title.text), "loss (nats per token)");
  assert.equal(((bits.layout.yaxis as { title: { text: string } }).title.text), "loss (bits per byte)");
});

test("samplesAndRealPNG: samples above real images, cropped to the sampled rows; bad rows or too few real images throw", async () => {
  const { samplesAndRealPNG, pngSize } = await import("../lib/notebook/images");
  const img = (v: number) => new Uint8Array(28 * 28).fill(v);
  const png = samplesAndRealPNG([img(200), img(100), img(50)], [img(0), img(0), img(0), img(9)], [28, 28, 1], { rows: 2 });
  // 3 columns of 28 px with 1 px gaps, 2 grid rows (samples, real) of 2 px with a 1 px gap, zoomed 8× (≤ 8 rows)
  assert.deepEqual(pngSize(png), { width: (3 * 28 + 2) * 8, height: (2 * 2 + 1) * 8 });
  assert.deepEqual(pngSize(samplesAndRealPNG([img(1)], [img(2)], [28, 28, 1])), { width: 28 * 4, height: (2 * 28 + 1) * 4 });
  assert.throws(() => samplesAndRealPNG([img(1)], [img(2)], [28, 28, 1], { rows: 29 }), /rows = 29; give a whole number from 1 to the image height 28/);
  assert.throws(() => samplesAndRealPNG([img(1), img(1)], [img(2)], [28, 28, 1]), /2 samples but only 1 real images/);
  assert.throws(() => pngSize(Buffer.from("not a png at all, really not")), /not a PNG/);
});
