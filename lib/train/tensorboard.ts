/**
 * TensorBoard event files for every training run, and the one choice of units the trainer shows.
 *
 * Units (docs/paper.md §1.4): byte-level data (text bytes, image sub-pixels) is shown in bits per byte
 * (bpb = nats / ln 2); subword (BPE) data in nats per token, with bits per byte of text and word-level perplexity
 * from the evaluations, which know the scored text's bytes and words. `lossDisplay` names the unit for the
 * progress bar; `RunEvents` writes the same choice as TensorBoard tags.
 *
 * Event files: `<run>/events.out.tfevents.<seconds>.<host>.<pid>.0`, one per training process, so TensorBoard
 * shows a run folder as one run. A file is a TFRecord stream (uint64 length, masked CRC-32C of the length, the
 * bytes, masked CRC-32C of the bytes) of `tensorflow.Event` protobufs: first {wall_time, file_version
 * "brain.Event:2"}, then a SessionLog START at the first step the process trains, then one Event per update
 * (`train/*`) and per evaluation (`val/*`), each a Summary of simple_value scalars. Each record is written with
 * one write() call, so a killed process leaves at most a torn last record, which TensorBoard's reader skips.
 *
 * Resumes: the event files mirror metrics.jsonl and eval.jsonl. A resume cuts those back to the checkpoint
 * (resume.ts), and `RunEvents.open` cuts the earlier event files back to the same step (rewritten atomically;
 * a torn last record goes too; a file left with no record is deleted), so the resumed curve has every step once
 * for any reader. The START event also makes TensorBoard's own loader drop later steps of earlier files.
 *
 * Hand-written, and why: tfjs has a summary writer only on the native backend (tf.node.summaryFileWriter), and
 * the kit also trains on wasm and cpu; one writer for every backend is simpler to trust than two. No npm package
 * writes TensorBoard events (the tfrecord packages read and write tf.Example records, not summaries), and the
 * format needs only CRC-32C and five protobuf field types, about 80 lines here; test/tensorboard.test.ts reads
 * a real run's file back with TensorBoard's own EventAccumulator.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { atomicWrite } from "../util/io";
import type { EvalRecord, StepMetrics } from "./run-folder";

// ------------------------------------------------------------------------------------------------------------
// Units

/** How a tokenizer's losses are shown: bits per byte for bytes, nats per token for subwords. */
export type TokenizerKind = "bytes" | "bpe";

/**
 * The training loss in the run's unit, for the progress bar: {name: "bpb", value: loss / ln 2} for byte-level
 * data, {name: "nats/tok", value: loss} for BPE (whose bits per byte of text only the evaluations know).
 */
export function lossDisplay(kind: TokenizerKind, m: Pick<StepMetrics, "loss" | "bpb">): { name: string; value: number } {
  return kind === "bytes" ? { name: "bpb", value: m.bpb } : { name: "nats/tok", value: m.loss };
}

/**
 * The scalars of one update, tagged with their unit: train/bpb (bytes) or train/loss_nats_per_token (BPE), then
 * train/lr, train/grad_norm, train/commit_loss, train/tokens_per_s and, with codebooks, train/code_usage and
 * train/code_entropy_bits.
 */
export function trainScalars(kind: TokenizerKind, m: StepMetrics, codebooks: boolean): Record<string, number> {
  const s: Record<string, number> = kind === "bytes" ? { "train/bpb": m.bpb } : { "train/loss_nats_per_token": m.loss };
  Object.assign(s, { "train/lr": m.lr, "train/grad_norm": m.gradNorm, "train/commit_loss": m.commit, "train/tokens_per_s": m.tokensPerSec });
  if (codebooks) Object.assign(s, { "train/code_usage": m.codeUsage, "train/code_entropy_bits": m.codeEntropy });
  return s;
}

/** The scalars of one validation: val/bpb, and for BPE also val/loss_nats_per_token and (with words) val/word_ppl. */
export function evalScalars(kind: TokenizerKind, e: EvalRecord): Record<string, number> {
  if (kind === "bytes") return { "val/bpb": e.bpb };
  const s: Record<string, number> = { "val/loss_nats_per_token": e.loss, "val/bpb": e.bpb };
  if (e.wordPpl !== undefined) s["val/word_ppl"] = e.wordPpl;
  return s;
}

// ------------------------------------------------------------------------------------------------------------
// The format: CRC-32C, protobuf fields, TFRecord framing

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1; // Castagnoli, reflected
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of `bytes`: crc32c("123456789") = 0xe3069283. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 bits, add 0xa282ead8. */
function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A protobuf varint of a non-negative integer up to 2^53. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

