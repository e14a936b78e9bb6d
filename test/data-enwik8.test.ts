// Enwik8 downloader against a local fixture server (a tiny generated enwik8.zip), its error paths, the 90/5/5
// split, and the offline FOLDOC/GCIDE and file: loaders on temporary folders.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { contiguousSplits, downloadEnwik8, readDebCorpus, readEnwik8 } from "../lib/data/enwik8";
import { loadDataset } from "../lib/data/datasets";
import { ZipFile } from "../lib/data/zip";
import { serve, writeZip } from "./helpers/data-fixtures";

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "tvq-enwik8-"));
const N = 2000;
const text = Buffer.from(Array.from({ length: N }, (_, i) => "<page>wiki text </page>\n"[i % 24]).join(""));

test("contiguous 90/5/5 split (exactly 90M/5M/5M for 100M bytes)", () => {
  const s = contiguousSplits(new Uint8Array(1000));
  assert.deepEqual([s.train.length, s.validation.length, s.test.length], [900, 50, 50]);
  const big = { length: 100_000_000 };
  assert.equal(Math.floor(0.9 * big.length), 90_000_000);
  assert.equal(Math.floor(0.95 * big.length), 95_000_000);
  const odd = contiguousSplits(Uint8Array.from({ length: 37 }, (_, i) => i));
  assert.equal(odd.train.length + odd.validation.length + odd.test.length, 37);
  assert.equal(odd.validation[0], odd.train.length);
});

test("downloads, extracts and checks enwik8 from a local server; idempotent", async () => {
  const zip = writeZip([{ name: "enwik8", data: text }]);
  const srv = await serve((u) => (u.pathname === "/dc/enwik8.zip" ? zip : undefined));
  try {
    const dir = tmp();
    const file = await downloadEnwik8({ url: `${srv.base}/dc/enwik8.zip`, dir, expectedBytes: N });
    assert.deepEqual(fs.readFileSync(file), text);
    assert.deepEqual(Buffer.from(readEnwik8(dir, N)), text);
    await downloadEnwik8({ url: `${srv.base}/dc/enwik8.zip`, dir, expectedBytes: N });
    assert.equal(srv.hits.length, 1, "second call reuses the extracted file");
    // the real loader insists on the full 100,000,000 bytes
    assert.throws(() => loadDataset(`enwik8:${dir}`), /has 2000 bytes, expected 100000000/);
  } finally {
    await srv.close();
  }
});

test("corrupt, truncated, wrong-size and missing downloads give clear errors", async () => {
  const good = writeZip([{ name: "enwik8", data: text }]);
  const corrupt = Buffer.from(good);
  corrupt[40] ^= 0xff;
  corrupt[41] ^= 0xff;
  const routes: Record<string, Buffer> = {
    "/corrupt.zip": corrupt,
    "/truncated.zip": good.subarray(0, good.length - 30),
    "/small.zip": writeZip([{ name: "enwik8", data: text.subarray(0, 100) }]),
    "/other.zip": writeZip([{ name: "readme", data: text }]),
  };
  const srv = await serve((u) => routes[u.pathname]);
  try {
    const cases: [string, RegExp][] = [
      ["/corrupt.zip", /CRC-32 mismatch|cannot inflate|inflates to/],
      ["/truncated.zip", /end-of-central-directory/],
      ["/small.zip", /has 100 bytes, expected 2000/],
      ["/other.zip", /no entry "enwik8"/],
      ["/missing.zip", /HTTP 404/],
    ];
    for (const [p, re] of cases) {
      const dir = tmp();
      await assert.rejects(downloadEnwik8({ url: srv.base + p, dir, expectedBytes: N }), re, p);
      assert.ok(!fs.existsSync(path.join(dir, "enwik8")), `${p}: nothing extracted`);
      assert.ok(!fs.existsSync(path.join(dir, "enwik8.zip")), `${p}: bad zip removed so a rerun downloads again`);
    }
  } finally {
    await srv.close();
  }
  assert.throws(() => readEnwik8(tmp()), /npm run download -- enwik8/);
});

test("zip reader: stored and deflate entries", () => {
  const dir = tmp();
  const f = path.join(dir, "a.zip");
  fs.writeFileSync(f, writeZip([{ name: "s", data: text, method: 0 }, { name: "d", data: text, method: 8 }]));
  const z = new ZipFile(f);
  try {
    assert.deepEqual(z.entries.map((e) => [e.name, e.method, e.size]), [["s", 0, N], ["d", 8, N]]);
    assert.deepEqual(z.readEntry(z.entry("s")), text);
    assert.deepEqual(z.readEntry(z.entry("d")), text);
    assert.deepEqual(z.readEntryPrefix(z.entry("d"), 100), text.subarray(0, 100));
  } finally {
    z.close();
  }
});

test("FOLDOC-style corpus: decompressed from the package payload, truncation detected, missing named", () => {
  const cache = tmp();
  assert.throws(() => readDebCorpus("foldoc", cache), /foldoc is not installed.*npm run setup.*fetch-data\.sh.*dict-foldoc/);
  const payload = path.join(cache, "debs", "dict-foldoc", "usr", "share", "dictd", "foldoc.dict.dz");
  fs.mkdirSync(path.dirname(payload), { recursive: true });
  fs.writeFileSync(payload, zlib.gzipSync(text));
  const r = readDebCorpus("foldoc", cache);
  assert.deepEqual(Buffer.from(r.bytes), text);
  assert.deepEqual(fs.readFileSync(path.join(cache, "foldoc.bytes")), text, "decompressed form cached");
  const ds = loadDataset("foldoc", { cacheDir: cache });
  assert.equal(ds.splits.train.length + ds.splits.validation.length + ds.splits.test.length, N);
  assert.equal(ds.splits.train[0], text[0] + 3);
  fs.writeFileSync(path.join(cache, "foldoc.bytes"), text.subarray(0, 500));
  assert.throws(() => readDebCorpus("foldoc", cache), /has 500 bytes, expected 2000: it is truncated/);
});

test("file:<path> reads any file as bytes with a 90/5/5 split; clear errors", () => {
  const dir = tmp();
  const f = path.join(dir, "corpus.txt");
  fs.writeFileSync(f, text);
  const ds = loadDataset(`file:${f}`);
  assert.deepEqual([ds.splits.train.length, ds.splits.validation.length, ds.splits.test.length], [1800, 100, 100]);
  assert.equal(ds.kind, "text");
  assert.ok(ds.wordCounts!.train > 0);
  assert.throws(() => loadDataset(`file:${path.join(dir, "nope.txt")}`), /does not exist/);
  assert.throws(() => loadDataset("nope"), /unknown dataset "nope"/);
  const bpe = loadDataset(`file:${f}`, { tokenizer: "bpe", bpeVocabSize: 300, cacheDir: dir });
  assert.equal(bpe.tokenizer.kind, "bpe");
  assert.deepEqual(Buffer.from(bpe.tokenizer.decode(bpe.splits.validation)), text.subarray(1800, 1900));
});
