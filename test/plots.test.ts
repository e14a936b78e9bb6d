// Figures: the paper-style builders (pure), and export through ONE headless Chromium launch: a valid PNG of the
// requested size, an SVG with real <text> (axis titles), and a self-contained HTML page (plotly.js inlined).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { barFigure, lineFigure, logTicks, scatterFigure } from "../lib/notebook/plots";
import { CHROMIUM_PATH, closeFigureExporter, describeFigure, exportFigure, showFigure } from "../lib/notebook/render";

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
      console.log(JSON.stringify([a, b]));
    })();`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: REPO, encoding: "utf8", env: { ...process.env, TVQ_CHROMIUM: "/nonexistent/chromium" }, timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const [a, b] = JSON.parse(r.stdout.trim().split("\n").pop()!) as Array<Record<string, string>>;
  assert.deepEqual(Object.keys(a), ["html"]);
  assert.deepEqual(Object.keys(b), ["html"]);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["one.html", "two.html"]);
  assert.equal((r.stderr.match(/\/nonexistent\/chromium not found/g) ?? []).length, 1, `warned once:\n${r.stderr}`);
});

after(() => closeFigureExporter());
