/**
 * Samples in a notebook: text as a preformatted block, images as one PNG with its caption (lib/data/image.ts
 * imageGridPNG builds the grid; samplesAndRealPNG puts samples above real images). Outside a tslab kernel both
 * print a text line instead.
 */
import * as path from "node:path";
import { PATHS, atomicWrite, checkFileName, ensureDir } from "../util/io";
import { displayBundle, displayHtml, escapeHtml } from "../util/display";
import { profiledName } from "./profiles";
import { exportLine } from "./render";
import { ImageShape, imageGridPNG } from "../data/image";

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

/** Width and height of a PNG from its IHDR chunk. */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.length < 24 || png.readUInt32BE(0) !== 0x89504e47 || png.toString("ascii", 12, 16) !== "IHDR") {
    throw new Error(`showPNG: the ${png.length} bytes given are not a PNG (no PNG signature and IHDR); pass imageGridPNG's result`);
  }
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/**
 * Shows a PNG in a notebook as ONE output with its caption (HTML for JupyterLab and static HTML, the image with its
 * size for other viewers, text) and, with `name`, writes figures/<name>[-<profile>].png (the profile suffix as
 * showAndExport's, so a smoke run never overwrites the recorded images) and prints one line naming the file.
 * @param png PNG bytes (imageGridPNG)
 * @param opts.name file stem without the profile; profile: the notebook's profile parameter; title: a caption; dir: default figures/
 */
export function showPNG(png: Buffer, opts: { name?: string; profile?: string; title?: string; dir?: string } = {}): void {
  const stem = opts.name === undefined ? undefined : profiledName(opts.name, opts.profile ?? "default");
  const { width, height } = pngSize(png);
  const text = `<PNG image${stem ? ` '${stem}'` : ""}, ${width}×${height}, ${png.length} bytes>`;
  const b64 = png.toString("base64");
  const html = `<div>${opts.title ? caption(opts.title) : ""}<img src="data:image/png;base64,${b64}" width="${width}" height="${height}" ` +
    `style="max-width:100%;height:auto;image-rendering:pixelated" alt="${escapeHtml(opts.title ?? text)}"></div>`;
  const shown = displayBundle({ "text/html": html, "image/png": b64, "text/plain": (opts.title ? opts.title + "\n" : "") + text },
    { metadata: { "image/png": { width, height } } });
  if (!shown) console.log((opts.title ? opts.title + "\n" : "") + text);
  if (stem === undefined) return;
  checkFileName("showPNG: name", stem, "it becomes a file name");
  const dir = ensureDir(opts.dir ?? PATHS.figures);
  atomicWrite(path.join(dir, `${stem}.png`), png);
  console.log(exportLine(stem, dir, ["png"]));
}

/**
 * Sampled images above real ones, cropped to the first `rows` pixel rows (the rows a short sample covers), for
 * scale: an untrained model's samples are noise, and a real image's first rows are often plain background.
 * @param samples decoded samples [n][h·w·c]; real: real images of the same shape (the first n are used)
 * @param shape [h, w, c]; opts.rows: rows to show (default h); cols: images per grid row (default ≤ 8); scale: zoom
 *   (default 4, or 8 for ≤ 8 rows)
 */
export function samplesAndRealPNG(samples: Uint8Array[], real: Uint8Array[], shape: ImageShape, opts: { rows?: number; cols?: number; scale?: number } = {}): Buffer {
  const [h, w, c] = shape;
  const rows = opts.rows ?? h;
  if (!(rows >= 1 && rows <= h && Number.isInteger(rows))) throw new Error(`samplesAndRealPNG: rows = ${rows}; give a whole number from 1 to the image height ${h}`);
  if (real.length < samples.length) throw new Error(`samplesAndRealPNG: ${samples.length} samples but only ${real.length} real images; give at least as many real ones`);
  const cols = opts.cols ?? Math.min(8, samples.length);
  const crop = (im: Uint8Array) => im.subarray(0, rows * w * c);
  // pad each group to whole grid rows, so that samples and real images never share a row
  const padded = (ims: Uint8Array[]) => [...ims.map(crop), ...Array.from({ length: (cols - (ims.length % cols)) % cols }, () => new Uint8Array(rows * w * c))];
  return imageGridPNG([...padded(samples), ...padded(real.slice(0, samples.length))], [rows, w, c], { cols, scale: opts.scale ?? (rows <= 8 ? 8 : 4) });
}
