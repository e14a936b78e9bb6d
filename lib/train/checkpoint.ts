/**
 * Checkpoints: everything a run needs to continue exactly where it stopped (the paper's runs last 125k–500k
 * updates; ours last minutes, but a killed process must still lose nothing).
 *
 * A checkpoint is a folder `<run>/checkpoint/` holding
 *   manifest.json — format, step, the full Config, for every tensor its name, shape, dtype and byte offset,
 *                   the blob's byte length and SHA-256, and free JSON `state` (optimizer count, data cursor,
 *                   RNG state, metrics-history pointer);
 *   blob.bin      — the tensors back to back, little-endian float32 / int32.
 * Writing is atomic at the folder level: the new checkpoint is written and fsynced in `checkpoint.tmp-<pid>/`,
 * the old one is renamed to `checkpoint.old/`, the new one renamed into place, then the old one removed. A crash
 * at any point leaves either `checkpoint/` or `checkpoint.old/` complete; `findCheckpoint` picks it up. A failed
 * write (a full disk above all) removes its temporary folder and puts the previous checkpoint back, and says which
 * step that is; `cleanStaleTemporaries` removes what a killed writer left (temporaries of dead pids).
 * Loading verifies the byte length and the SHA-256 of the blob and that the stored config matches the one asked for.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "../runtime/tf";
import { Config, upgradeModelConfig } from "../config";
import { DiskFullError, atomicWriteJSON, ensureDir, isDiskFull, pidAlive, readJSON, removeStaleTempFiles, writeFileSynced } from "../util/io";
import { jsonDiff } from "../util/json";
import { faultPoint } from "../util/faults";


export const CHECKPOINT_FORMAT = "tvq-checkpoint-1";
export const CHECKPOINT_DIR = "checkpoint";
const OLD_DIR = "checkpoint.old";

export type CheckpointDtype = "float32" | "int32";

export interface CheckpointEntry {
  name: string;
  shape: number[];
  dtype: CheckpointDtype;
  /** byte offset in blob.bin */
  offset: number;
  /** bytes (4 × number of elements) */
  bytes: number;
}

export interface CheckpointManifest {
  format: string;
  /** parameter updates done when this was written */
  step: number;
  config: Config;
  tensors: CheckpointEntry[];
  blobBytes: number;
  blobSha256: string;
  /** free JSON: optimizer count, data cursor, RNG state, metrics pointer (see lib/train/loop.ts) */
  state: Record<string, unknown>;
  savedAt: string;
}

/** A tensor read back from a checkpoint, as host values (assign them with `assignFromCheckpoint`). */
export interface StoredTensor {
  shape: number[];
  dtype: CheckpointDtype;
  values: Float32Array | Int32Array;
}

export interface LoadedCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
  tensors: Map<string, StoredTensor>;
}

const LITTLE_ENDIAN = os.endianness() === "LE";

/** Little-endian bytes of a float32/int32 array (a view, no copy, on little-endian hosts). */
function toLE(values: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new DataView(new ArrayBuffer(values.byteLength));
  for (let i = 0; i < values.length; i++) {
    if (values instanceof Float32Array) out.setFloat32(4 * i, values[i], true);
    else out.setInt32(4 * i, values[i], true);
  }
  return new Uint8Array(out.buffer);
}

/** float32/int32 array from little-endian bytes (copied, so it is aligned). */
function fromLE(bytes: Uint8Array, dtype: CheckpointDtype): Float32Array | Int32Array {
  const copy = new Uint8Array(bytes); // a copy with its own aligned buffer (Buffer#slice would be a view)
  if (LITTLE_ENDIAN) return dtype === "float32" ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
  const view = new DataView(copy.buffer);
  const n = copy.byteLength / 4;
  const out = dtype === "float32" ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = dtype === "float32" ? view.getFloat32(4 * i, true) : view.getInt32(4 * i, true);
  return out;
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch {
    /* directories cannot be fsynced on every platform; the renames are still atomic */
  }
}

/**
 * Writes a checkpoint of `tensors` (name → tensor, float32 or int32, any shape) into `<runDir>/checkpoint/`,
 * atomically, replacing the previous one only once the new one is complete on disk.
 */
