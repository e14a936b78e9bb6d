// Byte vocabulary (paper §6: 0 pad, 1 eos, 2 unk, byte b → b+3, V = 259) and the seeded Rng.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { BYTE_VOCAB_SIZE, EOS_ID, PAD_ID, UNK_ID, byteTokenizer, checkTokenRange, decodeBytes, decodeText, encodeBytes, encodeText } from "../lib/data/vocab";
import { Rng } from "../lib/runtime/rng";

test("byte vocabulary: ids and round trip over all 256 bytes", () => {
  assert.equal(PAD_ID, 0);
  assert.equal(EOS_ID, 1);
  assert.equal(UNK_ID, 2);
  assert.equal(BYTE_VOCAB_SIZE, 259);
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const t = encodeBytes(all);
  assert.equal(t[0], 3);
  assert.equal(t[255], 258);
  assert.deepEqual(decodeBytes(t), all);
  assert.equal(decodeText(byteTokenizer, encodeText(byteTokenizer, "héllo\n")), "héllo\n");
  // specials are dropped on decode
  assert.deepEqual(decodeBytes([1, 3 + 65, 0, 2, 3 + 66]), Uint8Array.from([65, 66]));
});

test("token range errors name the value and the position", () => {
  assert.throws(() => decodeBytes([3, 4, 259]), /token 259 at position 2 .*\[0, 259\)/);
  assert.throws(() => decodeBytes([-1]), /token -1 at position 0/);
  assert.throws(() => checkTokenRange([0, 1.5], 10, "x"), /x: token 1.5 at position 1/);
  assert.doesNotThrow(() => checkTokenRange(new Uint16Array([0, 258]), 259));
});

test("Rng: deterministic, state round trip, unbiased-looking ints", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.nextUint32()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.nextUint32()));
  const saved = a.getState();
  const cont = Array.from({ length: 5 }, () => a.nextFloat());
  const r = Rng.fromState(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(Array.from({ length: 5 }, () => r.nextFloat()), cont);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 6000; i++) counts[new Rng([7, i]).nextInt(6)]++;
  for (const n of counts) assert.ok(n > 850 && n < 1150, `counts ${counts}`);
  assert.throws(() => Rng.fromState([1, 2, 3]), /four uint32/);
});
