// TBPTT batches (paper §6): inputs = [EOS] + targets[:-1], loss mask = target ≠ PAD,
// seeded shuffling, exact resume from a cursor, update-length segments, and padded evaluation batches.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { TrainBatches, batchSegment, epochOrder, evalBatches, makeBatch, segmentCount, sequenceCount } from "../lib/data/batches";
import { EOS_ID, PAD_ID } from "../lib/data/vocab";

// a stream of 3 "books" with EOS after each: 10 + 1, 7 + 1, 12 + 1 = 32 tokens
const stream = Uint16Array.from([
  ...Array.from({ length: 10 }, (_, i) => 10 + i), EOS_ID,
  ...Array.from({ length: 7 }, (_, i) => 30 + i), EOS_ID,
  ...Array.from({ length: 12 }, (_, i) => 50 + i), EOS_ID,
]);

test("inputs are targets shifted right behind an EOS prompt; loss mask; padded tail", () => {
  const T = 12;
  assert.equal(sequenceCount(stream, T), 3);
  const b = makeBatch(stream, [0, 2, -1], T);
  assert.deepEqual([b.B, b.T], [3, 12]);
  const row = (a: ArrayLike<number>, r: number): number[] => Array.from(a as Int32Array).slice(r * T, (r + 1) * T);
  assert.deepEqual(row(b.targets, 0), Array.from(stream.subarray(0, 12)));
  assert.deepEqual(row(b.inputs, 0), [EOS_ID, ...Array.from(stream.subarray(0, 11))]);
  // row 1: sequence 2 = tokens 24..31 (8 tokens), then 4 PAD targets
  assert.deepEqual(row(b.targets, 1), [...Array.from(stream.subarray(24, 32)), PAD_ID, PAD_ID, PAD_ID, PAD_ID]);
  assert.deepEqual(row(b.lossMask, 1), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  assert.equal(row(b.inputs, 1)[8], EOS_ID, "input after the final EOS target");
  // a PAD row
  assert.deepEqual(row(b.targets, 2), new Array(12).fill(PAD_ID));
  assert.deepEqual(row(b.lossMask, 2), new Array(12).fill(0));
  assert.equal(row(b.inputs, 2)[0], EOS_ID);
  assert.throws(() => makeBatch(stream, [3], T), /sequence index 3 \(row 0\) is outside/);
});

test("segments of update length U cover the batch; U must divide T", () => {
  const b = makeBatch(stream, [1, 0], 12);
  assert.equal(segmentCount(12, 4), 3);
  assert.throws(() => segmentCount(12, 5), /must divide the sequence length T = 12/);
  const segs = [0, 1, 2].map((j) => batchSegment(b, j, 4));
  for (let r = 0; r < 2; r++) {
    const joined = segs.flatMap((s) => Array.from(s.inputs.subarray(r * 4, r * 4 + 4)));
    assert.deepEqual(joined, Array.from(b.inputs.subarray(r * 12, r * 12 + 12)));
  }
  assert.deepEqual([segs[1].B, segs[1].T, segs[1].targets.length], [2, 4, 8]);
  assert.throws(() => batchSegment(b, 3, 4), /segment 3 is outside \[0, 3\)/);
});

test("seeded shuffle: deterministic, a permutation per epoch, different seeds differ", () => {
  const a = epochOrder(50, 7, 0), b = epochOrder(50, 7, 0), c = epochOrder(50, 8, 0), d = epochOrder(50, 7, 1);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a, d);
  assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  const long = Uint16Array.from({ length: 100 * 4 }, (_, i) => 3 + (i % 200));
  const x = new TrainBatches(long, { B: 3, T: 4, seed: 1 }), y = new TrainBatches(long, { B: 3, T: 4, seed: 1 });
  for (let k = 0; k < 5; k++) assert.deepEqual(x.next(), y.next());
  // one epoch of 100 sequences visits each exactly once (batches run across the epoch end)
  const z = new TrainBatches(long, { B: 10, T: 4, seed: 3 });
  const seen = Array.from({ length: 10 }, () => Array.from(z.nextIndices())).flat();
  assert.deepEqual(seen.sort((p, q) => p - q), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(z.cursor().epoch, 0);
  z.nextIndices();
  assert.equal(z.cursor().epoch, 1);
});

test("resume from a cursor equals the uninterrupted order (across epochs)", () => {
  const long = Uint16Array.from({ length: 37 * 8 }, (_, i) => 3 + (i % 250));
  const full = new TrainBatches(long, { B: 5, T: 8, seed: 42 });
  const ref = Array.from({ length: 20 }, () => full.next());
  const first = new TrainBatches(long, { B: 5, T: 8, seed: 42 });
  for (let k = 0; k < 9; k++) first.next();
  const saved = JSON.parse(JSON.stringify(first.cursor()));
  const resumed = TrainBatches.resume(long, saved);
  for (let k = 9; k < 20; k++) assert.deepEqual(resumed.next(), ref[k], `batch ${k}`);
  assert.equal(resumed.cursor().batches, 20);
  assert.throws(() => new TrainBatches(long, { B: 4, T: 8, seed: 42 }, saved), /cannot resume the batch order.*B=5/);
  assert.throws(() => TrainBatches.resume(long.subarray(0, 100), saved), /nSeq=37/);
});

test("evaluation: every sequence once in order, last batch padded with PAD rows", () => {
  const T = 5, B = 3;
  const n = sequenceCount(stream, T); // 32 tokens → 7 sequences (last one 2 real tokens)
  assert.equal(n, 7);
  const batches = Array.from(evalBatches(stream, { B, T }));
  assert.equal(batches.length, 3);
  const targets = batches.flatMap((b) => Array.from(b.targets));
  assert.deepEqual(targets.slice(0, 32), Array.from(stream));
  assert.deepEqual(targets.slice(32), new Array(3 * 3 * 5 - 32).fill(PAD_ID));
  const masked = batches.reduce((s, b) => s + b.lossMask.reduce((a, m) => a + m, 0), 0);
  assert.equal(masked, 32, "every real token scored once");
  const last = batches[2];
  assert.deepEqual(Array.from(last.lossMask.subarray(T, 3 * T)), new Array(2 * T).fill(0), "rows 2 and 3 of the last batch are PAD rows");
  assert.equal(Array.from(evalBatches(stream, { B, T, maxSequences: 4 })).length, 2);
  // images: one image per sequence, T = h·w·c
  const images = Uint16Array.from({ length: 4 * 6 }, (_, i) => 3 + i);
  const ib = Array.from(evalBatches(images, { B: 4, T: 6 }))[0];
  assert.deepEqual(Array.from(ib.targets.subarray(6, 12)), [9, 10, 11, 12, 13, 14]);
  assert.deepEqual(Array.from(ib.inputs.subarray(6, 12)), [EOS_ID, 9, 10, 11, 12, 13]);
});