export function saveCheckpoint(runDir: string, step: number, config: Config, tensors: Map<string, tf.Tensor>,
                               state: Record<string, unknown>): string {
  ensureDir(runDir);
  const entries: CheckpointEntry[] = [];
  const chunks: Uint8Array[] = [];
  const hash = crypto.createHash("sha256");
  let offset = 0;
  for (const [name, t] of tensors) {
    if (t.dtype !== "float32" && t.dtype !== "int32") {
      throw new Error(`checkpoint tensor ${name} has dtype ${t.dtype}; only float32 and int32 are stored: cast it first`);
    }
    const bytes = toLE(t.dataSync() as Float32Array | Int32Array);
    entries.push({ name, shape: t.shape.slice(), dtype: t.dtype, offset, bytes: bytes.byteLength });
    chunks.push(bytes);
    hash.update(bytes);
    offset += bytes.byteLength;
  }
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT, step, config, tensors: entries, blobBytes: offset, blobSha256: hash.digest("hex"),
    state, savedAt: new Date().toISOString(),
  };
  const tmp = path.join(runDir, `${CHECKPOINT_DIR}.tmp-${process.pid}`);
  const cur = path.join(runDir, CHECKPOINT_DIR);
  const old = path.join(runDir, OLD_DIR);
  let writing = path.join(tmp, "blob.bin");
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    ensureDir(tmp);
    writeFileSynced(writing, chunks);
    faultPoint("checkpoint:blob-written");
    writing = path.join(tmp, "manifest.json");
    atomicWriteJSON(writing, manifest);
    fsyncDir(tmp);
    faultPoint("checkpoint:manifest-written");
    if (fs.existsSync(cur)) { // else checkpoint.old/ (a crash between the renames) stays until the new one is in place
      fs.rmSync(old, { recursive: true, force: true });
      fs.renameSync(cur, old);
      faultPoint("checkpoint:old-moved");
    }
    fs.renameSync(tmp, cur);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true }); // a full disk stays full while the partial copy remains
    if (!fs.existsSync(cur) && fs.existsSync(old)) fs.renameSync(old, cur);
    if (!isDiskFull(e)) throw e;
    const bytes = offset + Buffer.byteLength(JSON.stringify(manifest, null, 2)) + 1;
    throw new DiskFullError(tmp, bytes, e, `${path.basename(writing)} did not fit; the checkpoint of step ${step} was not written, and ${lastGood(runDir)}`,
      "resume with --resume (it continues from that checkpoint)");
  }
  fsyncDir(runDir);
  fs.rmSync(old, { recursive: true, force: true });
  return cur;
}

/** "the last good checkpoint (step N, dir) is kept", or that there is none, for a failed save's message. */
function lastGood(runDir: string): string {
  const dir = findCheckpoint(runDir);
  if (!dir) return "no earlier checkpoint exists (a resume starts at step 0)";
  try {
    return `the last good checkpoint (step ${readJSON<CheckpointManifest>(path.join(dir, "manifest.json")).step}, ${dir}) is kept`;
  } catch {
    return `the previous checkpoint ${dir} is kept`;
  }
}

/**
 * Removes what writers killed mid-write (or stopped by a full disk) left in a run folder: `checkpoint.tmp-<pid>/`
 * folders and atomicWrite's `*.<pid>.<time>.tmp` files whose process is dead (a live pid may be writing). Call it
 * when a run is opened; returns the paths removed.
 */
