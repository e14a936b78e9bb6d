/**
 * Enwik8 and its offline stand-ins: byte-level text corpora split contiguously into train/validation/test.
 *
 * Enwik8 is the first 100,000,000 bytes of an English Wikipedia XML dump (Mahoney's Large Text Compression
 * Benchmark), split 90M / 5M / 5M as in Child et al. (2019) and the paper (§6: TFDS enwik8-raw split at byte
 * 90,000,000 and 95,000,000; no EOS; the stream is chopped into T-length sequences). The downloader fetches
 * `enwik8.zip`, extracts its single `enwik8` entry and checks the size.
 *
 * Offline, with no Enwik8 available, FOLDOC (5.6 MB of encyclopedia-style computing articles, Debian
 * dict-foldoc) is the default stand-in and GCIDE (40 MB of dictionary prose, Debian dict-gcide) the larger one;
 * scripts/fetch-data.sh installs both into data/cache. Any file can be used the same way (`file:<path>`).
 * All use the same contiguous 90/5/5 split.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { PATHS, atomicWrite } from "../util/io";
import type { Splits } from "./datasets";
import { DownloadOptions, httpDownload } from "./download";
import { checkStamp, sha256Hex, writeStamp } from "./stamp";
import { ZipFile } from "./zip";

export const ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip";
export const ENWIK8_BYTES = 100_000_000;
/** folder of the downloaded enwik8.zip and the extracted enwik8 */
export const ENWIK8_DIR = path.join(PATHS.cache, "enwik8");
export const ENWIK8_FIX = "run `npm run download -- enwik8` (needs internet; about 36 MB), or train on the offline stand-in `--data foldoc`";

/** Three contiguous parts of one byte array. */
export type ByteSplits = Splits<Uint8Array>;

/**
 * Contiguous 90/5/5 split of n bytes: train [0, ⌊0.9n⌋), validation [⌊0.9n⌋, ⌊0.95n⌋), test the rest.
 * For Enwik8's 100,000,000 bytes this is exactly 90M / 5M / 5M. bytes: [n] → views (no copy)
 */
export function contiguousSplits(bytes: Uint8Array): ByteSplits {
  const a = Math.floor(0.9 * bytes.length), b = Math.floor(0.95 * bytes.length);
  return { train: bytes.subarray(0, a), validation: bytes.subarray(a, b), test: bytes.subarray(b) };
}

/** Reads the extracted enwik8 from `dir`, checking that it has exactly `expectedBytes` bytes. */
export function readEnwik8(dir = ENWIK8_DIR, expectedBytes = ENWIK8_BYTES): Uint8Array {
  const file = path.join(dir, "enwik8");
  if (!fs.existsSync(file)) throw new Error(`Enwik8 is not downloaded (${file} is missing): ${ENWIK8_FIX}`);
  const size = fs.statSync(file).size;
  if (size !== expectedBytes) {
    throw new Error(`${file} has ${size} bytes, expected ${expectedBytes}: the file is truncated or not enwik8; delete it and ${ENWIK8_FIX}`);
  }
  const data = fs.readFileSync(file);
  checkStamp(file, data, `delete it and ${ENWIK8_FIX}`);
  return new Uint8Array(data);
}

/**
 * Downloads enwik8.zip from `url` into `dir`, extracts the `enwik8` entry (CRC-checked) and verifies its size.
 * Idempotent: returns at once when `dir/enwik8` already has the right size. A corrupt zip is deleted, so
 * rerunning downloads it afresh. Returns the path of the extracted file.
 */
export async function downloadEnwik8(
  opts: { url?: string; dir?: string; expectedBytes?: number; log?: (msg: string) => void } & DownloadOptions = {},
): Promise<string> {
  const url = opts.url ?? ENWIK8_URL, dir = opts.dir ?? ENWIK8_DIR, expected = opts.expectedBytes ?? ENWIK8_BYTES;
  const log = opts.log ?? (() => undefined);
  const file = path.join(dir, "enwik8");
  const zipPath = path.join(dir, "enwik8.zip");
  if (fs.existsSync(file) && fs.statSync(file).size === expected) return file;
  if (!fs.existsSync(zipPath)) {
    log(`downloading ${url} → ${zipPath}`);
    await httpDownload(url, zipPath, opts);
  }
  let data: Buffer;
  try {
    const zip = new ZipFile(zipPath, `it was deleted; run the download again (${url})`);
    try {
      const entry = zip.entry("enwik8");
      if (entry.size !== expected) {
        throw new Error(`${zipPath}: entry "enwik8" has ${entry.size} bytes, expected ${expected}; it was deleted; run the download again (${url})`);
      }
      data = zip.readEntry(entry);
    } finally {
      zip.close();
    }
  } catch (e) {
    fs.rmSync(zipPath, { force: true });
    throw e;
  }
  atomicWrite(file, data);
  writeStamp(file, data);
  log(`extracted ${file} (${data.length} bytes)`);
  return file;
}

