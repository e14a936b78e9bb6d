/**
 * Samples in a notebook: text as a preformatted block, images as one PNG (lib/data/image.ts imageGridPNG builds
 * the grid). Outside a tslab kernel both print a text line instead.
 */
import * as path from "node:path";
import { PATHS, atomicWrite, checkFileName, ensureDir } from "../util/io";
import { displayBundle, displayHtml, escapeHtml } from "../util/display";
import { profiledName } from "./profiles";
import { exportLine } from "./render";

function caption(title: string): string {
  return `<div style="font-weight:600;margin:6px 0 2px">${escapeHtml(title)}</div>`;
}

/**
 * Shows text in a notebook as a preformatted block (printed outside a kernel).
 * @param text e.g. a decoded sample; title: a caption line
 */
export function showText(text: string, title?: string): void {
  displayHtml(`<div>${title ? caption(title) : ""}<pre style="white-space:pre-wrap;font-size:12px;max-width:900px;border-left:3px solid #0072B2;padding-left:8px">${escapeHtml(text)}</pre></div>`,
    (title ? title + "\n" : "") + text);
}

/**
 * Shows a PNG in a notebook and, with `name`, writes figures/<name>[-<profile>].png (the profile suffix as
 * showAndExport's, so a smoke run never overwrites the recorded images) and prints one line naming the file.
 * @param png PNG bytes (imageGridPNG)
 * @param opts.name file stem without the profile; profile: the notebook's profile parameter; title: a caption; dir: default figures/
 */
export function showPNG(png: Buffer, opts: { name?: string; profile?: string; title?: string; dir?: string } = {}): void {
  const stem = opts.name === undefined ? undefined : profiledName(opts.name, opts.profile ?? "default");
  const text = `<PNG image${stem ? ` '${stem}'` : ""}, ${png.length} bytes>`;
  if (opts.title) displayHtml(caption(opts.title), opts.title);
  if (!displayBundle({ "image/png": png.toString("base64"), "text/plain": text })) console.log(text);
  if (stem === undefined) return;
  checkFileName("showPNG: name", stem, "it becomes a file name");
  const dir = ensureDir(opts.dir ?? PATHS.figures);
  atomicWrite(path.join(dir, `${stem}.png`), png);
  console.log(exportLine(stem, dir, ["png"]));
}
