/**
 * Files: atomic writes (temp file in the same folder, fsync, rename) so that a killed process never leaves a
 * half-written checkpoint, result or cache file; a failed write removes its temporary, and a full disk (ENOSPC,
 * EDQUOT) is a DiskFullError naming the file, the bytes, what was kept and where to free space. Temporaries of
 * dead processes are found by the pid in their name (removeStaleTempFiles). And the project's folder layout.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { faultPoint } from "./faults";


/**
 * The repository root (the folder holding package.json), found from this file; override with TVQ_ROOT.
 * realpath: notebooks reach lib/ through the symlink notebooks/lib -> ../lib, and tslab then loads this file as
 * notebooks/lib/util/io.ts, so the plain grandparent of __dirname would be notebooks/.
 */
export const ROOT: string = process.env.TVQ_ROOT ?? path.resolve(fs.realpathSync(__dirname), "..", "..");

/** Standard folders under the root. */
export const PATHS = {
  data: path.join(ROOT, "data"),
  cache: path.join(ROOT, "data", "cache"),
  runs: path.join(ROOT, "runs"),
  results: path.join(ROOT, "results"),
  figures: path.join(ROOT, "figures"),
  notebooks: path.join(ROOT, "notebooks"),
};

/** The Chromium that exports figures (Debian's package, installed by setup); TVQ_CHROMIUM overrides. */
export const CHROMIUM_PATH: string = process.env.TVQ_CHROMIUM ?? "/usr/bin/chromium";

/** mkdir -p; returns the folder. */
export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Error codes of a full disk (ENOSPC) or a full user quota (EDQUOT). */
const DISK_FULL_CODES = new Set(["ENOSPC", "EDQUOT"]);

/** True for a write error that means the disk or the quota is full (raw, or already a DiskFullError). */
export function isDiskFull(e: unknown): boolean {
  return DISK_FULL_CODES.has(String((e as NodeJS.ErrnoException | undefined)?.code));
}

/**
 * The mount point holding `p` (the nearest existing ancestor is used for a path not yet created): the place the
 * user must free space on. Found by walking up until the device number changes.
 */
export function mountPointOf(p: string): string {
  let dir = path.resolve(p);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    const dev = fs.statSync(dir).dev;
    while (path.dirname(dir) !== dir && fs.statSync(path.dirname(dir)).dev === dev) dir = path.dirname(dir);
  } catch {
    /* an unreadable ancestor: the folder found so far is still the right place to look */
  }
  return dir;
}

/**
 * A write that failed because the disk (or quota) is full, with a message saying which file, how many bytes were
 * being written, what was kept and what to do. `code` stays ENOSPC/EDQUOT, so isDiskFull still recognises it.
 */
export class DiskFullError extends Error {
  readonly code: string;
  constructor(readonly file: string, readonly bytes: number, cause: unknown, kept: string,
              then = "run the command again (a training run continues from its last checkpoint with --resume)") {
    const code = String((cause as NodeJS.ErrnoException).code);
    const where = mountPointOf(path.dirname(file));
    super(`disk full (${code}) while writing ${file} (${bytes} bytes): ${kept}; its temporary files were removed. ` +
      `Free space on ${where} (see \`df -h ${where}\`), then ${then}`);
    this.name = "DiskFullError";
    this.code = code;
  }
}

/**
 * Writes `chunks` to `file` and fsyncs it; on any error the partial file is removed (so a failed write never
 * leaves a half or 0-byte file holding disk space) and the error is rethrown as it came.
 */
export function writeFileSynced(file: string, chunks: Uint8Array[]): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "w");
    for (const c of chunks) fs.writeSync(fd, c);
    fs.fsyncSync(fd);
  } catch (e) {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* the write error is the one to report */ }
    fd = undefined;
    fs.rmSync(file, { force: true });
    throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The temporary name atomicWrite uses for `file`: `<file>.<pid>.<time>.tmp` (removeStaleTempFiles parses it). */
