// The Transformer-VQ model: parameter count of the paper's Enwik8 model, shapes and init, the four attention
// forms agree end to end, carried state, causality, codebook EMA, dropout determinism, errors, no leaks.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend, testBackends } from "./helpers/backend";
import { DeepPartial, ModelConfig, getPreset } from "../lib/config";
import { forward, updateCodebooks } from "../lib/nn/model";
import { Model, countParamsOf, createModel, disposeModel, paramShapes } from "../lib/nn/params";
import { RecurrentState, disposeState, initState, stateFromTensors, stateTensors } from "../lib/nn/state";
import { CodeStats } from "../lib/nn/vq";

function tinyModel(over: DeepPartial<ModelConfig> = {}): ModelConfig {
  return getPreset("tiny", { model: { pDropRes: 0, pDropSin: 0, ...over }, train: { sequenceLen: 32, updateLen: 32 } }).model;
}

function tokens(B: number, n: number, seed: number, V = 259): tf.Tensor2D {
  let s = seed;
  return tf.tensor2d(Array.from({ length: B * n }, () => (s = (s * 1103515245 + 12345) % 2147483648) % V), [B, n], "int32");
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** logProbs of one eval call from a fresh state (disposes everything else). */
function evalLogProbs(m: Model, ids: tf.Tensor2D, blockLen?: number): tf.Tensor3D {
  return tf.tidy(() => {
    const st = initState(m, ids.shape[0]);
    const out = forward(m, ids, st, { training: false, blockLen });
    return out.logProbs;
  });
}

test("parameter count of paper-enwik8 is 187,679,491 (codebooks included), from shapes alone", () => {
  assert.equal(countParamsOf(getPreset("paper-enwik8").model), 187_679_491);
  const names = paramShapes(getPreset("paper-enwik8").model).map((s) => s.name);
  assert.equal(new Set(names).size, names.length, "names are unique");
  assert.equal(names.filter((n) => n.endsWith(".c_sum")).length, 48, "48 GAU sublayers");
});

test("createModel allocates exactly paramShapes (names, order, shapes); init is deterministic per seed", async () => {
  await initBackend(testBackend());
  const cfg = tinyModel({ eTie: true, ePreln: true, peAbs: true });
  const m = createModel(cfg, 3);
  const specs = paramShapes(cfg);
  const trainable = specs.filter((s) => s.trainable);
  assert.deepEqual([...m.params.keys()], trainable.map((s) => s.name));
  trainable.forEach((s) => assert.deepEqual(m.params.get(s.name)!.shape, s.shape, s.name));
  assert.deepEqual(m.codebooks.map((c) => c.name), ["layer0.attn0", "layer0.attn1"]);
  assert.deepEqual(m.codebooks[0].cSum.shape, [1, cfg.nCode, cfg.dK]);
  assert.equal(countParamsOf(m), countParamsOf(cfg));
  const m2 = createModel(cfg, 3), m3 = createModel(cfg, 4);
  assert.equal(maxAbs(m.params.get("layer0.attn0.wq")!, m2.params.get("layer0.attn0.wq")!), 0);
  assert.ok(maxAbs(m.params.get("layer0.attn0.wq")!, m3.params.get("layer0.attn0.wq")!) > 0.01);
  assert.equal(tf.sum(m.params.get("layer0.attn0.xl_u")!).dataSync()[0], 0, "u starts at zero");
  assert.equal(tf.mean(m.codebooks[0].cCount).dataSync()[0], 1, "c_count starts at one");
  [m, m2, m3].forEach(disposeModel);
});

for (const backend of testBackends()) {
  test(`[${backend}] vq-recurrent, vq-parallel, vq-quadratic give the same log-probs; blockLen 1 (sampling) too`, async () => {
    await initBackend(backend);
    const ids = tokens(2, 32, 1);
    const base = createModel(tinyModel({ attnType: "vq-parallel" }), 5);
    const ref = evalLogProbs(base, ids);
    const sums = tf.tidy(() => tf.sum(tf.exp(ref), -1));
    assert.ok(maxAbs(sums, tf.onesLike(sums)) < 1e-5, "log-probs normalize");
    for (const attnType of ["vq-recurrent", "vq-quadratic"] as const) {
      const m: Model = { ...base, config: { ...base.config, attnType } };
      const lp = evalLogProbs(m, ids);
      assert.ok(maxAbs(lp, ref) < 1e-4, `${attnType}: ${maxAbs(lp, ref)}`);
      lp.dispose();
    }
    const one = evalLogProbs(base, ids, 1);
    assert.ok(maxAbs(one, ref) < 1e-4, `blockLen 1: ${maxAbs(one, ref)}`);
    tf.dispose([ids, ref, sums, one]);
    disposeModel(base);
  });
}

test("the three VQ forms also give the same parameter gradients (training mode, same dropout seed)", async () => {
  await initBackend(testBackend());
  const ids = tokens(2, 32, 9);
  const base = createModel(getPreset("tiny").model, 13);
  const grads = (attnType: ModelConfig["attnType"]) => tf.tidy(() => {
    const m: Model = { ...base, config: { ...base.config, attnType } };
    const { grads: g } = tf.variableGrads(() => {
      const out = forward(m, ids, initState(m, 2), { training: true, seed: 3 });
      return tf.add(tf.neg(tf.mean(tf.sum(tf.mul(out.logProbs, tf.oneHot(ids, 259)), -1))), out.commitLoss) as tf.Scalar;
    }, [...base.params.values()]);
    return tf.concat(Object.values(g).map((t) => t.reshape([-1])));
  });
  const ref = grads("vq-parallel");
  for (const attnType of ["vq-recurrent", "vq-quadratic"] as const) {
    const g = grads(attnType);
    const rel = maxAbs(g, ref) / tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]);
    assert.ok(rel < 1e-4, `${attnType}: relative gradient difference ${rel}`);
    g.dispose();
  }
  tf.dispose([ids, ref]);
  disposeModel(base);
});

