/**
 * Plain HTTP(S) GET with Node's http/https (redirects followed, no dependencies), streamed to a temporary file
 * and renamed into place only when complete, so an interrupted download never looks finished; on a full disk the
 * partial file is removed and the error says how many bytes were to be written and where to free space.
 * Used by the real Enwik8, PG-19 downloaders; tested against local servers on 127.0.0.1.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { DiskFullError, ensureDir, isDiskFull } from "../util/io";

export interface DownloadOptions {
  maxRedirects?: number;
  /** abort when no data arrives for this long (default 60 s) */
  timeoutMs?: number;
  /** called with (bytes so far, total or NaN) */
  onProgress?: (bytes: number, total: number) => void;
}

function get(url: string, opts: DownloadOptions, redirects: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith("https:") ? https : url.startsWith("http:") ? http : null;
    if (!lib) return reject(new Error(`unsupported URL ${url}: only http:// and https:// are supported`));
    const req = lib.get(url, (res) => {
      const code = res.statusCode ?? 0;
      if (code >= 300 && code < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) return reject(new Error(`GET ${url}: too many redirects`));
        return resolve(get(new URL(res.headers.location, url).toString(), opts, redirects - 1));
      }
      if (code !== 200) {
        res.resume();
        return reject(new Error(`GET ${url} failed with HTTP ${code}; check the URL and your internet connection`));
      }
      resolve(res);
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error(`GET ${url}: no data for ${(opts.timeoutMs ?? 60_000) / 1000} s`)));
    req.on("error", (e) => reject(new Error(`GET ${url} failed: ${e.message}; check your internet connection (or a proxy)`)));
  });
}

/** Downloads `url` to `dest` (via `dest.part`, renamed when complete). Returns the number of bytes. */
export async function httpDownload(url: string, dest: string, opts: DownloadOptions = {}): Promise<number> {
  ensureDir(path.dirname(dest));
  const res = await get(url, opts, opts.maxRedirects ?? 5);
  const total = Number(res.headers["content-length"] ?? NaN);
  const part = `${dest}.part`;
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const out = fs.createWriteStream(part);
    res.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      opts.onProgress?.(bytes, total);
    });
    res.on("error", reject);
    res.on("aborted", () => reject(new Error(`GET ${url}: connection closed after ${bytes} bytes`)));
    out.on("error", reject);
    out.on("finish", resolve);
    res.pipe(out);
  }).catch((e) => {
    fs.rmSync(part, { force: true }); // a partial download on a full disk would keep it full
    res.destroy();
    if (!isDiskFull(e)) throw e;
    throw new DiskFullError(dest, Number.isFinite(total) ? total : bytes, e, `${bytes} bytes had arrived; ${path.basename(dest)} was not created`,
      "run the download again (it skips the files already complete)");
  });
  if (Number.isFinite(total) && bytes !== total) {
    fs.rmSync(part, { force: true });
    throw new Error(`GET ${url}: received ${bytes} of ${total} bytes (connection dropped); run the download again`);
  }
  fs.renameSync(part, dest);
  return bytes;
}

/** GET `url` as text (for listings). */
export async function httpGetText(url: string, opts: DownloadOptions = {}): Promise<string> {
  const res = await get(url, opts, opts.maxRedirects ?? 5);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