export function cleanStaleTemporaries(runDir: string): string[] {
  if (!fs.existsSync(runDir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(runDir)) {
    const m = new RegExp(`^${CHECKPOINT_DIR}\\.tmp-(\\d+)$`).exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    fs.rmSync(path.join(runDir, name), { recursive: true, force: true });
    removed.push(path.join(runDir, name));
  }
  return [...removed, ...removeStaleTempFiles(runDir)];
}

/**
 * The folder of the newest complete checkpoint in `runDir` (`checkpoint/`, else `checkpoint.old/`), or undefined
 * when there is none. A checkpoint folder that exists but lacks manifest.json or blob.bin (the writer never leaves
 * one: it is renamed into place complete) is returned when nothing complete is there, so that loadCheckpoint names
 * the missing file instead of a resume silently starting over.
 */
export function findCheckpoint(runDir: string): string | undefined {
  const dirs = [CHECKPOINT_DIR, OLD_DIR].map((name) => path.join(runDir, name));
  const complete = dirs.find((dir) => fs.existsSync(path.join(dir, "manifest.json")) && fs.existsSync(path.join(dir, "blob.bin")));
  return complete ?? dirs.find((dir) => fs.existsSync(dir));
}

/** Train fields that change the data order, the state layout or the optimizer slots: a resume must keep them. */
export const RESUME_TRAIN_FIELDS = ["batchSize", "sequenceLen", "updateLen", "optimizer", "seed"] as const;

/** Differences that forbid resuming: the whole model config and RESUME_TRAIN_FIELDS. */
export function resumeConfigDiff(stored: Config, requested: Config): string[] {
  const pick = (c: Config) => Object.fromEntries(RESUME_TRAIN_FIELDS.map((k) => [k, c.train[k]]));
  const labels: [string, string] = ["checkpoint", "requested"];
  // a checkpoint of an older kit stores "vq-linear" for "vq-recurrent", and no fields added since
  const model = (c: Config) => upgradeModelConfig({ ...c.model });
  return [...jsonDiff(model(stored), model(requested), { prefix: "model", labels }), ...jsonDiff(pick(stored), pick(requested), { prefix: "train", labels })];
}

function corrupt(dir: string, why: string): Error {
  const fallback = path.basename(dir) === CHECKPOINT_DIR && fs.existsSync(path.join(path.dirname(dir), OLD_DIR))
    ? `Delete that folder to fall back to the previous checkpoint ${path.join(path.dirname(dir), OLD_DIR)}`
    : `Delete that folder to fall back to the previous checkpoint (if ${OLD_DIR}/ exists)`;
  return new Error(`checkpoint ${dir} is corrupt (${why}). ${fallback}, or start again with a fresh --out`);
}

/**
 * Reads and verifies a checkpoint folder (as returned by findCheckpoint).
 * @param requested when given, the stored config must agree with it on the model and RESUME_TRAIN_FIELDS.
 */
export function loadCheckpoint(dir: string, requested?: Config): LoadedCheckpoint {
  const manifestFile = path.join(dir, "manifest.json");
  const blobFile = path.join(dir, "blob.bin");
  if (!fs.existsSync(manifestFile)) {
    if (fs.existsSync(path.join(dir, "blob.bin"))) throw corrupt(dir, "manifest.json is missing");
    throw new Error(`no checkpoint at ${dir} (manifest.json missing): train first, or pass the run folder that holds checkpoint/`);
  }
  let manifest: CheckpointManifest;
  try {
    manifest = readJSON<CheckpointManifest>(manifestFile);
  } catch (e) {
    const msg = (e as Error).message;
    if (!/not valid JSON/.test(msg)) throw e;
    throw corrupt(dir, msg.replace(/; the file is corrupt.*$/, ": the file is corrupt"));
  }
  if (manifest.format !== CHECKPOINT_FORMAT || !Array.isArray(manifest.tensors) || typeof manifest.step !== "number") {
    throw corrupt(dir, `manifest.json is not a ${CHECKPOINT_FORMAT} manifest`);
  }
  if (!fs.existsSync(blobFile)) throw corrupt(dir, "blob.bin is missing");
  const blob = fs.readFileSync(blobFile);
  if (blob.byteLength !== manifest.blobBytes) {
    throw corrupt(dir, `blob.bin has ${blob.byteLength} bytes, the manifest says ${manifest.blobBytes}: the file is truncated or was replaced`);
  }
  const sha = crypto.createHash("sha256").update(blob).digest("hex");
  if (sha !== manifest.blobSha256) throw corrupt(dir, `SHA-256 of blob.bin is ${sha.slice(0, 12)}…, the manifest says ${String(manifest.blobSha256).slice(0, 12)}…`);
  if (requested) {
    const diff = resumeConfigDiff(manifest.config, requested);
    if (diff.length) {
      throw new Error(`checkpoint ${dir} was trained with a different config:\n  ${diff.join("\n  ")}\n` +
        `Resume with the same preset and --set overrides it was started with (preset "${manifest.config.preset}"), ` +
        `or start a new run with a fresh --out`);
    }
  }
  const tensors = new Map<string, StoredTensor>();
  for (const e of manifest.tensors) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.bytes !== 4 * n || e.offset < 0 || e.offset + e.bytes > blob.byteLength || (e.dtype !== "float32" && e.dtype !== "int32")) {
      throw corrupt(dir, `entry ${e.name} (shape [${e.shape}], ${e.dtype}, offset ${e.offset}, ${e.bytes} bytes) does not fit the blob`);
    }
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, values: fromLE(blob.subarray(e.offset, e.offset + e.bytes), e.dtype) });
  }
  return { dir, manifest, tensors };
}

/**
 * Assigns stored tensors to variables by name: `variables` maps checkpoint names to the variables to fill.
 * Every variable must be present in the checkpoint with the same shape; stored tensors under `prefixes` that no
 * variable takes are an error too (they mean the checkpoint belongs to another model).
 */
export function assignFromCheckpoint(ck: LoadedCheckpoint, variables: Map<string, tf.Variable>, prefixes: string[]): void {
  const prefix = prefixes.join(" | ");
  const stored = [...ck.tensors.keys()].filter((k) => prefixes.some((p) => k.startsWith(p)));
  const missing = [...variables.keys()].filter((k) => !ck.tensors.has(k));
  const extra = stored.filter((k) => !variables.has(k));
  if (missing.length || extra.length) {
    throw new Error(`checkpoint ${ck.dir} does not hold the same ${prefix}* tensors as this model` +
      (missing.length ? `; missing: ${missing.slice(0, 5).join(", ")}` : "") + (extra.length ? `; unexpected: ${extra.slice(0, 5).join(", ")}` : "") +
      `. Use a checkpoint written by this version with the same config, or a fresh --out`);
  }
  for (const [name, v] of variables) {
    const s = ck.tensors.get(name)!;
    if (!tf.util.arraysEqual(s.shape, v.shape) || s.dtype !== v.dtype) {
      throw new Error(`checkpoint tensor ${name} is [${s.shape}] ${s.dtype} but the variable is [${v.shape}] ${v.dtype}: the checkpoint belongs to another config; use a fresh --out`);
    }
    tf.tidy(() => v.assign(tf.tensor(s.values, s.shape, s.dtype)));
  }
}

/** New tensors from the stored ones named `${prefix}0`, `${prefix}1`, … in index order (the caller owns them). */
export function restoreTensors(ck: LoadedCheckpoint, prefix: string): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (let i = 0; ck.tensors.has(`${prefix}${i}`); i++) {
    const s = ck.tensors.get(`${prefix}${i}`)!;
    out.push(tf.tensor(s.values, s.shape, s.dtype));
  }
  return out;
}