function tempName(file: string): string {
  return `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
}

/**
 * Writes `data` to `file` atomically: a reader sees the old file or the whole new one, never a part. On any error
 * the temporary file is removed; a full disk becomes a DiskFullError saying the previous file is intact.
 */
export function atomicWrite(file: string, data: string | Uint8Array): void {
  ensureDir(path.dirname(file));
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const tmp = tempName(file);
  try {
    writeFileSynced(tmp, [bytes]);
    faultPoint("atomic-write:before-rename");
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    if (!isDiskFull(e)) throw e;
    throw new DiskFullError(file, bytes.byteLength, e, fs.existsSync(file) ? `the previous ${path.basename(file)} is intact` : `${path.basename(file)} was not created`);
  }
}

/** atomicWrite of pretty-printed JSON with a trailing newline. */
export function atomicWriteJSON(file: string, value: unknown): void {
  atomicWrite(file, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Appends one line (a JSONL record, a CSV row) and flushes it to disk; appends of one line are atomic enough for
 * logs. A failed append is cut off again (no torn line left), and a full disk becomes a DiskFullError.
 */
export function appendLine(file: string, line: string): void {
  ensureDir(path.dirname(file));
  const bytes = Buffer.from(line.endsWith("\n") ? line : line + "\n", "utf8");
  const fd = fs.openSync(file, "a");
  const before = fs.fstatSync(fd).size;
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } catch (e) {
    try { fs.ftruncateSync(fd, before); } catch { /* the write error is the one to report */ }
    if (!isDiskFull(e)) throw e;
    throw new DiskFullError(file, bytes.byteLength, e, `the ${before} bytes already in ${path.basename(file)} are intact`);
  } finally {
    fs.closeSync(fd);
  }
}

/** True unless `pid` is certainly gone (process.kill(pid, 0) fails with ESRCH; EPERM means it runs as another user). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Removes atomicWrite temporaries (`<name>.<pid>.<time>.tmp`) in `dir` (not below it) whose process is dead:
 * a process killed, or a disk filled, mid-write leaves them behind. Returns the paths removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = /\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const p = path.join(dir, name);
    if (!fs.statSync(p).isFile()) continue;
    fs.rmSync(p, { force: true });
    removed.push(p);
  }
  return removed;
}

/** Reads and parses a JSON file, naming the file in the error when it is missing or corrupt. */
export function readJSON<T>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); the file is corrupt: delete it or restore it from a backup`);
  }
}

/**
 * Refuses a name that becomes a file or folder name unless it is only letters, digits, '.', '_' and '-' (so no
 * path separators, no `..`, nothing a shell or a URL must quote).
 * @param what how the caller names the value, e.g. "spec.run" or "exportFigure: name"
 * @param why what the name becomes, e.g. "it names a folder"
 */
export function checkFileName(what: string, name: string | undefined, why: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name ?? "") || name === "." || name === "..") {
    throw new Error(`${what} ${JSON.stringify(name)} must use only letters, digits, '.', '_' and '-' (${why})`);
  }
}

/**
 * Reads a JSONL file (one JSON record per line; a missing file is an empty list). Blank lines are skipped. A torn
 * last line (a process killed while appending it) is skipped with a warning; a bad line anywhere else is an error
 * naming the file and the line, since records after it would be lost silently.
 * @param fix what the user should do about a corrupt line (ends the error message)
 */
export function readJSONL<T>(file: string, fix = "fix or delete that line"): T[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const rows: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      rows.push(JSON.parse(line) as T);
    } catch {
      const last = lines.slice(i + 1).every((l) => l.trim() === "");
      if (!last) throw new Error(`${file} line ${i + 1} is not valid JSON; ${fix}`);
      console.warn(`[io] ${file}: skipping a torn last line (an interrupted write)`);
    }
  });
  return rows;
}

/** Keeps the first `records` records of a JSONL file, rewritten atomically (temp file, fsync, rename). */
export function truncateJSONL(file: string, records: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").slice(0, records);
  atomicWrite(file, kept.map((l) => l + "\n").join(""));
}