/** An offline text corpus installed from a Debian package by scripts/fetch-data.sh. */
export interface DebCorpus {
  name: "foldoc" | "gcide";
  debPackage: string;
  /** the gzip (dictzip) payload inside the package */
  payload: string;
  /** documented sha256 of the payload (data-sources.md) */
  sha256: string;
  bytes: number;
  licence: string;
  description: string;
}

export const DEB_CORPORA: Record<"foldoc" | "gcide", DebCorpus> = {
  foldoc: {
    name: "foldoc",
    debPackage: "dict-foldoc",
    payload: "usr/share/dictd/foldoc.dict.dz",
    sha256: "f3476f455be35c3301a4dfe5406d74854d0b992bc49f4cd1737f779c99e0178f",
    bytes: 5_578_809,
    licence: "GFDL",
    description: "Free On-line Dictionary of Computing (Debian dict-foldoc 20230119-1): encyclopedia-style computing articles",
  },
  gcide: {
    name: "gcide",
    debPackage: "dict-gcide",
    payload: "usr/share/dictd/gcide.dict.dz",
    sha256: "3e6b2cdcbc1b3664c2f1466e3c8e44012e815c4c67fa83fa61f39777cd6e8517",
    bytes: 39_952_321,
    licence: "GPL-2+",
    description: "Collaborative International Dictionary of English (Debian dict-gcide 0.48.5+nmu2): Webster 1913 + WordNet prose",
  },
};

export const FETCH_FIX = "run `npm run setup` (or just `bash scripts/fetch-data.sh`), which fetches it with `apt-get download`";

/**
 * The decompressed bytes of FOLDOC or GCIDE: data/cache/<name>.bytes, written (atomically) from the package
 * payload in data/cache/debs when missing. A cached file whose length disagrees with the gzip trailer (ISIZE)
 * of the payload is reported as truncated, one whose content disagrees with its stamp (stamp.ts) as corrupt.
 */
export function readDebCorpus(name: "foldoc" | "gcide", cacheDir = PATHS.cache): { bytes: Uint8Array; file: string; payloadSha256?: string } {
  const c = DEB_CORPORA[name];
  const file = path.join(cacheDir, `${name}.bytes`);
  const dz = path.join(cacheDir, "debs", c.debPackage, c.payload);
  const haveDz = fs.existsSync(dz);
  const dzBuf = haveDz ? fs.readFileSync(dz) : undefined;
  const payloadSha256 = dzBuf ? sha256Hex(dzBuf) : undefined;
  if (fs.existsSync(file)) {
    const size = fs.statSync(file).size;
    const want = dzBuf ? dzBuf.readUInt32LE(dzBuf.length - 4) : c.bytes;
    if (size % 4294967296 !== want) {
      throw new Error(`${file} has ${size} bytes, expected ${want}: it is truncated or stale; delete it and ${FETCH_FIX}`);
    }
    const data = fs.readFileSync(file);
    checkStamp(file, data, `rebuild it with \`bash scripts/fetch-data.sh\` (or delete it: the next run re-extracts it from ${dz})`);
    return { bytes: new Uint8Array(data), file, payloadSha256 };
  }
  if (!dzBuf) {
    throw new Error(`${name} is not installed (${file} and ${dz} are missing): ${FETCH_FIX} (Debian package ${c.debPackage})`);
  }
  let bytes: Buffer;
  try {
    bytes = zlib.gunzipSync(dzBuf);
  } catch (e) {
    throw new Error(`${dz} is corrupt (${(e as Error).message}): delete ${path.dirname(path.dirname(path.dirname(path.dirname(dz))))} and ${FETCH_FIX}`);
  }
  atomicWrite(file, bytes);
  writeStamp(file, bytes);
  return { bytes: new Uint8Array(bytes), file, payloadSha256 };
}

/** Any file read as bytes (for `--data <path>` / `file:<path>`), with a clear error when missing or empty. */
export function readFileBytes(file: string): Uint8Array {
  if (!fs.existsSync(file)) throw new Error(`data file ${file} does not exist: pass the path of a text (or any) file to read as bytes`);
  const st = fs.statSync(file);
  if (!st.isFile()) throw new Error(`data path ${file} is not a file`);
  if (st.size < 20) throw new Error(`data file ${file} has only ${st.size} bytes; a 90/5/5 split needs at least 20`);
  return new Uint8Array(fs.readFileSync(file));
}
