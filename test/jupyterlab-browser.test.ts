// Issues 5 and 14 acceptance: JupyterLab from the project venv, driven by headless Chromium, runs notebooks/01-enwik8
// (its `smoke` profile, from a temporary hidden copy) with the tslab kernel. Checked, before any mouse movement over
// the outputs: no "notified about Jupyter news?" popup; every Plotly figure is drawn (SVG lines, a screenshot that is
// not blank) at its layout's size (bounding box 800×500 CSS px, not its 2× PNG); no HTML table is wider than the
// output area. Then the notebook is saved, rendered to static HTML by nbconvert and opened: every figure's image is
// 800×500 there too. Screenshots: test/artifacts/jupyterlab-01-enwik8.png (the first figure in JupyterLab),
// jupyterlab-01-enwik8-page.png (the page at that figure), nbconvert-01-enwik8.png (the first figure in the static
// HTML). Server, kernel, browser, copy and HTML are always cleaned up.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../lib/notebook/plots";
import { FIGURE_SIZE } from "../lib/notebook/render";
import { REPO, shutdownKernels, startLab, stopLab } from "./helpers/jupyterlab";
import { decodePng, pixelStats } from "./helpers/png";

const NOTEBOOK = path.join(REPO, "notebooks", "01-enwik8.ipynb");
const COPY_NAME = ".browser-test-01-enwik8.ipynb";
const COPY = path.join(REPO, "notebooks", COPY_NAME);
const CHECKPOINT = path.join(REPO, "notebooks", ".ipynb_checkpoints", ".browser-test-01-enwik8-checkpoint.ipynb");
const ARTIFACT = path.join(REPO, "test", "artifacts", "jupyterlab-01-enwik8.png");
const PAGE_ARTIFACT = path.join(REPO, "test", "artifacts", "jupyterlab-01-enwik8-page.png");
const STATIC_ARTIFACT = path.join(REPO, "test", "artifacts", "nbconvert-01-enwik8.png");
const HTML = path.join(REPO, "test", "artifacts", "nbconvert-01-enwik8.html");
const FIGURES = 2; // 01-enwik8 shows the learning curves and the bpb bars
const RUN_TIMEOUT_MS = Number(process.env.TVQ_BROWSER_TIMEOUT_MS ?? 240_000);

const missing = [path.join(REPO, ".venv", "bin", "jupyter"), CHROMIUM_PATH, NOTEBOOK].filter((p) => !fs.existsSync(p));
const skip = missing.length > 0 ? `needs ${missing.join(", ")} (run npm run setup; install chromium)` : false;

/** The notebook with its parameters cell switched to the smoke profile; everything else unchanged. */
function smokeCopy(): string {
  const nb = JSON.parse(fs.readFileSync(NOTEBOOK, "utf8")) as { cells: { cell_type: string; source: string | string[] }[] };
  let replaced = 0;
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    const src = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    if (!/^let profile = "default";/m.test(src)) continue;
    cell.source = src.replace(/^let profile = "default";/m, 'let profile = "smoke";').split(/(?<=\n)/);
    replaced++;
  }
  assert.equal(replaced, 1, `expected one parameters cell with 'let profile = "default";' in ${NOTEBOOK}`);
  return JSON.stringify(nb, null, 1) + "\n";
}

/** What the page shows so far, for failure messages: prompts, output mime types, stderr. */
async function pageState(page: Page): Promise<string> {
  const prompts = await page.locator(".jp-InputPrompt").allInnerTexts();
  const mimes = await page.locator(".jp-OutputArea-output").evaluateAll((els) => els.map((e) => e.getAttribute("data-mime-type") ?? e.className));
  const stderr = await page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').allInnerTexts();
  await page.screenshot({ path: ARTIFACT.replace(/\.png$/, "-failure.png") }).catch(() => undefined);
  return `prompts ${prompts.join(" ")}; plots ${await page.locator(".js-plotly-plot").count()}; outputs ${mimes.join(", ")}\nstderr:\n${stderr.join("\n---\n").slice(-3000)}`;
}