for (const backend of testBackends()) {
  test(`[${backend}] full attention in chunks (model.fullChunk) = unchunked: log-probs and every parameter gradient (≤ 1e-5)`, async () => {
    await initBackend(backend);
    for (const [headType, fullChunk] of [["shga", 8], ["shga", 12], ["mha", 10]] as const) { // 12, 10: T = 32 not a multiple
      const cfg = tinyModel({ attnType: "full", headType, pDropSin: 0.1, pDropRes: 0.1, ...(headType === "mha" ? { nHead: 2, dK: 8, dV: 8, dFF: 32 } : {}) });
      const base = createModel(cfg, 21);
      const ids = tokens(2, 32, 4);
      const run = (C: number) => tf.tidy(() => {
        const m: Model = { ...base, config: { ...cfg, fullChunk: C } };
        const { value, grads } = tf.variableGrads(() => {
          const out = forward(m, ids, initState(m, 2), { training: true, seed: 5 });
          return tf.neg(tf.mean(tf.sum(tf.mul(out.logProbs, tf.oneHot(ids, 259)), -1))) as tf.Scalar;
        }, [...base.params.values()]);
        const lp = evalLogProbs(m, ids);
        return { lp, value, g: tf.concat(Object.values(grads).map((t) => t.reshape([-1]))) };
      });
      const ref = run(0), got = run(fullChunk);
      const rel = (a: tf.Tensor, b: tf.Tensor) => maxAbs(a, b) / tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
      assert.ok(rel(ref.lp, got.lp) <= 1e-5, `${headType} C=${fullChunk}: log-probs relative ${rel(ref.lp, got.lp)}`);
      assert.ok(rel(ref.g, got.g) <= 1e-5, `${headType} C=${fullChunk}: gradients relative ${rel(ref.g, got.g)}`);
      tf.dispose([ids, ref.lp, ref.value, ref.g, got.lp, got.value, got.g]);
      disposeModel(base);
    }
  });
}

test("MQA and MHA models: parallel = quadratic; full attention runs", async () => {
  await initBackend(testBackend());
  const ids = tokens(1, 32, 2);
  for (const headType of ["mha", "mqa"] as const) {
    const cfg = tinyModel({ headType, nHead: 4, dK: 8, dV: 8, dFF: 64 });
    const m = createModel(cfg, 6);
    const a = evalLogProbs(m, ids);
    const b = evalLogProbs({ ...m, config: { ...cfg, attnType: "vq-quadratic" } }, ids);
    assert.ok(maxAbs(a, b) < 1e-4, headType);
    const f = evalLogProbs({ ...m, config: { ...cfg, attnType: "full" } }, ids);
    assert.deepEqual(f.shape, [1, 32, 259]);
    tf.dispose([a, b, f]);
    disposeModel(m);
  }
  ids.dispose();
});

