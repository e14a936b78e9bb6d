/**
 * ImageNet64 and its offline stand-ins, as image token streams (image.ts: raster order, channels interleaved,
 * +3 offset, one image = one sequence of T = h·w·c tokens).
 *
 * Real ImageNet64 (Chrabaszcz et al., 2017; the data behind TFDS imagenet_resized/64x64 that the paper used):
 * the official download is `Imagenet64_train_part1_npz.zip`, `…_part2_npz.zip` and `Imagenet64_val_npz.zip`
 * (image-net.org, login required). Unzipped they give `train_data_batch_1.npz … train_data_batch_10.npz` and
 * `val_data.npz`: numpy archives whose `data` array is [N, 12288] uint8, each row planar CHW (4096 R, then G,
 * then B values), and `labels` [N] (1-based, unused here). Paper splits (§6): train = the first 1,200,000
 * images of the official train set, validation = the rest of it, test = the official validation set.
 *
 * Offline stand-ins: Fashion-MNIST (Debian dataset-fashion-mnist; IDX files; 28×28×1 = 784 tokens; train =
 * the first 55,000 training images, validation = the last 5,000, test = the 10,000 t10k images, mirroring the
 * paper's train/validation carve-out) and colour patches cut from the photographs among the KDE Plasma
 * wallpapers (Debian plasma-workspace-wallpapers; JPEG decoded with jpeg-js, box-downscaled by 4, 8 and 16,
 * tiled into non-overlapping 32×32×3 = 3,072-token patches; whole photos per split).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as jpeg from "jpeg-js";
import { PATHS, atomicWrite, atomicWriteJSON, readJSON } from "../util/io";
import type { Splits } from "./datasets";
import { ImageShape, chwToHwc, downscaleBox } from "./image";
import { encodeBytes } from "./vocab";
import { ZipFile } from "./zip";
import { FETCH_FIX } from "./enwik8";
import { checkStamp, readStamped, writeStamp } from "./stamp";

export const IMAGENET64_SHAPE: ImageShape = [64, 64, 3];
/** images of the official train set that form the paper's train split; the rest is validation */
export const IMAGENET64_TRAIN_IMAGES = 1_200_000;

// ----------------------------------------------------------------------------------------------- numpy .npy/.npz

/** Parsed .npy header: the array is `shape` of `descr` (e.g. "|u1") starting at byte `dataOffset`. */
export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  dataOffset: number;
}

/** Parses the header of a .npy file (format versions 1–3) from its first bytes. */
export function parseNpyHeader(buf: Uint8Array, what = "npy data"): NpyHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (b.length < 10 || b[0] !== 0x93 || b.toString("latin1", 1, 6) !== "NUMPY") throw new Error(`${what} is not a .npy array (bad magic)`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (b.length < start + hlen) throw new Error(`${what}: .npy header is cut short (${b.length} < ${start + hlen} bytes)`);
  const h = b.toString("latin1", start, start + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(h);
  const fortran = /'fortran_order':\s*(True|False)/.exec(h);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(h);
  if (!descr || !fortran || !shape) throw new Error(`${what}: cannot parse the .npy header ${JSON.stringify(h)}`);
  return {
    descr: descr[1],
    fortranOrder: fortran[1] === "True",
    shape: shape[1].split(",").map((s) => s.trim()).filter((s) => s.length > 0).map(Number),
    dataOffset: start + hlen,
  };
}

/** One ImageNet64 batch file (.npz): the header of its `data` array and a reader of row ranges. */
export class NpzImageBatch {
  readonly rows: number;
  readonly rowBytes: number;
  private readonly zip: ZipFile;
  private readonly header: NpyHeader;

  constructor(readonly file: string) {
    this.zip = new ZipFile(file, "the batch file is truncated or corrupt: unzip the official ImageNet64 archive again");
    const e = this.zip.entry("data.npy");
    this.header = parseNpyHeader(this.zip.readEntryPrefix(e, 4096), `${file}:data.npy`);
    const { descr, fortranOrder, shape } = this.header;
    if (!(descr === "|u1" || descr === "<u1" || descr === "u1") || fortranOrder || shape.length !== 2) {
      throw new Error(`${file}: data.npy is ${descr} ${JSON.stringify(shape)}${fortranOrder ? " (Fortran order)" : ""}; expected a C-order uint8 [N, 12288] array as in the official ImageNet64 npz files`);
    }
    [this.rows, this.rowBytes] = shape;
    if (e.size < this.header.dataOffset + this.rows * this.rowBytes) throw new Error(`${file}: data.npy is truncated (${e.size} bytes for ${this.rows} rows)`);
  }

  /** Rows [a, b) as raw planar bytes [(b − a) * rowBytes]. */
  readRows(a: number, b: number): Uint8Array {
    const e = this.zip.entry("data.npy");
    const buf = this.zip.readEntryPrefix(e, this.header.dataOffset + b * this.rowBytes);
    return new Uint8Array(buf.subarray(this.header.dataOffset + a * this.rowBytes));
  }

  close(): void {
    this.zip.close();
  }
}

/** Natural order of file names. */
const natural = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true });