/** Accepts the kernel chooser if JupyterLab asks, then waits until the TypeScript (tslab) kernel is idle. */
async function waitForKernel(page: Page): Promise<void> {
  const deadline = Date.now() + 120_000;
  let name = "";
  while (Date.now() < deadline) {
    const dialog = page.locator(".jp-Dialog .jp-mod-accept");
    if (await dialog.isVisible().catch(() => false)) await dialog.click();
    name = await page.locator(".jp-KernelName").first().innerText().catch(() => "");
    if (/TypeScript/.test(name) && (await page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count())) return;
    await page.waitForTimeout(500);
  }
  throw new Error(`the notebook's TypeScript (tslab) kernel did not become idle within 120 s (kernel shown: ${JSON.stringify(name)})`);
}

/** The parts of an <img> element read in the page (the repo's type check has no DOM library). */
type Img = { decode(): Promise<void>; naturalWidth: number; naturalHeight: number };

/** Waits until the kernel is idle again (the run has finished). */
async function waitForIdle(page: Page): Promise<void> {
  await page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first().waitFor({ timeout: RUN_TIMEOUT_MS });
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (Date.now() < deadline && (await page.locator(".jp-InputPrompt").allInnerTexts()).some((t) => t.includes("*"))) await page.waitForTimeout(500);
}

/** A screenshot of a drawn figure: big enough, not blank. */
function checkScreenshot(png: Buffer, where: string): void {
  const img = decodePng(png);
  const stats = pixelStats(img);
  assert.ok(img.width >= 300 && img.height >= 200, `${where}: figure screenshot is only ${img.width}×${img.height}`);
  assert.ok(png.length > 10_000, `${where}: figure screenshot is ${png.length} bytes: blank?`);
  assert.ok(stats.distinctColours >= 16, `${where}: figure screenshot has ${stats.distinctColours} distinct colours: blank?`);
  assert.ok(stats.nonBackground > 0.01, `${where}: only ${(stats.nonBackground * 100).toFixed(2)}% of the screenshot differs from its background`);
}