const key = (field: number, wire: number) => varint(field * 8 + wire);
const concat = (parts: Array<Uint8Array | number[]>) => Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
const lengthDelimited = (field: number, body: Uint8Array) => concat([key(field, 2), varint(body.length), body]);
function fixed(field: number, value: number, double: boolean): Buffer {
  const b = Buffer.alloc(double ? 8 : 4);
  if (double) b.writeDoubleLE(value);
  else b.writeFloatLE(value);
  return concat([key(field, double ? 1 : 5), b]);
}

/** The parts of a tensorflow.Event this writer uses. */
interface EventFields {
  wallTime: number;
  step: number;
  fileVersion?: string;
  /** Summary.value[]: {tag (1), simple_value (2, float32)} */
  scalars?: Record<string, number>;
  /** SessionLog.status: 1 = START */
  sessionStart?: boolean;
}

/** Event{wall_time (1, double), step (2, int64), file_version (3), summary (5), session_log (6)} as protobuf bytes. */
export function encodeEvent(e: EventFields): Buffer {
  const parts: Uint8Array[] = [fixed(1, e.wallTime, true)];
  if (e.step > 0) parts.push(concat([key(2, 0), varint(e.step)]));
  if (e.fileVersion !== undefined) parts.push(lengthDelimited(3, Buffer.from(e.fileVersion, "utf8")));
  if (e.scalars) {
    const values = Object.entries(e.scalars).map(([tag, v]) => lengthDelimited(1, concat([lengthDelimited(1, Buffer.from(tag, "utf8")), fixed(2, v, false)])));
    parts.push(lengthDelimited(5, concat(values)));
  }
  if (e.sessionStart) parts.push(lengthDelimited(6, Uint8Array.from(key(1, 0).concat(varint(1)))));
  return concat(parts);
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskedCrc(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc(data), 0);
  return Buffer.concat([head, data, tail]);
}

/** The whole, CRC-valid records of a TFRecord file, in order; reading stops at the first torn or corrupt one. */
export function readRecords(file: string): Buffer[] {
  const buf = fs.readFileSync(file);
  const out: Buffer[] = [];
  let at = 0;
  while (at + 12 <= buf.length) {
    const n = Number(buf.readBigUInt64LE(at));
    if (buf.readUInt32LE(at + 8) !== maskedCrc(buf.subarray(at, at + 8)) || at + 16 + n > buf.length) break;
    const data = buf.subarray(at + 12, at + 12 + n);
    if (buf.readUInt32LE(at + 12 + n) !== maskedCrc(data)) break;
    out.push(Buffer.from(data));
    at += 16 + n;
  }
  return out;
}

/** The step of an encoded Event (field 2; 0 when absent), read without decoding the rest. */
export function eventStep(data: Uint8Array): number {
  let at = 0;
  const readVarint = () => {
    let v = 0, mul = 1, b: number;
    do {
      b = data[at++];
      v += (b & 0x7f) * mul;
      mul *= 0x80;
    } while (b & 0x80 && at < data.length);
    return v;
  };
  while (at < data.length) {
    const k = readVarint();
    const field = Math.floor(k / 8), wire = k % 8;
    if (field === 2 && wire === 0) return readVarint();
    if (wire === 0) readVarint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) at += readVarint();
    else break;
  }
  return 0;
}

// ------------------------------------------------------------------------------------------------------------
// A run's event file

/** Event files are named like TensorFlow's: TensorBoard reads every file whose name contains "tfevents". */
export function isEventFile(name: string): boolean {
  return name.startsWith("events.out.tfevents.");
}

/**
 * Cuts the event files in `dir` back to steps ≤ `step` (plus each file's header): what a resume from a checkpoint
 * at `step` keeps of metrics.jsonl. A file that changes is rewritten atomically; one left without a scalar is
 * removed. Returns the files changed or removed.
 */
export function truncateEventFiles(dir: string, step: number): string[] {
  if (!fs.existsSync(dir)) return [];
  const changed: string[] = [];
  for (const name of fs.readdirSync(dir).filter(isEventFile).sort()) {
    const file = path.join(dir, name);
    const records = readRecords(file);
    const kept = records.filter((r) => eventStep(r) <= step);
    const bytes = fs.statSync(file).size;
    const keptBytes = kept.reduce((a, r) => a + r.length + 16, 0);
    if (keptBytes === bytes) continue; // nothing later than `step`, no torn tail
    changed.push(file);
    if (kept.every((r) => eventStep(r) === 0)) fs.rmSync(file, { force: true });
    else atomicWrite(file, Buffer.concat(kept.map(tfRecord)));
  }
  return changed;
}

