/**
 * Content stamps of the data caches: a file the kit extracts or downloads into data/cache gets a stamp beside it,
 * `<file>.sha256.json` = {sha256, bytes, mtimeMs}, written atomically once the file is complete. A reader checks
 * the file against it, so a same-size corrupt file (a bad disk, a stray write, a copy cut short and padded) is
 * refused instead of training silently. The hash is recomputed only when the size or mtime differs from the
 * stamp's (a rewritten file has a new mtime), so an unchanged cache costs one stat. A cache without a stamp (made
 * before stamps existed, or by fetch-data.sh without node) gets one on its first read; a stamp without mtimeMs
 * (fetch-data.sh writes sha256 and bytes only) is completed the same way once the hash agrees.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { atomicWriteJSON } from "../util/io";

/** What a stamp records about its file. */
export interface DataStamp {
  sha256: string;
  bytes: number;
  /** the file's mtime when the hash was taken; absent in stamps written by scripts/fetch-data.sh */
  mtimeMs?: number;
}

/** The stamp file of `file`. */
export function stampFile(file: string): string {
  return `${file}.sha256.json`;
}

/** The SHA-256 of `data` as 64 hex digits. */
export function sha256Hex(data: Uint8Array): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

function readStamp(file: string): DataStamp | undefined {
  const s = stampFile(file);
  if (!fs.existsSync(s)) return undefined;
  try {
    const v = JSON.parse(fs.readFileSync(s, "utf8")) as DataStamp;
    if (typeof v.sha256 === "string" && /^[0-9a-f]{64}$/.test(v.sha256)) return v;
  } catch {
    /* a torn or garbled stamp says nothing about the data: it is taken again below */
  }
  console.warn(`[data] ${s} is not a valid stamp; recording the SHA-256 of ${file} afresh`);
  return undefined;
}

/**
 * Records the SHA-256, size and mtime of `file` (whose full contents are `data`, when the caller has them) in its
 * stamp. Call it right after the file was written completely.
 */
export function writeStamp(file: string, data?: Uint8Array): DataStamp {
  const bytes = data ?? fs.readFileSync(file);
  const st = fs.statSync(file);
  const stamp: DataStamp = { sha256: sha256Hex(bytes), bytes: st.size, mtimeMs: st.mtimeMs };
  atomicWriteJSON(stampFile(file), stamp);
  return stamp;
}

/**
 * Checks `file` (contents `data`, already read by the caller) against its stamp; throws naming the file, both
 * hashes and `fix` (how to rebuild it) when the contents changed. A missing stamp is written (first read).
 * @param fix e.g. "delete it and run `bash scripts/fetch-data.sh`"
 */
export function checkStamp(file: string, data: Uint8Array, fix: string): void {
  const st = fs.statSync(file);
  const stamp = readStamp(file);
  if (stamp && stamp.bytes === st.size && stamp.mtimeMs === st.mtimeMs) return; // unchanged since it was hashed
  const got = sha256Hex(data);
  if (stamp && (stamp.sha256 !== got || stamp.bytes !== st.size)) {
    throw new Error(`${file} is corrupt: its SHA-256 is ${got} (${st.size} bytes), but ${stampFile(file)} recorded ` +
      `${stamp.sha256} (${stamp.bytes} bytes) when it was extracted; ${fix}`);
  }
  try {
    atomicWriteJSON(stampFile(file), { sha256: got, bytes: st.size, mtimeMs: st.mtimeMs } satisfies DataStamp);
  } catch (e) { // a read-only or full data/cache still reads: the file is then checked by size only
    console.warn(`[data] cannot record the SHA-256 of ${file} in ${stampFile(file)} (${(e as Error).message}); it is checked by size only until that file can be written`);
  }
}

/** readFileSync + checkStamp: the bytes of a stamped cache file. */
export function readStamped(file: string, fix: string): Buffer {
  const data = fs.readFileSync(file);
  checkStamp(file, data, fix);
  return data;
}
