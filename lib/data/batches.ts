/**
 * Batches for truncated backpropagation through time (paper §6 and 1.4).
 *
 * A split is one token stream. It is cut into sequences of T tokens (T = sequence_len; the last one is padded
 * with PAD; an image dataset has T = h·w·c, so one image is one sequence). For a sequence with targets y[0..T),
 *   inputs    x = [EOS] + y[:-1]               (the EOS prompts the sequence)
 *   loss_mask m[t] = [y[t] ≠ PAD].
 * (The official pipeline also carries document ids, cumsum(x = EOS); nothing reads them, so they are not built.)
 * A batch is B such sequences, flat row-major [B*T]. The trainer walks each batch's T in segments of
 * U = update_len tokens (`batchSegment`), carrying the recurrent cache between segments; the state resets with
 * every new batch. Training draws sequences in a seeded random order (a fresh permutation per epoch, batches
 * run across epoch ends, so every batch is full); the order's position is a small JSON cursor, so a resumed run
 * continues with exactly the batches an uninterrupted run would see. Evaluation visits every sequence once, in
 * order, and pads a short last batch with PAD rows (loss mask 0).
 */
import { EOS_ID, PAD_ID } from "./vocab";
import { Rng } from "../runtime/rng";

/** Token stream of one split [N]. */
export type TokenStream = Uint16Array | Int32Array;

/** B rows × T columns, each array flat row-major [B*T]. */
export interface Batch {
  B: number;
  T: number;
  /** x = [EOS] + y[:-1] per row [B*T] */
  inputs: Int32Array;
  /** y [B*T] */
  targets: Int32Array;
  /** 1 where y ≠ PAD [B*T] */
  lossMask: Float32Array;
}

/** Number of T-length sequences in a stream of N tokens: ceil(N / T). */
export function sequenceCount(stream: TokenStream, T: number): number {
  checkT(T);
  return Math.ceil(stream.length / T);
}

function checkT(T: number): void {
  if (!Number.isInteger(T) || T < 1) throw new Error(`sequence length T = ${T} must be a positive integer`);
}

/**
 * Writes sequence `s` of `stream` (or a PAD row when s < 0) into row `row` of `batch`.
 */
function fillRow(batch: Batch, row: number, stream: TokenStream, s: number): void {
  const { T } = batch;
  const o = row * T;
  const start = s * T;
  let prev = EOS_ID;
  for (let t = 0; t < T; t++) {
    const i = start + t;
    const y = s >= 0 && i < stream.length ? stream[i] : PAD_ID;
    batch.inputs[o + t] = prev;
    batch.targets[o + t] = y;
    batch.lossMask[o + t] = y === PAD_ID ? 0 : 1;
    prev = y;
  }
}

/** An all-zero batch [B*T]. */
function emptyBatch(B: number, T: number): Batch {
  return { B, T, inputs: new Int32Array(B * T), targets: new Int32Array(B * T), lossMask: new Float32Array(B * T) };
}

/**
 * The batch whose row r is sequence seqIndices[r] (−1 gives a PAD row). stream: [N] → Batch [B*T], B = seqIndices.length
 */
export function makeBatch(stream: TokenStream, seqIndices: ArrayLike<number>, T: number): Batch {
  checkT(T);
  const n = sequenceCount(stream, T);
  const batch = emptyBatch(seqIndices.length, T);
  for (let r = 0; r < seqIndices.length; r++) {
    const s = seqIndices[r];
    if (!(Number.isInteger(s) && s >= -1 && s < n)) throw new Error(`sequence index ${s} (row ${r}) is outside [−1, ${n})`);
    fillRow(batch, r, stream, s);
  }
  return batch;
}

/** Number of update segments of length U in T (U must divide T). */
export function segmentCount(T: number, U: number): number {
  if (!Number.isInteger(U) || U < 1 || T % U !== 0) throw new Error(`update length U = ${U} must divide the sequence length T = ${T}`);
  return T / U;
}

/** Columns [j·U, (j+1)·U) of every row: Batch [B*T] → Batch [B*U]. */
export function batchSegment(batch: Batch, j: number, U: number): Batch {
  const nSeg = segmentCount(batch.T, U);
  if (!Number.isInteger(j) || j < 0 || j >= nSeg) throw new Error(`segment ${j} is outside [0, ${nSeg}) for T = ${batch.T}, U = ${U}`);
  const out = emptyBatch(batch.B, U);
  for (let r = 0; r < batch.B; r++) {
    const from = r * batch.T + j * U, to = from + U;
    out.inputs.set(batch.inputs.subarray(from, to), r * U);
    out.targets.set(batch.targets.subarray(from, to), r * U);
    out.lossMask.set(batch.lossMask.subarray(from, to), r * U);
  }
  return out;
}

