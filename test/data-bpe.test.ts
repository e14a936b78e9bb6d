// Byte-level BPE: exact round trip on arbitrary bytes, determinism, save/load, special ids, errors.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { BpeTokenizer, splitWords, tokenizerFromJSON, trainBpe } from "../lib/data/bpe";
import { Rng } from "../lib/runtime/rng";
import { BYTE_VOCAB_SIZE, decodeText, encodeText } from "../lib/data/vocab";

const corpus = Buffer.from(
  Array.from({ length: 300 }, (_, i) => `The quick brown fox ${i % 7} jumps over the lazy dog. Über naïve café — "quoted", 3.14!\r\n`).join(""),
  "utf8",
);

test("splitWords covers the input and keeps a leading space with its word", () => {
  const b = Buffer.from("Hello  world,\n\n  x1 22");
  const ends = Array.from(splitWords(b));
  const words: string[] = [];
  let s = 0;
  for (const e of ends) { words.push(b.toString("latin1", s, e)); s = e; }
  assert.equal(words.join(""), b.toString("latin1"));
  assert.deepEqual(words, ["Hello", " ", " world", ",", "\n\n ", " x", "1", " 22"]);
});

test("train → encode → decode round trips exactly, also on random bytes", () => {
  const tok = trainBpe([corpus], 320);
  assert.equal(tok.vocabSize, 320);
  const ids = tok.encode(corpus);
  assert.ok(ids.length < corpus.length / 2, `compression ${corpus.length} → ${ids.length}`);
  assert.deepEqual(Buffer.from(tok.decode(ids)), corpus);
  for (const id of ids) assert.ok(id >= 3 && id < 320);
  const rng = new Rng(1);
  const noise = Uint8Array.from({ length: 5000 }, () => rng.nextInt(256));
  assert.deepEqual(tok.decode(tok.encode(noise)), noise);
  assert.equal(decodeText(tok, encodeText(tok, "naïve fox jumps")), "naïve fox jumps");
  assert.deepEqual(tok.encode(new Uint8Array(0)), new Uint16Array(0));
});

test("training is deterministic and save/load gives the same tokenizer", () => {
  const a = trainBpe([corpus.subarray(0, 5000), corpus.subarray(5000)], 350);
  const b = trainBpe([corpus.subarray(0, 5000), corpus.subarray(5000)], 350);
  assert.deepEqual(a.toJSON(), b.toJSON());
  const json = JSON.parse(JSON.stringify(a.toJSON()));
  const c = tokenizerFromJSON(json);
  assert.equal(c.kind, "bpe");
  assert.deepEqual(c.encode(corpus), a.encode(corpus));
  assert.deepEqual(tokenizerFromJSON({ kind: "bytes" }).vocabSize, BYTE_VOCAB_SIZE);
});

test("merges: the first merge is the most frequent pair; stops when pairs are rare", () => {
  const text = Buffer.from("ab ab ab ab cd");
  const tok = trainBpe([text], 300);
  assert.deepEqual(Array.from(tok.merges.subarray(0, 2)), [97 + 3, 98 + 3]);
  assert.ok(tok.vocabSize < 300, "stops early once every pair occurs once");
  assert.deepEqual(Buffer.from(tok.decode(tok.encode(text))), text);
});

test("clear errors: bad vocab size, out-of-range ids, corrupt JSON", () => {
  assert.throws(() => trainBpe([corpus], 259), /vocabSize 259/);
  const tok = trainBpe([corpus], 300);
  assert.throws(() => tok.decode([5, 300]), /token 300 at position 1/);
  assert.throws(() => new BpeTokenizer([3, 400]), /merge 0 = \(3, 400\)/);
  assert.throws(() => tokenizerFromJSON({ ...tok.toJSON(), vocabSize: 999 }), /corrupt/);
  assert.throws(() => tokenizerFromJSON({ kind: "spm" } as never), /unknown tokenizer kind/);
});
