// Data caches checked by content (issue 11): a same-size corrupt copy in data/cache is refused with both hashes
// and the command that rebuilds it; a cache made before stamps existed gets one on its first read; and
// scripts/fetch-data.sh's stamps (sha256 + size, no mtime) are understood. Fixtures only: no real data needed.
import { mock, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import nodeFs from "node:fs"; // the module object itself: mocking it reaches lib/
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { readDebCorpus, readEnwik8 } from "../lib/data/enwik8";
import { loadDataset } from "../lib/data/datasets";
import { WALLPAPER_PHOTOS, readFashionMnist, readWallpaperPatches } from "../lib/data/imagenet64";
import { stampFile } from "../lib/data/stamp";

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-stamp-"));
}

const sha = (b: Uint8Array): string => crypto.createHash("sha256").update(b).digest("hex");

/** The same bytes with one flipped, written as a new file (new mtime), so only the content tells them apart. */
function corruptSameSize(file: string): void {
  const b = fs.readFileSync(file);
  b[b.length >> 1] ^= 0x20;
  const later = new Date(fs.statSync(file).mtimeMs + 5000);
  fs.writeFileSync(file, b);
  fs.utimesSync(file, later, later);
}

const text = Buffer.from("a computing dictionary entry: the quick brown fox jumps over the lazy dog. ".repeat(30));

function foldocCache(): { cache: string; file: string } {
  const cache = tmp();
  const payload = path.join(cache, "debs", "dict-foldoc", "usr", "share", "dictd", "foldoc.dict.dz");
  fs.mkdirSync(path.dirname(payload), { recursive: true });
  fs.writeFileSync(payload, zlib.gzipSync(text));
  return { cache, file: path.join(cache, "foldoc.bytes") };
}

test("foldoc: the extracted copy is stamped; a same-size corrupt copy is refused naming the file, both hashes and the fix", () => {
  const { cache, file } = foldocCache();
  readDebCorpus("foldoc", cache);
  const stamp = JSON.parse(fs.readFileSync(stampFile(file), "utf8"));
  assert.equal(stamp.sha256, sha(text));
  assert.equal(stamp.bytes, text.length);
  assert.equal(loadDataset("foldoc", { cacheDir: cache }).splits.train[0], text[0] + 3, "a stamped copy loads as before");
  corruptSameSize(file);
  const bad = sha(fs.readFileSync(file));
  assert.throws(() => loadDataset("foldoc", { cacheDir: cache }), (e: Error) => {
    assert.match(e.message, new RegExp(`${file.replace(/[.]/g, "\\.")} is corrupt: its SHA-256 is ${bad}`));
    assert.match(e.message, new RegExp(`recorded ${sha(text)}`));
    assert.match(e.message, /bash scripts\/fetch-data\.sh.*delete it: the next run re-extracts it/);
    return true;
  });
  fs.rmSync(file); // the fix the message gives: re-extracted from the payload and stamped again
  assert.deepEqual(Buffer.from(readDebCorpus("foldoc", cache).bytes), text);
});

test("a cache without a stamp (made before stamps) gets one on its first read; fetch-data.sh's stamp without mtime is accepted and completed", () => {
  const { cache, file } = foldocCache();
  fs.writeFileSync(file, text); // as an older kit or fetch-data.sh left it
  assert.ok(!fs.existsSync(stampFile(file)));
  readDebCorpus("foldoc", cache);
  assert.equal(JSON.parse(fs.readFileSync(stampFile(file), "utf8")).sha256, sha(text));

  fs.writeFileSync(stampFile(file), JSON.stringify({ sha256: sha(text), bytes: text.length }) + "\n");
  readDebCorpus("foldoc", cache);
  assert.equal(typeof JSON.parse(fs.readFileSync(stampFile(file), "utf8")).mtimeMs, "number");
  fs.writeFileSync(stampFile(file), JSON.stringify({ sha256: "0".repeat(64), bytes: text.length }) + "\n");
  assert.throws(() => readDebCorpus("foldoc", cache), /is corrupt: its SHA-256 is [0-9a-f]{64} .* recorded 0{64}/);
});

