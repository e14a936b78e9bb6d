// Evaluation units and windows (paper §1.4) and nucleus sampling with the recurrent state.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { getPreset } from "../lib/config";
import { createModel, disposeModel } from "../lib/nn/params";
import { bitsPerByte, evaluate, evaluateStream, maskedNLLSum, scoredTextCounts, wordPerplexity } from "../lib/train/evaluate";
import { loadDataset } from "../lib/data/datasets";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { drawSample, drawToken, nucleusProbs, sampleTokens } from "../lib/train/sample";
import { imageGridPNG } from "../lib/data/image";
import { trainRun } from "../lib/train/loop";
import { spawnSync } from "node:child_process";
import { byteTokenizer, decodePrintable, encodeBytes, printableText } from "../lib/data/vocab";
import { BYTE_VOCAB_SIZE } from "../lib/data/vocab";
import { Rng } from "../lib/runtime/rng";

function close(a: number, b: number, tol = 1e-6, what = "value"): void {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

test("units: bpb = nats / ln 2; word-level perplexity = exp(nats / words)", () => {
  close(bitsPerByte(Math.LN2), 1, 1e-12);
  close(wordPerplexity(100, 50), Math.exp(2), 1e-12);
  assert.throws(() => wordPerplexity(1, 0), /word count 0 must be positive/);
});

test("maskedNLLSum: −Σ mask · log p(target), by hand", async () => {
  await initBackend(testBackend());
  const lp = tf.log(tf.tensor3d([[[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]])) as tf.Tensor3D; // [1, 2, 3]
  const mask = tf.tensor2d([[1, 0]]);
  const s = maskedNLLSum(lp, new Int32Array([1, 2]), mask);
  close(s.dataSync()[0], -Math.log(0.25), 1e-6, "masked");
  const full = maskedNLLSum(lp, new Int32Array([1, 2]), tf.ones([1, 2]) as tf.Tensor2D);
  close(full.dataSync()[0], -Math.log(0.25) - Math.log(0.7), 1e-6, "full");
  assert.throws(() => maskedNLLSum(lp, new Int32Array([3, 0]), mask), /target token 3 at position 0 is outside the vocabulary \[0, 3\)/);
  tf.dispose([lp, mask, s, full]);
});

test("evaluation resets the state per window of T: a stream scores as the sum of its windows", async () => {
  await initBackend(testBackend());
  const cfg = getPreset("tiny", { train: { updateLen: 16, batchSize: 2 } }); // T = 32, two segments per window
  const model = createModel(cfg.model, 5);
  const rng = new Rng(1);
  const stream = Uint16Array.from({ length: 3 * 32 + 10 }, () => 3 + rng.nextInt(256)); // 3 full windows + a padded one
  const before = tf.memory().numTensors;
  const all = evaluateStream(model, stream, cfg);
  assert.equal(tf.memory().numTensors, before, "evaluate leaked tensors");
  assert.equal(all.tokens, stream.length);
  assert.equal(all.windows, 4);
  let nats = 0;
  for (let w = 0; w < 4; w++) nats += evaluateStream(model, stream.subarray(32 * w, 32 * (w + 1)), cfg).nats;
  close(all.nats, nats, 1e-5, "nats");
  close(all.bpb, all.loss / Math.LN2, 1e-12, "bpb");
  close(all.ppl, Math.exp(all.loss), 1e-12, "ppl");
  assert.ok(all.loss > 0 && all.loss < 2 * Math.log(BYTE_VOCAB_SIZE), `untrained loss ${all.loss} should be near ln V`);
  const budget = evaluateStream(model, stream, cfg, { maxTokens: 40 }); // 2 windows
  assert.equal(budget.tokens, 64);
  assert.equal(budget.wordPpl, undefined, "no word count given");
  const words = evaluateStream(model, stream, cfg, { words: 20 });
  close(words.wordPpl!, Math.exp(words.nats / 20), 1e-12, "word ppl");
  disposeModel(model);
});

test("a dataset split reports bits per byte over its bytes and word-level perplexity over its words", async () => {
  await initBackend(testBackend());
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tvq-eval-")), "text.txt");
  fs.writeFileSync(file, "one two three four five six seven eight nine ten\n".repeat(60)); // 3,060 bytes
  const ds = loadDataset(`file:${file}`);
  const cfg = getPreset("tiny"); // T = 32
  const full = scoredTextCounts(ds, "validation", 32);
  assert.deepEqual(full, { bytes: ds.byteCounts.validation, words: ds.wordCounts!.validation });
  const part = scoredTextCounts(ds, "validation", 32, 40); // two windows = 64 bytes of text
  assert.equal(part.bytes, 64);
  const text = Buffer.from(ds.tokenizer.decode(ds.splits.validation.subarray(0, 64))).toString("latin1");
  assert.equal(part.words, text.split(/\s+/).filter((w) => w.length > 0).length);
  const model = createModel(cfg.model, 2);
  const r = evaluate(model, ds, "validation", cfg);
  assert.equal(r.bytes, ds.byteCounts.validation);
  close(r.bpb, r.nats / Math.LN2 / ds.byteCounts.validation, 1e-12, "bpb");
  close(r.wordPpl!, Math.exp(r.nats / ds.wordCounts!.validation), 1e-12, "word ppl");
  disposeModel(model);
});

test("nucleus: keeps the smallest top set reaching p, renormalized; temperature 0 is greedy", () => {
  const lp = [0.5, 0.3, 0.15, 0.05].map(Math.log);
  const p7 = nucleusProbs(lp, 0.7, 1);
  [0.625, 0.375, 0, 0].forEach((v, i) => close(p7[i], v, 1e-9, `p=0.7 [${i}]`));
  const p85 = nucleusProbs(lp, 0.85, 1);
  [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0].forEach((v, i) => close(p85[i], v, 1e-9, `p=0.85 [${i}]`));
  const p1 = nucleusProbs(lp, 1, 1);
  [0.5, 0.3, 0.15, 0.05].forEach((v, i) => close(p1[i], v, 1e-9, `p=1 [${i}]`));
  const small = nucleusProbs(lp, 0.1, 1);
  assert.deepEqual(Array.from(small), [1, 0, 0, 0], "the top token is always kept");
  assert.deepEqual(Array.from(nucleusProbs(lp, 0.9, 0)), [1, 0, 0, 0]);
  const hot = nucleusProbs(lp, 1, 2); // p^(1/2), renormalized
  const z = [0.5, 0.3, 0.15, 0.05].reduce((a, b) => a + Math.sqrt(b), 0);
  close(hot[3], Math.sqrt(0.05) / z, 1e-9, "temperature 2");
  assert.equal(drawToken(p7, 0.6), 0);
  assert.equal(drawToken(p7, 0.7), 1);
  assert.equal(drawToken(p7, 0.9999), 1);
  assert.throws(() => nucleusProbs(lp, 0, 1), /topP = 0 must be in \(0, 1\]/);
});

test("sampling with block length 1 is seeded, stays in the vocabulary and leaks nothing", async () => {
  await initBackend(testBackend());
  const cfg = getPreset("tiny");
  const model = createModel(cfg.model, 3);
  const before = tf.memory().numTensors;
  const a = sampleTokens(model, { length: 12, batch: 2, topP: 0.9, temperature: 1, seed: 4, prompt: [3 + 104, 3 + 105] });
  assert.equal(tf.memory().numTensors, before, "sampling leaked tensors");
  const b = sampleTokens(model, { length: 12, batch: 2, topP: 0.9, temperature: 1, seed: 4, prompt: [3 + 104, 3 + 105] });
  const c = sampleTokens(model, { length: 12, batch: 2, topP: 0.9, temperature: 1, seed: 5, prompt: [3 + 104, 3 + 105] });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  for (const row of a) for (const t of row) assert.ok(t >= 0 && t < cfg.model.vocabSize);
  assert.throws(() => sampleTokens(model, { length: 2, topP: 0.9, temperature: 1, seed: 1, prompt: [300] }), /prompt token 300 is outside the vocabulary \[0, 259\)/);
  disposeModel(model);
});

test("printableText: valid UTF-8 stays (multibyte too), invalid bytes and control characters become \\xNN, never U+FFFD", () => {
  const utf8 = (s: string) => Array.from(Buffer.from(s, "utf8"));
  const bytes = Uint8Array.from([
    ...utf8("naïve €5 ok"), // 2- and 3-byte characters
    0xe2, 0x82, // a 3-byte character cut after two bytes
    ...utf8(" 😀"), // a 4-byte character
    0x80, // a stray continuation byte
    0xc0, 0xaf, // an overlong "/"
    0xed, 0xa0, 0x80, // a UTF-16 surrogate, not allowed in UTF-8
    0x1b, ...utf8("[31m"), // ESC: a terminal would turn the text red
    0x0d, 0x0a, 0x09, 0x7f, // CR, newline, tab, DEL
    0xc2, 0x9b, // U+009B, the C1 control sequence introducer
    ...utf8("\\x41 ÿ"), // a backslash in the text is left alone; ÿ (U+00FF) is printable
    0xf0, // a lead byte at the end
  ]);
  const text = printableText(bytes);
  assert.equal(text, "naïve €5 ok\\xe2\\x82 😀\\x80\\xc0\\xaf\\xed\\xa0\\x80\\x1b[31m\\x0d\n\t\\x7f\\xc2\\x9b\\x41 ÿ\\xf0");
  assert.ok(!text.includes("\ufffd"));
  assert.equal(decodePrintable(byteTokenizer, encodeBytes(bytes)), text, "tokens decode the same way");
  // the valid text is unchanged: decoding it the usual way gives the same string
  const valid = Uint8Array.from(utf8("Grüße, 世界 😀\n\tend"));
  assert.equal(printableText(valid), Buffer.from(valid).toString("utf8"));
});

test("text samples decode with the tokenizer; image samples become a PNG grid", async () => {
  await initBackend(testBackend());
  const model = createModel(getPreset("tiny").model, 3);
  const texts = drawSample(model, { kind: "text", tokenizer: byteTokenizer }, { length: 8, batch: 2, topP: 0.9, temperature: 1, seed: 1, prompt: "ab" }).texts!;
  assert.equal(texts.length, 2);
  for (const t of texts) assert.ok(t.startsWith("ab"));
  const images = drawSample(model, { kind: "image", tokenizer: byteTokenizer, imageShape: [2, 2, 3] }, { batch: 2, topP: 1, temperature: 1, seed: 1 }).images!;
  const png = imageGridPNG(images, [2, 2, 3]);
  assert.equal(images.length, 2);
  assert.equal(images[0].length, 12);
  assert.deepEqual(Array.from(png.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  disposeModel(model);
});

test("npm run eval / sample on a trained run folder print JSON and text; bad input is a clear error", async () => {
  await initBackend(testBackend());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-cli-"));
  const file = path.join(dir, "text.txt");
  fs.writeFileSync(file, "one two three four five six seven eight nine ten\n".repeat(60));
  const out = path.join(dir, "run");
  const cfg = getPreset("tiny", { train: { maxSteps: 2, evalEvery: 0, evalTokens: 64 } });
  const r = await trainRun({ config: cfg, data: loadDataset(`file:${file}`), outDir: out, progress: false });
  disposeModel(r.model);
  const ROOT = path.resolve(__dirname, "..");
  const env = { ...process.env, TVQ_BACKEND: "cpu", TVQ_PROGRESS: "off" };
  const run = (script: string, args: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", script), ...args], { env, encoding: "utf8" });
  // the test split of this file: 147 bytes = 5 windows of T = 32 (the last one padded); the run's train.evalTokens = 64 = 2 windows
  const testBytes = loadDataset(`file:${file}`).byteCounts.test;
  assert.equal(testBytes, 147);
  const ev = run("eval.ts", ["--out", out, "--split", "test", "--quiet", "--json"]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal(ev.stdout.trim().split("\n").length, 1, "--json: one line");
  const line = JSON.parse(ev.stdout.trim());
  assert.equal(line.split, "test");
  assert.equal(line.step, 2);
  assert.deepEqual([line.windows, line.windows_total, line.tokens, line.tokens_total, line.bytes], [2, 5, 64, 147, 64], "the run's evalTokens by default");
  close(line.bpb, line.loss / Math.LN2, 1e-9, "byte data without EOS: bpb = loss / ln 2");
  assert.equal(line.word_ppl, null, "byte-level data reports bits per byte, no word perplexity");
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, "eval-test.json"), "utf8")), line);
  const all = run("eval.ts", ["--out", out, "--split", "test", "--quiet", "--all"]);
  assert.equal(all.status, 0, all.stderr);
  const saved = JSON.parse(fs.readFileSync(path.join(out, "eval-test.json"), "utf8"));
  assert.deepEqual([saved.windows, saved.tokens, saved.bytes], [5, 147, 147], "--all: the whole split");
  assert.equal(all.stdout, [
    `eval of ${out} (step 2; file:${file}, byte-level) on the test split`,
    "  scored 5 of 5 windows of T = 32: 147 of 147 tokens (100 %), 147 of 147 bytes",
    "  the whole split",
    `  bits per byte    ${saved.bpb.toPrecision(4)}`,
    `written to ${path.join(out, "eval-test.json")}`,
    "",
  ].join("\n"));
  const some = run("eval.ts", ["--out", out, "--split", "test", "--quiet", "--tokens", "40"]);
  assert.equal(some.status, 0, some.stderr);
  assert.match(some.stdout, /scored 2 of 5 windows of T = 32: 64 of 147 tokens \(43\.5 %\), 64 of 147 bytes\n  the first windows covering --tokens 40; --all scores the whole split\n/);
  assert.doesNotMatch(some.stdout, /perplexity|nats/, "byte data: bits per byte only");
  const both = run("eval.ts", ["--out", out, "--all", "--tokens", "40"]);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--all and --tokens 40 disagree/);
  const sm = run("sample.ts", ["--out", out, "--length", "16", "--prompt", "one ", "--seed", "2"]);
  assert.equal(sm.status, 0, sm.stderr);
  const m = /^----- sample 1 of 1 \(step 2, top-p 0.9, temperature 1, seed 2\) -----\none (.*)\n$/s.exec(sm.stdout);
  assert.ok(m, sm.stdout);
  // 16 sampled bytes of a barely trained model: each \xNN escape is one byte, every other character its UTF-8
  assert.ok(!m[1].includes("\ufffd"), "no U+FFFD");
  const escapes = m[1].match(/\\x[0-9a-f]{2}/g) ?? [];
  assert.equal(escapes.length + Buffer.byteLength(m[1].replace(/\\x[0-9a-f]{2}/g, ""), "utf8"), 16, m[1]);
  const bad = run("eval.ts", ["--out", out, "--preset", "tiny", "--set", "model.nCode=8"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /model\.nCode: 16 \(checkpoint\) vs 8 \(requested\)/);
  const none = run("sample.ts", ["--out", path.join(dir, "nothing")]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /is not a run folder/);
});
