// Issue 5 acceptance: JupyterLab from the project venv, driven by headless Chromium, runs notebooks/01-enwik8 (its
// `smoke` profile, from a temporary hidden copy) with the tslab kernel, and the Plotly learning-curve figure renders
// in the output: a .js-plotly-plot whose SVG has drawn lines, and whose screenshot is not a blank rectangle. The
// screenshot is kept at test/artifacts/jupyterlab-01-enwik8.png. Server, kernel, browser and copy are always cleaned up.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../lib/notebook/plots";
import { REPO, shutdownKernels, startLab, stopLab } from "./helpers/jupyterlab";
import { decodePng, pixelStats } from "./helpers/png";

const NOTEBOOK = path.join(REPO, "notebooks", "01-enwik8.ipynb");
const COPY_NAME = ".browser-test-01-enwik8.ipynb";
const COPY = path.join(REPO, "notebooks", COPY_NAME);
const CHECKPOINT = path.join(REPO, "notebooks", ".ipynb_checkpoints", ".browser-test-01-enwik8-checkpoint.ipynb");
const ARTIFACT = path.join(REPO, "test", "artifacts", "jupyterlab-01-enwik8.png");
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

test("JupyterLab runs 01-enwik8 (smoke) with tslab and renders its Plotly figure", { skip, timeout: RUN_TIMEOUT_MS + 180_000 }, async () => {
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

    // The first Plotly output (learning curves). jupyterlab-plotly draws only once its output is on screen, so
    // scroll to it and hover it; then a drawn line means plotly.js rendered the traces into SVG paths with geometry.
    const output = page.locator(".jp-RenderedPlotly").first();
    const line = page.locator(".js-plotly-plot .scatterlayer path.js-line"); // the output itself is the plot div
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let drawn = false;
    while (Date.now() < deadline && !drawn) {
      if (await output.count()) {
        // With a PNG in the bundle (showFigure adds one), jupyterlab-plotly shows the image and builds the
        // interactive graph on the first mouseenter over it.
        await output.scrollIntoViewIfNeeded().catch(() => undefined);
        const img = output.locator(".plot-img");
        if (await img.isVisible().catch(() => false)) await img.hover({ timeout: 5000 }).catch(() => undefined);
      }
      const ds = await line.evaluateAll((els) => els.map((e) => e.getAttribute("d") ?? ""));
      drawn = ds.some((d) => d.length > 20);
      if (!drawn) await page.waitForTimeout(2000);
    }
    if (!drawn) assert.fail(`no Plotly figure with drawn lines after ${RUN_TIMEOUT_MS / 1000} s; ${await pageState(page)}`);

    const fig = page.locator(".js-plotly-plot").first();
    await fig.scrollIntoViewIfNeeded();
    await page.waitForTimeout(1000); // let plotly finish its layout transition
    fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
    const png = await fig.screenshot({ path: ARTIFACT });
    const img = decodePng(png);
    const stats = pixelStats(img);
    assert.ok(img.width >= 300 && img.height >= 200, `figure screenshot is only ${img.width}×${img.height}`);
    assert.ok(png.length > 10_000, `figure screenshot is ${png.length} bytes: blank?`);
    assert.ok(stats.distinctColours >= 16, `figure screenshot has ${stats.distinctColours} distinct colours: blank?`);
    assert.ok(stats.nonBackground > 0.01, `only ${(stats.nonBackground * 100).toFixed(2)}% of the screenshot differs from its background`);
  } finally {
    await browser.close().catch(() => undefined);
    await shutdownKernels(lab);
    await stopLab(lab);
    fs.rmSync(COPY, { force: true });
    fs.rmSync(CHECKPOINT, { force: true });
    try {
      fs.rmdirSync(path.dirname(CHECKPOINT)); // only when empty
    } catch {
      /* other checkpoints remain */
    }
  }
});