test("a read-only data/cache still reads (the stamp cannot be written: a warning, checked by size only)", () => {
  const { cache, file } = foldocCache();
  fs.writeFileSync(file, text);
  const real = nodeFs.openSync;
  const m = mock.method(nodeFs, "openSync", (f: fs.PathLike, ...rest: unknown[]) => {
    if (String(f).endsWith(".tmp")) throw Object.assign(new Error(`EROFS: read-only file system, open '${f}'`), { code: "EROFS" });
    return (real as (...a: unknown[]) => number)(f, ...rest);
  });
  const warn = mock.method(console, "warn", () => undefined);
  try {
    assert.deepEqual(Buffer.from(readDebCorpus("foldoc", cache).bytes), text);
    assert.match(String(warn.mock.calls[0]?.arguments[0]), /cannot record the SHA-256 of .*foldoc\.bytes .*EROFS.*checked by size only/);
  } finally {
    m.mock.restore();
    warn.mock.restore();
  }
  assert.ok(!fs.existsSync(stampFile(file)));
});

test("Fashion-MNIST and enwik8: a same-size corrupt copy is refused with the rebuild command", () => {
  const cache = tmp();
  const dir = path.join(cache, "fashion-mnist");
  fs.mkdirSync(dir, { recursive: true });
  const idx = (n: number) => Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28]), Buffer.alloc(n * 784, 7)]);
  const tr = idx(60000), te = idx(10000);
  tr.writeUInt32BE(60000, 4);
  te.writeUInt32BE(10000, 4);
  fs.writeFileSync(path.join(dir, "train-images-idx3-ubyte"), tr);
  fs.writeFileSync(path.join(dir, "t10k-images-idx3-ubyte"), te);
  readFashionMnist(cache);
  corruptSameSize(path.join(dir, "t10k-images-idx3-ubyte"));
  assert.throws(() => readFashionMnist(cache), /t10k-images-idx3-ubyte is corrupt: its SHA-256 is .*recorded .*bash scripts\/fetch-data\.sh/);

  const e8 = tmp();
  fs.writeFileSync(path.join(e8, "enwik8"), text);
  readEnwik8(e8, text.length);
  corruptSameSize(path.join(e8, "enwik8"));
  assert.throws(() => readEnwik8(e8, text.length), /enwik8 is corrupt: its SHA-256 is .*delete it and run `npm run download -- enwik8`/);
});

test("wallpaper patches: the cut patch cache is checked by content too", () => {
  const cache = tmp();
  const bin = path.join(cache, "wallpaper-patches-32.u8");
  fs.writeFileSync(path.join(cache, "wallpaper-patches-32.json"), JSON.stringify({ version: 1, patch: 32, photos: WALLPAPER_PHOTOS.map((name) => ({ name, patches: 1 })) }));
  fs.writeFileSync(bin, Buffer.alloc(WALLPAPER_PHOTOS.length * 32 * 32 * 3, 9));
  assert.equal(readWallpaperPatches(32, cache).images.train, WALLPAPER_PHOTOS.length - 2);
  assert.ok(fs.existsSync(stampFile(bin)), "stamped on the first read");
  corruptSameSize(bin);
  assert.throws(() => readWallpaperPatches(32, cache), /wallpaper-patches-32\.u8 is corrupt: its SHA-256 is .*delete it and .*wallpaper-patches-32\.json: the next run cuts the patches again/);
});

test("fetch-data.sh's stamp helpers: a stamp is written, read back, and a copy that disagrees with it is extracted again", () => {
  const dir = tmp();
  const src = path.join(dir, "x.gz"), dst = path.join(dir, "x.bytes");
  fs.writeFileSync(src, zlib.gzipSync(text));
  const script = fs.readFileSync(path.join(__dirname, "..", "scripts", "fetch-data.sh"), "utf8");
  const fns = ["say", "warn", "filesize", "stamp_sha", "write_stamp", "gunzip_to"].map((name) => {
    const m = new RegExp(`^${name}\\(\\) \\{[\\s\\S]*?^\\}|^${name}\\(\\) \\{.*\\}$`, "m").exec(script);
    assert.ok(m, `fetch-data.sh defines ${name}`);
    return m[0];
  });
  const run = () => spawnSync("bash", ["-c", `set -uo pipefail\nCACHE=${dir}\n${fns.join("\n")}\ngunzip_to ${src} ${dst} ${text.length}`], { encoding: "utf8" });
  let r = run();
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(stampFile(dst), "utf8")), { sha256: sha(text), bytes: text.length });
  corruptSameSize(dst);
  r = run();
  assert.match(r.stderr, /differs from its stamp .*extracting it again/);
  assert.deepEqual(fs.readFileSync(dst), text);
});
