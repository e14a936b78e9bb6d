// Presets are valid data, getPreset deep-merges, and every validation rule fires with a message naming field and fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Config, DeepPartial, configErrors, getPreset, presetNames, validateConfig, checkVocabFits, PRESETS } from "../lib/config";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resumeConfigDiff } from "../lib/train/checkpoint";
import { readRunConfig } from "../lib/train/run-folder";
import { jsonDiff } from "../lib/util/json";

test("every preset validates; the paper presets carry the paper's shapes", () => {
  for (const name of presetNames()) assert.doesNotThrow(() => validateConfig(getPreset(name)), name);
  const e = getPreset("paper-enwik8");
  assert.deepEqual([e.train.sequenceLen, e.model.blockLen, e.model.memLen, e.model.nCode, e.train.batchSize], [8192, 512, 512, 512, 32]);
  assert.equal(getPreset("paper-imagenet64").train.sequenceLen, 12_288);
  assert.equal(getPreset("paper-pg19").model.vocabSize, 32_000);
  assert.equal(getPreset("paper-throughput").train.batchSize, 8);
});

test("getPreset deep-merges overrides into a copy and rejects unknown names and fields", () => {
  const c = getPreset("tiny", { model: { nCode: 32 }, train: { seed: 7 } });
  assert.equal(c.model.nCode, 32);
  assert.equal(c.train.seed, 7);
  assert.equal(c.model.dModel, PRESETS.tiny.model.dModel);
  assert.equal(PRESETS.tiny.model.nCode, 16, "the preset itself is untouched");
  assert.throws(() => getPreset("nope"), /preset 'nope' does not exist; use one of: .*tiny/);
  assert.throws(() => getPreset("tiny", { model: { nCodes: 3 } } as unknown as DeepPartial<Config>), /config\.model\.nCodes is not a config field/);
});

const cases: [string, DeepPartial<Config>, RegExp][] = [
  ["L divides T", { model: { blockLen: 5 } }, /model\.blockLen = 5: L must divide train\.sequenceLen T = 32/],
  ["L divides updateLen", { model: { blockLen: 16, memLen: 16 }, train: { updateLen: 8 } }, /L must divide train\.updateLen = 8/],
  ["updateLen divides T", { train: { updateLen: 24 } }, /train\.updateLen = 24: the update length must divide T = 32/],
  ["parallel needs M = L", { model: { memLen: 4 } }, /model\.memLen = 4: attnType vq-parallel .* M must equal L = 8/],
  ["S ≥ 1", { model: { nCode: 0 } }, /model\.nCode = 0: must be an integer ≥ 1/],
  ["d_k > 0", { model: { dK: 0 } }, /model\.dK = 0: must be an integer ≥ 1/],
  ["dropout in [0,1)", { model: { pDropRes: 1 } }, /model\.pDropRes = 1: a dropout rate must be in \[0, 1\)/],
  ["vocab ≥ 4", { model: { vocabSize: 3 } }, /model\.vocabSize = 3: must be an integer ≥ 4/],
  ["quadratic needs updateLen = T", { model: { attnType: "full" }, train: { updateLen: 16 } }, /train\.updateLen = 16: attnType full .* set updateLen = sequenceLen/],
  ["shga is single-head", { model: { nHead: 2 } }, /model\.nHead = 2: headType shga .* requires nHead = 1/],
  ["shga has no MLP", { model: { dFF: 8 } }, /model\.dFF = 8: headType shga has no MLP/],
  ["mha needs an MLP", { model: { headType: "mha", nHead: 2 } }, /model\.dFF = 0: headType mha layers are attention \+ MLP/],
  ["attnType", { model: { attnType: "sparse" as never } }, /model\.attnType = "sparse": use one of/],
  ["headType", { model: { headType: "gqa" as never } }, /model\.headType = "gqa": use one of/],
  ["gamma", { model: { cGamma: 1 } }, /model\.cGamma = 1: the codebook EMA rate must be in \[0, 1\)/],
  ["beta", { model: { cBeta: -1 } }, /model\.cBeta = -1/],
  ["eScale", { model: { eScale: 0 } }, /model\.eScale = 0/],
  ["peLam", { model: { peLam: 1 } }, /model\.peLam = 1/],
  ["memLen ≥ 1", { model: { attnType: "vq-recurrent", memLen: 0 } }, /model\.memLen = 0: must be an integer ≥ 1/],
  ["batch", { train: { batchSize: 0 } }, /train\.batchSize = 0/],
  ["lr", { train: { lrMax: 0 } }, /train\.lrMax = 0: the peak learning rate must be > 0/],
  ["optimizer", { train: { optimizer: "sgd" as never } }, /train\.optimizer = "sgd": use adamw or adafactor/],
  ["beta1", { train: { adamB1: 1 } }, /train\.adamB1 = 1/],
  ["eps", { train: { adamEps: 0 } }, /train\.adamEps = 0/],
  ["wd", { train: { wdLam: -1 } }, /train\.wdLam = -1/],
  ["clip", { train: { gradClip: -1 } }, /train\.gradClip = -1/],
  ["lrFinalFrac", { train: { lrFinalFrac: 2 } }, /train\.lrFinalFrac = 2/],
  ["topP", { sampling: { topP: 0 } }, /sampling\.topP = 0: nucleus p must be in \(0, 1\]/],
  ["temperature", { sampling: { temperature: 0 } }, /sampling\.temperature = 0/],
];
for (const [what, override, msg] of cases) {
  test(`validation: ${what}`, () => {
    assert.throws(() => getPreset("tiny", override), msg);
  });
}