/** Finds `name`-matching files in dir and its immediate subfolders. */
function findFiles(dir: string, re: RegExp): string[] {
  const out: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isDirectory()) {
      for (const g of fs.readdirSync(p)) if (re.test(g)) out.push(path.join(p, g));
    } else if (re.test(f)) out.push(p);
  }
  return out.sort((a, b) => natural(path.basename(a), path.basename(b)));
}

export const IMAGENET64_FIX =
  "download Imagenet64_train_part1_npz.zip, Imagenet64_train_part2_npz.zip and Imagenet64_val_npz.zip from https://image-net.org/download-images (login required), unzip them into one folder and pass it as `--data imagenet64:<folder>`";

/** Images per split kept in memory (real ImageNet64 is 15.7 G tokens; a CPU run uses a prefix). */
export interface ImageLimits {
  train?: number;
  validation?: number;
  test?: number;
}
export const IMAGENET64_DEFAULT_LIMITS: Required<ImageLimits> = { train: 10_000, validation: 1_000, test: 1_000 };

/** What an image reader returns: one token stream per split (h·w·c tokens per image) and its image count. */
export type ImageSplits = Splits<Uint16Array> & { images: Splits<number> };

/**
 * Reads real ImageNet64 from a folder of the official npz batches, returning token streams (each image 12,288
 * tokens, HWC, +3). Splits as in the paper; `trainImages` (default 1,200,000) is where validation starts
 * (smaller for fixtures); `limits` caps the images read per split (default IMAGENET64_DEFAULT_LIMITS).
 */
export function readImagenet64Dir(
  dir: string,
  opts: { limits?: ImageLimits; trainImages?: number; shape?: ImageShape } = {},
): ImageSplits {
  if (!fs.existsSync(dir)) throw new Error(`ImageNet64 folder ${dir} does not exist: ${IMAGENET64_FIX}`);
  const [h, w, c] = opts.shape ?? IMAGENET64_SHAPE;
  const limits = { ...IMAGENET64_DEFAULT_LIMITS, ...opts.limits };
  const trainImages = opts.trainImages ?? IMAGENET64_TRAIN_IMAGES;
  const trainFiles = findFiles(dir, /^train_data_batch_\d+\.npz$/);
  const valFiles = findFiles(dir, /^val_data\.npz$/);
  if (trainFiles.length === 0 || valFiles.length === 0) {
    const pickled = findFiles(dir, /^(train_data_batch_\d+|val_data)$/);
    const hint = pickled.length > 0 ? ` (found pickled batches such as ${pickled[0]}: this loader reads the npz variant)` : "";
    throw new Error(`ImageNet64 folder ${dir} lacks train_data_batch_*.npz or val_data.npz${hint}: ${IMAGENET64_FIX}`);
  }
  /** images [a, b) of the concatenation of `files` → HWC tokens */
  const take = (files: string[], a: number, b: number): { tokens: Uint16Array; n: number } => {
    const parts: Uint8Array[] = [];
    let base = 0, n = 0;
    for (const f of files) {
      if (base >= b) break;
      const batch = new NpzImageBatch(f);
      try {
        if (batch.rowBytes !== h * w * c) throw new Error(`${f}: rows have ${batch.rowBytes} values, expected ${h}×${w}×${c} = ${h * w * c}`);
        const lo = Math.max(a, base) - base, hi = Math.min(b, base + batch.rows) - base;
        if (hi > lo) {
          const planar = batch.readRows(lo, hi);
          for (let r = 0; r < hi - lo; r++) parts.push(chwToHwc(planar.subarray(r * batch.rowBytes, (r + 1) * batch.rowBytes), h, w, c));
          n += hi - lo;
        }
        base += batch.rows;
      } finally {
        batch.close();
      }
    }
    const tokens = new Uint16Array(n * h * w * c);
    parts.forEach((p, i) => tokens.set(encodeBytes(p), i * h * w * c));
    return { tokens, n };
  };
  const tr = take(trainFiles, 0, Math.min(trainImages, limits.train));
  const va = take(trainFiles, trainImages, trainImages + limits.validation);
  const te = take(valFiles, 0, limits.test);
  if (tr.n === 0 || va.n === 0 || te.n === 0) {
    throw new Error(`ImageNet64 folder ${dir} gave ${tr.n}/${va.n}/${te.n} train/validation/test images: some batch files are missing; ${IMAGENET64_FIX}`);
  }
  return { train: tr.tokens, validation: va.tokens, test: te.tokens, images: { train: tr.n, validation: va.n, test: te.n } };
}

