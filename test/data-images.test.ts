// Images as sequences: the official ImageNet64 npz format (a fixture written by real numpy, and one generated
// here), Fashion-MNIST IDX parsing, decodeImage, the PNG encoder, box downscaling and wallpaper patches.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { chwToHwc, decodeImage, downscaleBox, encodePNG } from "../lib/data/image";
import { encodeBytes } from "../lib/data/vocab";
import { parseIdx, parseNpyHeader, photoPatches, readFashionMnist, readImagenet64Dir } from "../lib/data/imagenet64";
import { checkSequenceLen, loadDataset } from "../lib/data/datasets";
import { PATHS } from "../lib/util/io";
import { writeZip } from "./helpers/data-fixtures";

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "tvq-img-"));
const FIXTURE = path.join(__dirname, "fixtures", "data", "imagenet64");
/** pixel of fixture image i (see test/fixtures/data/make-imagenet64-fixture.py) */
const px = (i: number, y: number, x: number, c: number): number => (7 * i + 50 * c + 3 * y + x) % 256;

function checkImage(tokens: Uint16Array, k: number, i: number): void {
  for (const [y, x] of [[0, 0], [5, 9], [63, 63], [31, 2]]) {
    for (let c = 0; c < 3; c++) assert.equal(tokens[k * 12288 + (y * 64 + x) * 3 + c], px(i, y, x, c) + 3, `image ${i} (${y},${x},${c})`);
  }
}

test("ImageNet64 npz written by numpy: CHW rows → HWC tokens +3, paper splits, limits", () => {
  const r = readImagenet64Dir(FIXTURE, { trainImages: 4 });
  assert.deepEqual(r.images, { train: 4, validation: 1, test: 2 });
  assert.equal(r.train.length, 4 * 12288);
  for (let k = 0; k < 4; k++) checkImage(r.train, k, k);
  checkImage(r.validation, 0, 4);
  checkImage(r.test, 0, 100);
  checkImage(r.test, 1, 101);
  const lim = readImagenet64Dir(FIXTURE, { trainImages: 4, limits: { train: 2, test: 1 } });
  assert.deepEqual(lim.images, { train: 2, validation: 1, test: 1 });
  const ds = loadDataset(`imagenet64:${FIXTURE}`, { imagenetTrainImages: 4 });
  assert.deepEqual(ds.imageShape, [64, 64, 3]);
  assert.equal(ds.kind, "image");
  assert.doesNotThrow(() => checkSequenceLen(ds, 12288));
  assert.throws(() => checkSequenceLen(ds, 4096), /set sequenceLen T = 12288/);
  assert.throws(() => loadDataset(`imagenet64:${FIXTURE}`, { tokenizer: "bpe" }), /image dataset/);
});

function npy(descr: string, shape: number[], data: Uint8Array): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  header += " ".repeat(63 - ((header.length + 10) % 64)) + "\n";
  const pre = Buffer.alloc(10);
  pre[0] = 0x93;
  pre.write("NUMPY", 1, "latin1");
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, "latin1"), data]);
}

test("ImageNet64 npz generated here (stored entries), header parsing and clear errors", () => {
  const dir = tmp();
  const rows = (first: number, n: number): Uint8Array => {
    const out = new Uint8Array(n * 12288);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) out[i * 12288 + c * 4096 + y * 64 + x] = px(first + i, y, x, c);
    return out;
  };
  fs.writeFileSync(path.join(dir, "train_data_batch_1.npz"), writeZip([{ name: "data.npy", data: npy("|u1", [3, 12288], rows(0, 3)), method: 0 }]));
  fs.writeFileSync(path.join(dir, "val_data.npz"), writeZip([{ name: "data.npy", data: npy("|u1", [1, 12288], rows(50, 1)), method: 8 }]));
  const r = readImagenet64Dir(dir, { trainImages: 2 });
  assert.deepEqual(r.images, { train: 2, validation: 1, test: 1 });
  checkImage(r.validation, 0, 2);
  checkImage(r.test, 0, 50);
  const h = parseNpyHeader(npy("<i8", [5], new Uint8Array(40)));
  assert.deepEqual([h.descr, h.shape, h.dataOffset % 64], ["<i8", [5], 0]);
  fs.writeFileSync(path.join(dir, "val_data.npz"), writeZip([{ name: "data.npy", data: npy("<f4", [1, 3072], new Uint8Array(12288)) }]));
  assert.throws(() => readImagenet64Dir(dir, { trainImages: 2 }), /expected a C-order uint8 \[N, 12288\]/);
  const empty = tmp();
  fs.writeFileSync(path.join(empty, "val_data"), "pickle");
  assert.throws(() => readImagenet64Dir(empty), /pickled batches.*image-net\.org/);
  assert.throws(() => readImagenet64Dir(path.join(empty, "nope")), /does not exist/);
});