test("state carried across calls: two calls of 16 tokens = one call of 32 (every VQ form, cache on/off)", async () => {
  await initBackend(testBackend());
  const ids = tokens(2, 32, 3);
  for (const attnType of ["vq-parallel", "vq-recurrent", "vq-quadratic"] as const) {
    for (const aggCache of [true, false]) {
      const m = createModel(tinyModel({ attnType, aggCache }), 7);
      const whole = evalLogProbs(m, ids);
      const halves = tf.tidy(() => {
        const st0 = initState(m, 2);
        const a = forward(m, tf.slice(ids, [0, 0], [-1, 16]), st0, { training: false });
        assert.equal(a.state.pos, 16);
        // round trip through stateTensors, as a checkpoint would
        const st1: RecurrentState = stateFromTensors(a.state.pos, stateTensors(a.state));
        const b = forward(m, tf.slice(ids, [0, 16], [-1, 16]), st1, { training: false });
        return tf.concat([a.logProbs, b.logProbs], 1);
      });
      assert.ok(maxAbs(halves, whole) < 1e-4, `${attnType} cache ${aggCache}: ${maxAbs(halves, whole)}`);
      tf.dispose([whole, halves]);
      disposeModel(m);
    }
  }
  ids.dispose();
});

test("causality: changing token j changes no output before j and some output at or after j", async () => {
  await initBackend(testBackend());
  for (const attnType of ["vq-parallel", "vq-recurrent", "vq-quadratic", "full"] as const) {
    const m = createModel(tinyModel({ attnType }), 8);
    const ids = tokens(1, 32, 4);
    const base = evalLogProbs(m, ids);
    for (const j of [0, 9, 20, 31]) {
      const data = Array.from(ids.dataSync());
      data[j] = (data[j] + 17) % 259;
      const pert = tf.tensor2d(data, [1, 32], "int32");
      const lp = evalLogProbs(m, pert);
      const diffs = tf.tidy(() => tf.max(tf.abs(tf.sub(lp, base)), -1).dataSync());
      for (let t = 0; t < j; t++) assert.ok(diffs[t] === 0, `${attnType}: output ${t} moved when token ${j} changed`);
      assert.ok(Math.max(...Array.from(diffs).slice(j)) > 1e-4, `${attnType}: token ${j} had no effect`);
      tf.dispose([pert, lp]);
    }
    tf.dispose([ids, base]);
    disposeModel(m);
  }
});

test("updateCodebooks applies the EMA with the statistics summed over the calls of an update", async () => {
  await initBackend(testBackend());
  const cfg = tinyModel({ cGamma: 0.9 });
  const m = createModel(cfg, 9);
  const ids = tokens(2, 32, 5);
  const before = m.codebooks.map((c) => [c.cSum.arraySync(), c.cCount.arraySync()]);
  const stats: CodeStats[][] = [];
  let st = initState(m, 2);
  for (let i = 0; i < 2; i++) {
    const out = forward(m, tf.slice(ids, [0, 16 * i], [-1, 16]), st, { training: true, seed: i }, tf.ones([2, 16]) as tf.Tensor2D);
    stats.push(out.vqStats);
    disposeState(st);
    st = out.state;
    tf.dispose([out.logProbs, out.commitLoss]);
  }
  const counts = stats.map((s) => Array.from(s[0].codeCounts.dataSync()));
  assert.equal(counts[0].reduce((a, b) => a + b, 0), 32, "every unmasked token is counted once per sublayer");
  updateCodebooks(m, stats);
  const after = m.codebooks[0].cCount.dataSync();
  const c0 = (before[0][1] as number[][])[0];
  after.forEach((v, s) => assert.ok(Math.abs(v - (0.9 * c0[s] + 0.1 * (counts[0][s] + counts[1][s]))) < 1e-5, `c_count[${s}]`));
  stats.flat().forEach((s) => tf.dispose([s.codeSums, s.codeCounts]));
  disposeState(st);
  ids.dispose();
  disposeModel(m);
});

