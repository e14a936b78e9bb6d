/**
 * Files: atomic writes (temp file in the same folder, fsync, rename) so that a killed process never leaves a
 * half-written checkpoint, result or cache file; and the project's folder layout.
 */
import * as fs from "node:fs";
import * as path from "node:path";

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

/** Writes `data` to `file` atomically: a reader sees the old file or the whole new one, never a part. */
export function atomicWrite(file: string, data: string | Uint8Array): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** atomicWrite of pretty-printed JSON with a trailing newline. */
export function atomicWriteJSON(file: string, value: unknown): void {
  atomicWrite(file, JSON.stringify(value, null, 2) + "\n");
}

/** Appends one line (a JSONL record, a CSV row) and flushes it to disk; appends of one line are atomic enough for logs. */
export function appendLine(file: string, line: string): void {
  ensureDir(path.dirname(file));
  const fd = fs.openSync(file, "a");
  try {
    fs.writeSync(fd, line.endsWith("\n") ? line : line + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
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