test("Fashion-MNIST IDX: parse a tiny gz, truncation and missing files", () => {
  const idx = Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3]), Buffer.from(Array.from({ length: 18 }, (_, i) => i * 10))]);
  const p = parseIdx(zlib.gzipSync(idx));
  assert.deepEqual(p.dims, [2, 3, 3]);
  assert.equal(p.data[17], 170);
  assert.deepEqual(parseIdx(idx).data, p.data);
  assert.throws(() => parseIdx(idx.subarray(0, idx.length - 1), "x.idx"), /x\.idx: 17 data bytes for dims 2×3×3 \(needs 18\)/);
  assert.throws(() => parseIdx(Buffer.from([0, 0, 9, 1])), /not an IDX file of unsigned bytes/);
  assert.throws(() => readFashionMnist(tmp()), /Fashion-MNIST is not installed.*fetch-data\.sh/);
});

test("Fashion-MNIST from data/cache (when fetched): 55,000 / 5,000 / 10,000 images of 784 tokens", { skip: !fs.existsSync(path.join(PATHS.cache, "fashion-mnist", "t10k-images-idx3-ubyte")) }, () => {
  const ds = loadDataset("fashion-mnist");
  assert.deepEqual(ds.docCounts, { train: 55000, validation: 5000, test: 10000 });
  assert.equal(ds.splits.validation.length, 5000 * 784);
  let max = 0;
  for (const t of ds.splits.test) max = Math.max(max, t);
  assert.ok(max <= 258 && max > 200);
});

test("decodeImage inverts the +3 offset; specials → 0; errors on bad ids and short input", () => {
  const pixels = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 14);
  const tokens = encodeBytes(pixels);
  assert.deepEqual(decodeImage(tokens, 2, 3, 3), pixels);
  assert.deepEqual(decodeImage([0, 1, 2, 3, 258, 100], 1, 2, 3), Uint8Array.from([0, 0, 0, 0, 255, 97]));
  assert.throws(() => decodeImage([3, 3, 300, 3], 2, 2, 1), /token 300 at position 2/);
  assert.throws(() => decodeImage([3, 3], 2, 2, 1), /2 tokens cannot fill a 2×2×1 image/);
  assert.deepEqual(chwToHwc(Uint8Array.from([1, 2, 10, 20, 100, 200]), 1, 2, 3), Uint8Array.from([1, 10, 100, 2, 20, 200]));
});

test("encodePNG: signature, IHDR, CRCs, and IDAT re-inflates to filter-0 rows", () => {
  for (const ch of [1, 3, 4]) {
    const w = 3, h = 2;
    const pixels = Uint8Array.from({ length: w * h * ch }, (_, i) => (i * 37) % 256);
    const png = encodePNG(pixels, w, h, ch);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const chunks: { type: string; data: Buffer }[] = [];
    for (let o = 8; o < png.length; ) {
      const len = png.readUInt32BE(o);
      const type = png.toString("latin1", o + 4, o + 8);
      const data = png.subarray(o + 8, o + 8 + len);
      assert.equal(png.readUInt32BE(o + 8 + len), zlib.crc32(png.subarray(o + 4, o + 8 + len)) >>> 0, `${type} CRC`);
      chunks.push({ type, data });
      o += 12 + len;
    }
    assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
    const ihdr = chunks[0].data;
    assert.deepEqual([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]], [w, h, 8, { 1: 0, 3: 2, 4: 6 }[ch], 0, 0, 0]);
    const raw = zlib.inflateSync(chunks[1].data);
    assert.equal(raw.length, h * (1 + w * ch));
    for (let y = 0; y < h; y++) {
      assert.equal(raw[y * (1 + w * ch)], 0);
      assert.deepEqual(raw.subarray(y * (1 + w * ch) + 1, (y + 1) * (1 + w * ch)), Buffer.from(pixels.subarray(y * w * ch, (y + 1) * w * ch)));
    }
  }
  assert.throws(() => encodePNG(new Uint8Array(5), 2, 2, 1), /5 values do not make a 2×2×1 image/);
});

test("box downscale and wallpaper-style patches", () => {
  const d = downscaleBox(Uint8Array.from([0, 10, 20, 30, 1, 2, 3, 4]), 2, 2, 2, 2);
  assert.deepEqual([d.h, d.w, ...d.pixels], [1, 1, 6, 12]);
  const w = 512, h = 256;
  const img = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.set([x % 256, y, (x + y) % 256], (y * w + x) * 3);
  const patches = photoPatches(img, h, w, 32);
  assert.equal(patches.length, 4 * 2 + 2 * 1); // factor 4: 128×64 → 4×2; factor 8: 64×32 → 2×1; factor 16: none
  const first = downscaleBox(img, h, w, 3, 4);
  assert.deepEqual(patches[0].subarray(0, 96), first.pixels.subarray(0, 96));
  assert.deepEqual(patches[1].subarray(0, 3), first.pixels.subarray(32 * 3, 33 * 3));
});