test("vq-recurrent accepts any M ≥ 1; a valid config reports no errors", () => {
  assert.deepEqual(configErrors(getPreset("tiny", { model: { attnType: "vq-recurrent", memLen: 3 } })), []);
  assert.deepEqual(configErrors(getPreset("cpu-small")), []);
});

test("a config written before the rename (attnType vq-linear) validates as vq-recurrent and resumes its checkpoint", () => {
  const renamed = getPreset("tiny", { model: { attnType: "vq-linear" as never, memLen: 3 } });
  assert.equal(renamed.model.attnType, "vq-recurrent");
  const stored = JSON.parse(JSON.stringify(renamed).replace('"vq-recurrent"', '"vq-linear"')) as Config; // as config.json holds it
  assert.deepEqual(resumeConfigDiff(stored, renamed), []);
  assert.equal(validateConfig(stored).model.attnType, "vq-recurrent");
});

test("a config stored before model.fullChunk existed resumes, is reused by runExperiment and reads back with fullChunk 0", () => {
  const today = getPreset("tiny");
  assert.equal(today.model.fullChunk, 0);
  const stored = JSON.parse(JSON.stringify(today)) as Config; // as an older kit's config.json and checkpoint hold it
  delete (stored.model as { fullChunk?: number }).fullChunk;
  assert.deepEqual(resumeConfigDiff(stored, today), [], "a checkpoint without the field resumes");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tvq-oldcfg-"));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(stored));
  const read = readRunConfig(dir);
  assert.equal(read.model.fullChunk, 0);
  assert.deepEqual(jsonDiff(read, today), [], "runExperiment's reuse check sees no difference");
  fs.rmSync(dir, { recursive: true, force: true });
  // a field that is there is kept, and a wrong value is still a difference
  const chunked = getPreset("tiny", { model: { fullChunk: 8 } });
  assert.notDeepEqual(resumeConfigDiff(stored, chunked), []);
});

test("all problems are listed at once", () => {
  const c = getPreset("tiny");
  c.model.dK = 0;
  c.train.lrMax = -1;
  assert.equal(configErrors(c).length, 2);
  assert.throws(() => validateConfig(c), /invalid config \(preset tiny\):\n {2}model\.dK = 0.*\n {2}train\.lrMax = -1/s);
});

test("checkVocabFits names the vocab size, the offending id and the fix", () => {
  const m = getPreset("tiny").model;
  assert.doesNotThrow(() => checkVocabFits(m, 258, "enwik8"));
  assert.throws(() => checkVocabFits(m, 300, "the BPE data"), /model\.vocabSize = 259: the BPE data holds token id 300; set vocabSize ≥ 301/);
});