test("JupyterLab runs 01-enwik8 (smoke) with tslab; figures at their layout size in JupyterLab and static HTML, no news popup", { skip, timeout: RUN_TIMEOUT_MS + 180_000 }, async () => {
  fs.writeFileSync(COPY, smokeCopy());
  const lab = await startLab(["--ContentsManager.allow_hidden=True"]).catch((e) => {
    fs.rmSync(COPY, { force: true });
    throw e;
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${lab.base}/lab/tree/notebooks/${COPY_NAME}?token=${lab.token}`);
    await page.locator(".jp-Notebook .jp-Cell").first().waitFor({ timeout: 120_000 });
    await waitForKernel(page);

    await page.getByRole("menuitem", { name: "Run", exact: true }).click();
    await page.getByRole("menuitem", { name: /^Run All Cells/ }).click();

    // Every Plotly output drawn, with no mouse over it: jupyterlab-plotly draws the Plotly JSON at once when the
    // bundle has no image/png (showFigure puts the PNG for static viewers into text/html). Scrolling is no mouse move.
    const outputs = page.locator(".jp-RenderedPlotly");
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let drawn = 0;
    while (Date.now() < deadline && drawn < FIGURES) {
      const n = await outputs.count();
      if (n) await outputs.nth(n - 1).scrollIntoViewIfNeeded().catch(() => undefined);
      drawn = (await outputs.evaluateAll((els) => els.map((e) => [...e.querySelectorAll(".scatterlayer path.js-line, .barlayer path")]
        .some((p) => (p.getAttribute("d") ?? "").length > 20)))).filter(Boolean).length;
      if (drawn < FIGURES) await page.waitForTimeout(2000);
    }
    if (drawn < FIGURES) assert.fail(`${drawn} of ${FIGURES} Plotly figures drawn after ${RUN_TIMEOUT_MS / 1000} s; ${await pageState(page)}`);
    await waitForIdle(page);

    assert.equal(await page.getByText(/notified about official Jupyter news/).count(), 0, "the news popup is off (scripts/lab.sh)");
    for (let i = 0; i < FIGURES; i++) {
      const out = outputs.nth(i);
      await out.scrollIntoViewIfNeeded();
      const box = await out.locator(".main-svg").first().boundingBox();
      assert.ok(box, `figure ${i + 1}: no .main-svg`);
      assert.ok(Math.abs(box.width - FIGURE_SIZE.width) <= 1 && Math.abs(box.height - FIGURE_SIZE.height) <= 1,
        `figure ${i + 1} in JupyterLab is ${box.width}×${box.height} CSS px; its layout is ${FIGURE_SIZE.width}×${FIGURE_SIZE.height}`);
      assert.equal(await out.locator("img.plot-img[src^='data:']").count(), 0, `figure ${i + 1} shows a PNG, not the interactive plot`);
    }
    // HTML tables (01's paper table has long text cells) wrap within the output area
    const tables = await page.locator(".jp-OutputArea-output table").evaluateAll((els) => els.map((t) => {
      const area = t.closest(".jp-OutputArea-output")!;
      return { table: Math.round(t.getBoundingClientRect().width), area: Math.round(area.getBoundingClientRect().width), text: (t.textContent ?? "").slice(0, 40) };
    }));
    assert.ok(tables.length >= 3, `expected 01-enwik8's tables, found ${tables.length}`);
    for (const t of tables) assert.ok(t.table <= t.area + 1, `a table is ${t.table} px wide in a ${t.area} px output area: ${JSON.stringify(t.text)}`);

    const fig = outputs.first(); // the output node is the plot div (.js-plotly-plot) itself
    await fig.scrollIntoViewIfNeeded();
    await page.waitForTimeout(1000); // let plotly finish its layout transition
    fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
    await page.screenshot({ path: PAGE_ARTIFACT });
    checkScreenshot(await fig.screenshot({ path: ARTIFACT }), "JupyterLab");

    // Static HTML: save (keyboard, no mouse), nbconvert the saved copy, open it, measure every figure's image.
    await page.keyboard.press("Control+s");
    const saved = Date.now() + 30_000;
    while (Date.now() < saved && (fs.readFileSync(COPY, "utf8").match(/application\/vnd\.plotly\.v1\+json/g) ?? []).length < FIGURES) await page.waitForTimeout(500);
    const conv = spawnSync("bash", ["-c", 'source scripts/env.sh && exec .venv/bin/jupyter nbconvert --to html --output-dir "$0" --output "$1" "$2"',
      path.dirname(HTML), path.basename(HTML, ".html"), COPY], { cwd: REPO, encoding: "utf8", timeout: 120_000 });
    assert.equal(conv.status, 0, `nbconvert failed: ${conv.stderr}`);
    const staticPage = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await staticPage.goto(`file://${HTML}`);
    const imgs = staticPage.locator(".jp-OutputArea-output img[src^='data:image/png']");
    assert.equal(await imgs.count(), FIGURES, "one PNG per figure in the static HTML");
    for (let i = 0; i < FIGURES; i++) {
      await imgs.nth(i).evaluate((e) => (e as unknown as Img).decode());
      const box = await imgs.nth(i).boundingBox();
      const natural = await imgs.nth(i).evaluate((e) => [(e as unknown as Img).naturalWidth, (e as unknown as Img).naturalHeight]);
      assert.ok(box && Math.abs(box.width - FIGURE_SIZE.width) <= 1 && Math.abs(box.height - FIGURE_SIZE.height) <= 1,
        `figure ${i + 1} in the static HTML is ${box?.width}×${box?.height} CSS px; its layout is ${FIGURE_SIZE.width}×${FIGURE_SIZE.height}`);
      assert.deepEqual(natural, [FIGURE_SIZE.width * FIGURE_SIZE.scale, FIGURE_SIZE.height * FIGURE_SIZE.scale], "the PNG has 2× pixels for sharp text");
    }
    await imgs.first().scrollIntoViewIfNeeded();
    checkScreenshot(await imgs.first().screenshot({ path: STATIC_ARTIFACT }), "static HTML");
  } finally {
    await browser.close().catch(() => undefined);
    await shutdownKernels(lab);
    await stopLab(lab);
    fs.rmSync(COPY, { force: true });
    fs.rmSync(HTML, { force: true });
    fs.rmSync(CHECKPOINT, { force: true });
    try {
      fs.rmdirSync(path.dirname(CHECKPOINT)); // only when empty
    } catch {
      /* other checkpoints remain */
    }
  }
});