// ------------------------------------------------------------------------------------------------ Fashion-MNIST

/** Parses an IDX file (optionally gzipped) of unsigned bytes: dims and data [∏ dims]. */
export function parseIdx(buf: Uint8Array, what = "IDX data"): { dims: number[]; data: Uint8Array } {
  let b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = zlib.gunzipSync(b);
    } catch (e) {
      throw new Error(`${what}: corrupt gzip (${(e as Error).message})`);
    }
  }
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 0x08) throw new Error(`${what} is not an IDX file of unsigned bytes (magic ${b.subarray(0, 4).toString("hex")})`);
  const nd = b[3];
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(b.readUInt32BE(4 + 4 * i));
  const off = 4 + 4 * nd;
  const n = dims.reduce((a, d) => a * d, 1);
  if (b.length !== off + n) throw new Error(`${what}: ${b.length - off} data bytes for dims ${dims.join("×")} (needs ${n}): the file is truncated or corrupt`);
  return { dims, data: new Uint8Array(b.buffer, b.byteOffset + off, n) };
}

export const FASHION_MNIST_SHAPE: ImageShape = [28, 28, 1];

/** Reads one Fashion-MNIST image file: the decompressed copy in data/cache/fashion-mnist, else the package's .gz. */
function readFashionFile(base: string, cacheDir: string): { dims: number[]; data: Uint8Array } {
  const plain = path.join(cacheDir, "fashion-mnist", base);
  const gz = path.join(cacheDir, "debs", "dataset-fashion-mnist", "usr", "share", "datasets", "fashion-mnist", `${base}.gz`);
  const file = fs.existsSync(plain) ? plain : fs.existsSync(gz) ? gz : undefined;
  if (!file) throw new Error(`Fashion-MNIST is not installed (${plain} is missing): ${FETCH_FIX} (Debian package dataset-fashion-mnist)`);
  const data = fs.readFileSync(file);
  // the decompressed copy is the kit's (fetch-data.sh); the package's .gz is checked by its gzip CRC
  if (file === plain) checkStamp(file, data, "rebuild it with `bash scripts/fetch-data.sh` (or delete it: the loader then reads the package's .gz)");
  try {
    return parseIdx(new Uint8Array(data), file);
  } catch (e) {
    throw new Error(`${(e as Error).message}; delete it and ${FETCH_FIX}`);
  }
}

/** Fashion-MNIST as token streams of 784-token images: train 55,000 / validation 5,000 / test 10,000. */
export function readFashionMnist(cacheDir = PATHS.cache): ImageSplits {
  const tr = readFashionFile("train-images-idx3-ubyte", cacheDir);
  const te = readFashionFile("t10k-images-idx3-ubyte", cacheDir);
  for (const [x, n] of [[tr, 60000], [te, 10000]] as const) {
    if (x.dims.length !== 3 || x.dims[0] !== n || x.dims[1] !== 28 || x.dims[2] !== 28) throw new Error(`Fashion-MNIST images have dims ${x.dims.join("×")}, expected ${n}×28×28; ${FETCH_FIX}`);
  }
  const px = 784, nTrain = 55000;
  return {
    train: encodeBytes(tr.data.subarray(0, nTrain * px)),
    validation: encodeBytes(tr.data.subarray(nTrain * px)),
    test: encodeBytes(te.data),
    images: { train: nTrain, validation: 60000 - nTrain, test: 10000 },
  };
}

// ------------------------------------------------------------------------------------------ wallpaper patches

/** The photographs among the plasma-workspace-wallpapers (the others are drawings). Sorted by name. */
export const WALLPAPER_PHOTOS = [
  "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
];
/** whole photos held out (the last two in name order); the other nine are train */
export const WALLPAPER_HELDOUT = { validation: ["Path"], test: ["summer_1am"] };
const WALLPAPER_CACHE_VERSION = 1;

function wallpaperFile(cacheDir: string, name: string): string {
  return path.join(cacheDir, "debs", "plasma-workspace-wallpapers", "usr", "share", "wallpapers", name, "contents", "images", "2560x1600.jpg");
}