/**
 * The TensorBoard events of one training process in a run folder. `open` cuts earlier files back to the step
 * the run resumes from; the file itself is created at the first scalar (a resumed run that is already complete
 * writes none). A failed write (a full disk) warns once and stops the events, never the training: metrics.jsonl
 * stays the record.
 */
export class RunEvents {
  private fd: number | undefined;
  private failed = false;
  readonly file: string;

  private constructor(readonly dir: string, private readonly kind: TokenizerKind, private readonly codebooks: boolean,
                      private readonly startStep: number) {
    const stem = path.join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${os.hostname()}.${process.pid}`);
    let n = 0;
    while (fs.existsSync(`${stem}.${n}`)) n++; // a second run of the folder by this process within the same second
    this.file = `${stem}.${n}`;
  }

  /**
   * @param dir the run folder (held by this process's lock)
   * @param step the step training resumes from (0 for a fresh run): later events of earlier files are cut
   * @param kind the dataset's tokenizer, which picks the units; codebooks: false for full attention
   */
  static open(dir: string, step: number, kind: TokenizerKind, codebooks: boolean): RunEvents {
    truncateEventFiles(dir, step);
    return new RunEvents(dir, kind, codebooks, step);
  }

  /** Logs one update's scalars (at wallTime seconds since the epoch, default now). */
  step(m: StepMetrics, wallTime = Date.now() / 1000): void {
    this.write({ wallTime, step: m.step, scalars: trainScalars(this.kind, m, this.codebooks) });
  }

  /** Logs one validation's scalars. */
  eval(e: EvalRecord, wallTime = Date.now() / 1000): void {
    this.write({ wallTime, step: e.step, scalars: evalScalars(this.kind, e) });
  }

  /** fsyncs what was written (before a checkpoint, and at the end). */
  sync(): void {
    if (this.fd === undefined) return;
    try {
      fs.fsyncSync(this.fd);
    } catch (e) {
      this.fail(e);
    }
  }

  /** Syncs and closes the file. */
  close(): void {
    this.sync();
    if (this.fd !== undefined) try { fs.closeSync(this.fd); } catch { /* already reported by sync */ }
    this.fd = undefined;
  }

  private write(e: EventFields): void {
    if (this.failed) return;
    try {
      if (this.fd === undefined) {
        this.fd = fs.openSync(this.file, "a");
        const t = Date.now() / 1000;
        fs.writeSync(this.fd, Buffer.concat([
          tfRecord(encodeEvent({ wallTime: t, step: 0, fileVersion: "brain.Event:2" })),
          tfRecord(encodeEvent({ wallTime: t, step: this.startStep + 1, sessionStart: true })),
        ]));
      }
      fs.writeSync(this.fd, tfRecord(encodeEvent(e)));
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    console.warn(`[train] TensorBoard events stopped: writing ${this.file} failed (${(err as Error).message}); ` +
      `training goes on, and metrics.jsonl keeps every update`);
    if (this.fd !== undefined) try { fs.closeSync(this.fd); } catch { /* the write error is the one reported */ }
    this.fd = undefined;
  }
}

/**
 * Writes the event file of a run folder that has none (trained before the kit wrote events) from its history:
 * metrics.jsonl and eval.jsonl as read by the caller. Wall times are estimated backwards from `endTime` (the
 * history file's modification time) with each update's duration. Returns the file, or undefined when the folder
 * already has event files or no history.
 */
export function writeHistoryEvents(dir: string, history: StepMetrics[], evals: EvalRecord[], kind: TokenizerKind,
  codebooks: boolean, endTime: number): string | undefined {
  if (history.length === 0 || fs.readdirSync(dir).some(isEventFile)) return undefined;
  const wall = new Map<number, number>();
  let t = endTime;
  for (let i = history.length - 1; i >= 0; i--) {
    wall.set(history[i].step, t);
    const m = history[i], prev = history[i - 1];
    const dt = prev && m.elapsed > prev.elapsed ? m.elapsed - prev.elapsed : 0;
    t -= dt;
  }
  const events = RunEvents.open(dir, 0, kind, codebooks);
  let e = 0;
  for (const m of history) {
    events.step(m, wall.get(m.step));
    for (; e < evals.length && evals[e].step <= m.step; e++) events.eval(evals[e], wall.get(m.step));
  }
  events.close();
  return events.file;
}