test("dropout is deterministic given the seed, different across seeds, and off in eval", async () => {
  await initBackend(testBackend());
  const m = createModel(getPreset("tiny").model, 10);
  const ids = tokens(2, 32, 6);
  const run = (training: boolean, seed: number) => tf.tidy(() => forward(m, ids, initState(m, 2), { training, seed }).logProbs);
  const a = run(true, 1), b = run(true, 1), c = run(true, 2), e1 = run(false, 1), e2 = run(false, 2);
  assert.equal(maxAbs(a, b), 0);
  assert.ok(maxAbs(a, c) > 1e-3);
  assert.equal(maxAbs(e1, e2), 0);
  tf.dispose([a, b, c, e1, e2, ids]);
  disposeModel(m);
});

test("errors name the value and the fix", async () => {
  await initBackend(testBackend());
  const m = createModel(tinyModel(), 11);
  const st = initState(m, 1);
  assert.throws(() => forward(m, tf.tensor2d([[3, 259, 4, 5, 6, 7, 8, 9]], [1, 8], "int32"), st, { training: false }),
    /token id 259 at flat position 1 is outside the vocabulary \[0, 259\)/);
  assert.throws(() => forward(m, tf.tensor2d([[3, -1, 4, 5, 6, 7, 8, 9]], [1, 8], "int32"), st, { training: false }), /token id -1/);
  assert.throws(() => forward(m, tf.tensor2d([[3, 4, 5]], [1, 3], "int32"), st, { training: false }), /not a multiple of the block length L = 8/);
  assert.throws(() => forward(m, tf.tensor2d([[3, 4, 5, 6, 7, 8, 9, 10]], [1, 8]), st, { training: false }), /must be an int32 tensor/);
  assert.throws(() => forward(m, tokens(2, 8, 1), st, { training: false }), /use initState\(model, 2\)/);
  const q: Model = { ...m, config: { ...m.config, attnType: "full" } };
  assert.throws(() => forward(q, tokens(1, 8, 1), { pos: 8, layers: [] }, { training: false }), /carries no state between calls, but state.pos = 8/);
  assert.throws(() => createModel({ ...m.config, nCode: 0 }, 1), /model\.nCode = 0/);
  disposeState(st);
  disposeModel(m);
});

test("tf.memory().numTensors is the same after 20 training steps as after 1", async () => {
  await initBackend(testBackend());
  const cfg = getPreset("tiny").model;
  const m = createModel(cfg, 12);
  const opt = tf.train.sgd(0.01);
  const ids = tokens(2, 32, 7);
  const counts: number[] = [];
  let st = initState(m, 2);
  for (let step = 0; step < 20; step++) {
    let stats: CodeStats[] = [];
    let next: RecurrentState | undefined;
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = forward(m, ids, st, { training: true, seed: step });
        stats = out.vqStats.map((s) => ({ codeSums: tf.keep(s.codeSums), codeCounts: tf.keep(s.codeCounts) }));
        next = { pos: out.state.pos, layers: out.state.layers };
        stateTensors(out.state).forEach((t) => tf.keep(t));
        const nll = tf.neg(tf.mean(tf.sum(tf.mul(out.logProbs, tf.oneHot(ids, cfg.vocabSize)), -1)));
        return tf.add(nll, tf.mul(out.commitLoss, cfg.cBeta)) as tf.Scalar;
      }, [...m.params.values()]);
      opt.applyGradients(grads);
      value.dispose();
    });
    updateCodebooks(m, [stats]);
    stats.forEach((s) => tf.dispose([s.codeSums, s.codeCounts]));
    disposeState(st);
    if (step % 4 === 3) {
      disposeState(next!); // a new sequence starts
      st = initState(m, 2);
    } else st = { ...next!, pos: 0 };
    counts.push(tf.memory().numTensors);
  }
  assert.equal(counts[19], counts[0], `tensor counts ${counts.join(" ")}`);
  disposeState(st);
  ids.dispose();
  disposeModel(m);
});