/** Cuts one photo [h*w*3] into p×p×3 patches at box-downscale factors 128/p, 256/p, 512/p (raster grid). */
export function photoPatches(pixels: Uint8Array, h: number, w: number, p: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of [128 / p, 256 / p, 512 / p]) {
    if (!Number.isInteger(f)) throw new Error(`patch size ${p} must divide 128 (e.g. 32 or 64)`);
    const small = downscaleBox(pixels, h, w, 3, f);
    for (let y = 0; y + p <= small.h; y += p) {
      for (let x = 0; x + p <= small.w; x += p) {
        const patch = new Uint8Array(p * p * 3);
        for (let r = 0; r < p; r++) patch.set(small.pixels.subarray(((y + r) * small.w + x) * 3, ((y + r) * small.w + x + p) * 3), r * p * 3);
        out.push(patch);
      }
    }
  }
  return out;
}

/**
 * Colour patches (p×p×3, default 32) from the wallpaper photos, whole photos per split. Decoding the JPEGs takes
 * ~20 s once; the patches are cached in data/cache/wallpaper-patches-<p>.u8 (+ .json listing patches per photo).
 */
export function readWallpaperPatches(p = 32, cacheDir = PATHS.cache): ImageSplits {
  const bin = path.join(cacheDir, `wallpaper-patches-${p}.u8`);
  const meta = path.join(cacheDir, `wallpaper-patches-${p}.json`);
  type Meta = { version: number; patch: number; photos: { name: string; patches: number }[] };
  let m: Meta | undefined;
  if (fs.existsSync(meta) && fs.existsSync(bin)) {
    m = readJSON<Meta>(meta);
    const total = m.photos.reduce((s, x) => s + x.patches, 0);
    if (m.version !== WALLPAPER_CACHE_VERSION || m.patch !== p || fs.statSync(bin).size !== total * p * p * 3) m = undefined;
  }
  if (!m) {
    const parts: Uint8Array[] = [];
    const photos: Meta["photos"] = [];
    for (const name of WALLPAPER_PHOTOS) {
      const f = wallpaperFile(cacheDir, name);
      if (!fs.existsSync(f)) throw new Error(`wallpaper photo ${f} is missing: ${FETCH_FIX} (Debian package plasma-workspace-wallpapers, 94 MB)`);
      let img: { width: number; height: number; data: Uint8Array };
      try {
        img = jpeg.decode(fs.readFileSync(f), { useTArray: true, formatAsRGBA: false });
      } catch (e) {
        throw new Error(`cannot decode ${f} (${(e as Error).message}): delete data/cache/debs/plasma-workspace-wallpapers and ${FETCH_FIX}`);
      }
      if (img.data.length !== img.width * img.height * 3) throw new Error(`${f} did not decode to RGB (${img.data.length} values for ${img.width}×${img.height})`);
      const ps = photoPatches(img.data, img.height, img.width, p);
      parts.push(...ps);
      photos.push({ name, patches: ps.length });
    }
    const all = new Uint8Array(parts.length * p * p * 3);
    parts.forEach((x, i) => all.set(x, i * p * p * 3));
    atomicWrite(bin, all);
    writeStamp(bin, all);
    m = { version: WALLPAPER_CACHE_VERSION, patch: p, photos };
    atomicWriteJSON(meta, m);
  }
  const data = new Uint8Array(readStamped(bin, `delete it and ${meta}: the next run cuts the patches again from the photos (about 20 s)`));
  const size = p * p * 3;
  const pick = (names: (n: string) => boolean): { tokens: Uint16Array; n: number } => {
    const chunks: Uint8Array[] = [];
    let off = 0;
    for (const ph of m!.photos) {
      if (names(ph.name)) chunks.push(data.subarray(off * size, (off + ph.patches) * size));
      off += ph.patches;
    }
    const len = chunks.reduce((s, c) => s + c.length, 0);
    const tokens = new Uint16Array(len);
    let o = 0;
    for (const c of chunks) { tokens.set(encodeBytes(c), o); o += c.length; }
    return { tokens, n: len / size };
  };
  const held = new Set([...WALLPAPER_HELDOUT.validation, ...WALLPAPER_HELDOUT.test]);
  const tr = pick((n) => !held.has(n)), va = pick((n) => WALLPAPER_HELDOUT.validation.includes(n)), te = pick((n) => WALLPAPER_HELDOUT.test.includes(n));
  return { train: tr.tokens, validation: va.tokens, test: te.tokens, images: { train: tr.n, validation: va.n, test: te.n } };
}
