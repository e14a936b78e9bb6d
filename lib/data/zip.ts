/**
 * A small ZIP reader (stored and deflate entries, ZIP64 sizes and offsets), enough for `enwik8.zip` and numpy
 * `.npz` files (a zip of `.npy` arrays; numpy writes ZIP64 headers). Reads through positional file reads, so a
 * multi-GB archive is never loaded whole; CRC-32 is checked on full reads. Pure Node (zlib.inflateRawSync).
 */
import * as fs from "node:fs";
import * as zlib from "node:zlib";

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate */
  method: number;
  crc32: number;
  compressedSize: number;
  /** uncompressed size in bytes */
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

/** little-endian uint64 as a number (exact below 2^53) */
function u64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 4294967296;
}

/** An open zip archive on disk. `fix` is appended to every error (e.g. "delete X and rerun …"). */
export class ZipFile {
  readonly entries: ZipEntry[];
  private readonly fd: number;
  private readonly fileSize: number;

  constructor(readonly path: string, private readonly fix = "the file is truncated or corrupt: delete it and download it again") {
    try {
      this.fd = fs.openSync(path, "r");
    } catch (e) {
      throw new Error(`cannot open zip ${path}: ${(e as Error).message}`);
    }
    this.fileSize = fs.fstatSync(this.fd).size;
    try {
      this.entries = this.readDirectory();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private fail(what: string): never {
    throw new Error(`${this.path}: ${what}; ${this.fix}`);
  }

  /** `length` bytes at `offset` (throws if the file is shorter) */
  private read(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, buf, got, length - got, offset + got);
      if (n === 0) this.fail(`unexpected end of file at byte ${offset + got} (file has ${this.fileSize} bytes)`);
      got += n;
    }
    return buf;
  }

  private readDirectory(): ZipEntry[] {
    const tailLen = Math.min(this.fileSize, 65557);
    if (tailLen < 22) this.fail(`only ${this.fileSize} bytes, not a zip archive`);
    const tail = this.read(this.fileSize - tailLen, tailLen);
    let e = -1;
    for (let i = tailLen - 22; i >= 0; i--) if (tail.readUInt32LE(i) === EOCD_SIG) { e = i; break; }
    if (e < 0) this.fail("no end-of-central-directory record, not a (complete) zip archive");
    let count = tail.readUInt16LE(e + 10);
    let cdSize = tail.readUInt32LE(e + 12);
    let cdOffset = tail.readUInt32LE(e + 16);
    if (e >= 20 && tail.readUInt32LE(e - 20) === EOCD64_LOCATOR_SIG) {
      const rec = this.read(u64(tail, e - 20 + 8), 56);
      if (rec.readUInt32LE(0) !== EOCD64_SIG) this.fail("bad ZIP64 end-of-central-directory record");
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
    if (cdOffset + cdSize > this.fileSize) this.fail(`central directory (${cdOffset}+${cdSize}) lies beyond the end of the file`);
    const cd = this.read(cdOffset, cdSize);
    const out: ZipEntry[] = [];
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CDIR_SIG) this.fail(`corrupt central directory entry ${k}`);
      const nameLen = cd.readUInt16LE(p + 28), extraLen = cd.readUInt16LE(p + 30), commentLen = cd.readUInt16LE(p + 32);
      const entry: ZipEntry = {
        name: cd.toString("utf8", p + 46, p + 46 + nameLen),
        method: cd.readUInt16LE(p + 10),
        crc32: cd.readUInt32LE(p + 16),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        localHeaderOffset: cd.readUInt32LE(p + 42),
      };
      // ZIP64 extra field (id 1): 8-byte values for whichever of the three fields are 0xffffffff, in this order
      for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = cd.readUInt16LE(x), len = cd.readUInt16LE(x + 2);
        if (id === 1) {
          let q = x + 4;
          if (entry.size === 0xffffffff) { entry.size = u64(cd, q); q += 8; }
          if (entry.compressedSize === 0xffffffff) { entry.compressedSize = u64(cd, q); q += 8; }
          if (entry.localHeaderOffset === 0xffffffff) { entry.localHeaderOffset = u64(cd, q); q += 8; }
        }
        x += 4 + len;
      }
      out.push(entry);
      p += 46 + nameLen + extraLen + commentLen;
    }
    return out;
  }

  /** The entry called `name`, or an error listing the names present. */
  entry(name: string): ZipEntry {
    const e = this.entries.find((x) => x.name === name);
    if (!e) this.fail(`no entry "${name}" (entries: ${this.entries.map((x) => x.name).slice(0, 20).join(", ") || "none"})`);
    return e;
  }

  private dataOffset(e: ZipEntry): number {
    const h = this.read(e.localHeaderOffset, 30);
    if (h.readUInt32LE(0) !== LOCAL_SIG) this.fail(`bad local header for "${e.name}"`);
    const off = e.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
    if (off + e.compressedSize > this.fileSize) this.fail(`entry "${e.name}" runs past the end of the file (truncated download?)`);
    return off;
  }

  /** The whole uncompressed entry, CRC-checked. */
  readEntry(e: ZipEntry): Buffer {
    const raw = this.read(this.dataOffset(e), e.compressedSize);
    let data: Buffer;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        data = zlib.inflateRawSync(raw);
      } catch (err) {
        this.fail(`cannot inflate "${e.name}" (${(err as Error).message})`);
      }
    } else this.fail(`entry "${e.name}" uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    if (data.length !== e.size) this.fail(`entry "${e.name}" inflates to ${data.length} bytes, the directory says ${e.size}`);
    if ((zlib.crc32(data) >>> 0) !== e.crc32) this.fail(`CRC-32 mismatch in "${e.name}"`);
    return data;
  }

  /**
   * The first `n` uncompressed bytes of an entry, without reading the rest (no CRC check: the entry is not read
   * whole). Deflated data is inflated from growing prefixes of the compressed stream.
   */
  readEntryPrefix(e: ZipEntry, n: number): Buffer {
    n = Math.min(n, e.size);
    const off = this.dataOffset(e);
    if (e.method === 0) return this.read(off, n);
    if (e.method !== 8) this.fail(`entry "${e.name}" uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    for (let m = Math.min(e.compressedSize, Math.max(65536, n >> 2)); ; m = Math.min(e.compressedSize, 2 * m)) {
      let out: Buffer;
      try {
        out = zlib.inflateRawSync(this.read(off, m), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (err) {
        this.fail(`cannot inflate "${e.name}" (${(err as Error).message})`);
      }
      if (out.length >= n) return out.subarray(0, n);
      if (m === e.compressedSize) this.fail(`entry "${e.name}" inflates to only ${out.length} bytes, need ${n}`);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
