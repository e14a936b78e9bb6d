/**
 * Images as token sequences (paper §6, ImageNet64): an h×w×c uint8 image is flattened in raster order with
 * channels interleaved (R,G,B per pixel), each value a byte token (+3, vocab.ts `encodeBytes`, V = 259), no EOS,
 * and one image is one sequence of T = h·w·c tokens. `decodeImage` inverts this for samples, and `encodePNG`
 * (zlib deflate + CRC-32, no dependencies) writes them as PNG files to show in the notebooks.
 */
import * as zlib from "node:zlib";
import { BYTE_OFFSET, BYTE_VOCAB_SIZE, checkTokenRange } from "./vocab";

/** Height, width, channels. */
export type ImageShape = [h: number, w: number, c: number];

/**
 * Tokens [≥ h*w*c] (raster order, channels interleaved) → pixels [h*w*c]. Special ids (PAD/EOS/UNK) become 0;
 * ids ≥ 259 throw. Only the first h*w*c tokens are used; fewer is an error.
 */
export function decodeImage(tokens: ArrayLike<number>, h: number, w: number, c: number): Uint8Array {
  const n = h * w * c;
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`decodeImage: bad shape ${h}×${w}×${c}`);
  if (tokens.length < n) throw new Error(`decodeImage: ${tokens.length} tokens cannot fill a ${h}×${w}×${c} image (needs ${n})`);
  const t = Array.prototype.slice.call(tokens, 0, n) as number[];
  checkTokenRange(t, BYTE_VOCAB_SIZE, "image tokens");
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = t[i] >= BYTE_OFFSET ? t[i] - BYTE_OFFSET : 0;
  return out;
}

/** Planar CHW pixels [c*h*w] (as in the official ImageNet64 batches) → interleaved HWC [h*w*c]. */
export function chwToHwc(planar: Uint8Array, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(h * w * c);
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < plane; p++) out[p * c + ch] = planar[ch * plane + p];
  return out;
}

/** Box-filter downscale by an integer factor f: [h*w*c] → [⌊h/f⌋*⌊w/f⌋*c] (means rounded to nearest). */
export function downscaleBox(pixels: Uint8Array, h: number, w: number, c: number, f: number): { pixels: Uint8Array; h: number; w: number } {
  const H = Math.floor(h / f), W = Math.floor(w / f);
  const out = new Uint8Array(H * W * c);
  const acc = new Float64Array(W * c);
  for (let Y = 0; Y < H; Y++) {
    acc.fill(0);
    for (let y = Y * f; y < (Y + 1) * f; y++) {
      const row = y * w * c;
      for (let x = 0; x < W * f; x++) {
        const a = Math.floor(x / f) * c, p = row + x * c;
        for (let ch = 0; ch < c; ch++) acc[a + ch] += pixels[p + ch];
      }
    }
    for (let i = 0; i < W * c; i++) out[Y * W * c + i] = Math.round(acc[i] / (f * f));
  }
  return { pixels: out, h: H, w: W };
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/**
 * PNG file bytes for 8-bit pixels [h*w*channels] in raster order; channels 1 (gray), 2 (gray+alpha), 3 (RGB)
 * or 4 (RGBA). Filter 0 on every row, zlib-deflated IDAT.
 */
export function encodePNG(pixels: Uint8Array, w: number, h: number, channels: number): Buffer {
  const colorType = ({ 1: 0, 2: 4, 3: 2, 4: 6 } as Record<number, number>)[channels];
  if (colorType === undefined) throw new Error(`encodePNG: channels must be 1, 2, 3 or 4, got ${channels}`);
  if (pixels.length !== w * h * channels) throw new Error(`encodePNG: ${pixels.length} values do not make a ${w}×${h}×${channels} image (needs ${w * h * channels})`);
  const stride = w * channels;
  const raw = Buffer.alloc((stride + 1) * h);
  for (let y = 0; y < h; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colorType;
  // compression 0, filter 0, interlace 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", zlib.deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/**
 * Lays out n images of one shape [n][h*w*c] in a grid with `cols` columns and a 1-pixel gap (value 255):
 * → pixels [H*W*c]. For showing samples side by side.
 */
export function imageGrid(images: Uint8Array[], h: number, w: number, c: number, cols = Math.ceil(Math.sqrt(images.length))): { pixels: Uint8Array; h: number; w: number } {
  const rows = Math.ceil(images.length / cols);
  const H = rows * (h + 1) - 1, W = cols * (w + 1) - 1;
  const out = new Uint8Array(H * W * c).fill(255);
  images.forEach((img, k) => {
    const oy = Math.floor(k / cols) * (h + 1), ox = (k % cols) * (w + 1);
    for (let y = 0; y < h; y++) out.set(img.subarray(y * w * c, (y + 1) * w * c), ((oy + y) * W + ox) * c);
  });
  return { pixels: out, h: H, w: W };
}

/** Nearest-neighbour upscale by an integer factor f: pixels [h·w·c] → [(f·h)·(f·w)·c], so small images stay visible. */
export function upscaleNearest(pixels: Uint8Array, h: number, w: number, c: number, f: number): { pixels: Uint8Array; h: number; w: number } {
  const H = h * f, W = w * f;
  const out = new Uint8Array(H * W * c);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = ((Math.floor(y / f) * w) + Math.floor(x / f)) * c, d = (y * W + x) * c;
      for (let ch = 0; ch < c; ch++) out[d + ch] = pixels[s + ch];
    }
  }
  return { pixels: out, h: H, w: W };
}

/**
 * The one image-grid PNG (samples, real images): imageGrid, upscaled by `scale` (nearest neighbour), encodePNG.
 * @param images [n][h·w·c] pixels; shape [h, w, c]; cols: grid columns; scale: integer zoom (default 4)
 */
export function imageGridPNG(images: Uint8Array[], shape: ImageShape, opts: { cols?: number; scale?: number } = {}): Buffer {
  const [h, w, c] = shape;
  const grid = imageGrid(images, h, w, c, opts.cols);
  const big = upscaleNearest(grid.pixels, grid.h, grid.w, c, opts.scale ?? 4);
  return encodePNG(big.pixels, big.w, big.h, c);
}