/** Where the training order stands: JSON-serializable, stored in checkpoints. */
export interface BatchCursor {
  seed: number;
  B: number;
  T: number;
  /** number of sequences in the split (a resume on different data is refused) */
  nSeq: number;
  /** current epoch (its permutation is derived from (seed, epoch)) */
  epoch: number;
  /** next position within the epoch's permutation */
  pos: number;
  /** batches handed out so far */
  batches: number;
}

/** The permutation of sequence indices for one epoch [nSeq]; depends only on (seed, epoch). */
export function epochOrder(nSeq: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(nSeq);
  for (let i = 0; i < nSeq; i++) order[i] = i;
  return new Rng([seed, epoch]).shuffle(order);
}

/**
 * Training batches in a seeded shuffled order, endless (epoch after epoch).
 * `next()` → Batch [B*T]; `cursor()` → BatchCursor; `TrainBatches.resume(stream, cursor)` continues exactly.
 */
export class TrainBatches {
  private order: Int32Array;
  private state: BatchCursor;

  constructor(private readonly stream: TokenStream, opts: { B: number; T: number; seed: number }, cursor?: BatchCursor) {
    const { B, T, seed } = opts;
    checkT(T);
    if (!Number.isInteger(B) || B < 1) throw new Error(`batch size B = ${B} must be a positive integer`);
    const nSeq = sequenceCount(stream, T);
    if (nSeq === 0) throw new Error(`the training split is empty: no sequences of T = ${T}`);
    if (cursor) {
      if (cursor.B !== B || cursor.T !== T || cursor.seed !== seed || cursor.nSeq !== nSeq) {
        throw new Error(
          `cannot resume the batch order: checkpoint has B=${cursor.B}, T=${cursor.T}, seed=${cursor.seed}, nSeq=${cursor.nSeq} but this run has ` +
            `B=${B}, T=${T}, seed=${seed}, nSeq=${nSeq}; resume with the same config and data, or start a new run`,
        );
      }
      this.state = { ...cursor };
    } else {
      this.state = { seed, B, T, nSeq, epoch: 0, pos: 0, batches: 0 };
    }
    this.order = epochOrder(nSeq, seed, this.state.epoch);
  }

  /** Continue from a saved cursor. */
  static resume(stream: TokenStream, cursor: BatchCursor): TrainBatches {
    return new TrainBatches(stream, { B: cursor.B, T: cursor.T, seed: cursor.seed }, cursor);
  }

  /** The position after the batches handed out so far (a copy). */
  cursor(): BatchCursor {
    return { ...this.state };
  }

  /** Sequence indices of the next batch [B]. */
  nextIndices(): Int32Array {
    const st = this.state;
    const idx = new Int32Array(st.B);
    for (let r = 0; r < st.B; r++) {
      if (st.pos >= st.nSeq) {
        st.epoch++;
        st.pos = 0;
        this.order = epochOrder(st.nSeq, st.seed, st.epoch);
      }
      idx[r] = this.order[st.pos++];
    }
    st.batches++;
    return idx;
  }

  /** The next training batch [B*T]. */
  next(): Batch {
    return makeBatch(this.stream, this.nextIndices(), this.state.T);
  }
}

/**
 * Evaluation batches: every sequence once in order (non-overlapping windows of T), B rows per batch, the last
 * batch filled up with PAD rows. maxSequences limits how many sequences are visited (0 or undefined = all).
 */
export function* evalBatches(stream: TokenStream, opts: { B: number; T: number; maxSequences?: number }): Generator<Batch> {
  const { B, T } = opts;
  if (!Number.isInteger(B) || B < 1) throw new Error(`batch size B = ${B} must be a positive integer`);
  const n = Math.min(sequenceCount(stream, T), opts.maxSequences || Infinity);
  for (let s = 0; s < n; s += B) {
    const idx = new Int32Array(B);
    for (let r = 0; r < B; r++) idx[r] = s + r < n ? s + r : -1;
    yield makeBatch(stream, idx, T);
  }
}
